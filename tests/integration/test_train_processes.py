"""Training across processes: CPU DDP (gloo), the `-m` multirun with offline W&B, and the
command line's failure report. Slower than test_train.py: each starts Python processes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch

from smis.hub import load_model
from smis.train import train
from tests.helpers.hydra_configs import compose_train

SYNTHETIC = ["dataset=synthetic", "dataset.size=[64,128]", "dataset.num_train=8", "dataset.num_val=2",
             "dataset.batch_size=2", "dataset.num_workers=0", "~callbacks.progress_bar",
             "samples.rows=1", "samples.random=1", "samples.resample=2"]


class RecordRanks(pl.Callback):
    """Each rank writes a checksum of every network's weights and the names it trained on."""

    def __init__(self, folder: str):
        self.folder, self.names = Path(folder), []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.names += list(batch["name"])

    def on_train_end(self, trainer, pl_module):
        sums = {part: float(sum(p.double().sum() for p in getattr(pl_module.net, part).parameters()))
                for part in ("generator", "encoder", "discriminator")}
        out = {"sums": sums, "names": self.names, "world": trainer.world_size}
        (self.folder / f"rank{trainer.global_rank}.json").write_text(json.dumps(out))


def test_two_process_cpu_ddp_keeps_replicas_identical(tmp_path):
    cfg = compose_train([*SYNTHETIC, "trainer=ddp_cpu", "logger=csv", "trainer.max_epochs=1",
                         "trainer.limit_val_batches=1", f"+callbacks.record._target_={__name__}.RecordRanks",
                         f"+callbacks.record.folder={tmp_path}"], tmp_path / "run")
    result = train(cfg)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world"] == ranks[1]["world"] == 2
    assert ranks[0]["sums"] == ranks[1]["sums"]                 # G, E and D gradients all synchronised
    assert not set(ranks[0]["names"]) & set(ranks[1]["names"])   # each rank saw its own shard
    assert len(ranks[0]["names"]) + len(ranks[1]["names"]) == 8
    initial = load_model(result["model_path"])                    # rank 0's weights came back
    assert sum(p.double().sum() for p in initial.generator.parameters()) == torch.tensor(
        ranks[0]["sums"]["generator"], dtype=torch.float64)


def smis_train(*args, cwd: Path) -> subprocess.CompletedProcess:
    return smis_trains([args], cwd)[0]


def smis_trains(commands: list, cwd: Path) -> list[subprocess.CompletedProcess]:
    """`python -m smis.train ARGS` for each ARGS, all at once (their start-ups overlap)."""
    env = {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "0"}
    processes = [subprocess.Popen([sys.executable, "-m", "smis.train", *args], cwd=cwd, env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for args in commands]
    results = []
    for p in processes:
        out, err = p.communicate(timeout=600)
        results.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return results


def test_multirun_gives_each_job_its_own_folder_and_wandb_run(tmp_path):
    out = smis_train("-m", *SYNTHETIC, "trainer=cpu", "logger=wandb", "optim.constant_epochs=1",
                     "optim.decay_epochs=0", "trainer.limit_train_batches=2", "optim.lr_g=1e-4,2e-4",
                     cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    jobs = sorted((tmp_path / "logs" / "train" / "multiruns").glob("*/[0-9]"))
    assert [j.name for j in jobs] == ["0", "1"]
    run_ids = set()
    for job in jobs:
        assert (job / "model.pt").is_file() and (job / "checkpoints" / "last.ckpt").exists()
        (wandb_run,) = (job / "wandb").glob("offline-run-*")
        run_ids.add(wandb_run.name.split("-")[-1])
        images = list((wandb_run / "files" / "media" / "images").rglob("*.png"))
        assert any("samples" in p.name for p in images) and any("resample" in p.name for p in images)
        assert (wandb_run / f"run-{wandb_run.name.split('-')[-1]}.wandb").is_file()
    assert len(run_ids) == 2
    assert "lr_g: 0.0002" in (jobs[1] / ".hydra" / "config.yaml").read_text()


def test_command_line_errors_are_clear_and_name_the_run_folder(tmp_path):
    missing_root, unknown = smis_trains([["dataset=cityscapes"], ["dataset=cityscape"]], tmp_path)
    assert missing_root.returncode != 0
    assert "dataset.root" in missing_root.stderr
    assert "training failed; its run folder is" in missing_root.stderr
    assert unknown.returncode != 0
    assert "Could not find 'dataset/cityscape'" in unknown.stderr and "cityscapes" in unknown.stderr


def test_two_seeded_cpu_runs_in_separate_processes_give_identical_weights(tmp_path):
    """trainer.deterministic=null is true on a CPU: without it some multi-threaded CPU kernels sum
    in a different order in each process: one step of batch 8 left 64 tensors different."""
    runs = []
    for name in ("a", "b"):
        command = [sys.executable, "-m", "smis.train", "experiment=demo", *SYNTHETIC, "dataset.batch_size=8",
                   "optim.constant_epochs=1", "optim.decay_epochs=0", "logger=none",
                   "trainer.limit_val_batches=0", "trainer.num_sanity_val_steps=0",
                   f"hydra.run.dir={tmp_path / name}", f"paths.log_dir={tmp_path / 'logs'}"]
        runs.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for run in runs:
        out, _ = run.communicate(timeout=300)
        assert run.returncode == 0, out[-2000:]
    a, b = (torch.load(tmp_path / n / "model.pt", weights_only=True)["state_dict"] for n in "ab")
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{len(differ)} tensors differ, e.g. {differ[:3]}"
