"""A resume that survives a kill at any moment (ckpt_path=last), and resume and load errors that
name the file and the fix."""

import os
import shutil
import time

import pytest
import torch

from smis.hub import load_model
from smis.train import ConfigError
from smis.training.resume import resolve_ckpt_path
from tests.helpers.hydra_configs import SHARED_RUN, SYNTHETIC, run

# --- ckpt_path=last whatever the moment of a kill ------------------------------------------------


def stand_in(path, epoch, t):
    """A small complete checkpoint written at time t (ns)."""
    torch.save({"epoch": epoch, "pytorch-lightning_version": "2.6.6"}, path)
    os.utime(path, ns=(t, t))


def link(path, target, t):
    path.symlink_to(target)
    os.utime(path, ns=(t, t), follow_symlinks=False)


# The save sequence: epoch_001.ckpt written, epoch_000.ckpt deleted, last.ckpt re-pointed (save_last=link,
# older runs) or rewritten (save_last=true); the states a kill can leave, and the epoch to resume.
def link_written(d, t):
    stand_in(d / "epoch_000.ckpt", 0, t[1])
    link(d / "last.ckpt", "epoch_000.ckpt", t[1])
    stand_in(d / "epoch_001.ckpt", 1, t[2])


def link_dangling(d, t):
    stand_in(d / "epoch_001.ckpt", 1, t[2])
    link(d / "last.ckpt", "epoch_000.ckpt", t[1])        # its target is deleted


def link_repointed(d, t):
    stand_in(d / "epoch_001.ckpt", 1, t[2])
    link(d / "last.ckpt", "epoch_001.ckpt", t[3])


def file_written(d, t):
    stand_in(d / "epoch_000.ckpt", 0, t[1])
    stand_in(d / "last.ckpt", 0, t[1])
    stand_in(d / "epoch_001.ckpt", 1, t[2])


def file_old_deleted(d, t):
    stand_in(d / "last.ckpt", 0, t[1])
    stand_in(d / "epoch_001.ckpt", 1, t[2])


def file_last_half_written(d, t):
    file_old_deleted(d, t)
    (d / ".last.ckpt.x1y2z3.tmp").write_bytes(b"PK half a checkpoint")


def file_rewritten(d, t):
    stand_in(d / "epoch_001.ckpt", 1, t[2])
    stand_in(d / "last.ckpt", 1, t[3])


def file_newest_cut_short(d, t):
    stand_in(d / "last.ckpt", 0, t[1])
    (d / "epoch_001.ckpt").write_bytes(b"PK\x03\x04 cut short by a copy")


STATES = {link_written: 1, link_dangling: 1, link_repointed: 1, file_written: 1, file_old_deleted: 1,
          file_last_half_written: 1, file_rewritten: 1, file_newest_cut_short: 0}


@pytest.mark.parametrize("make_state", STATES, ids=[f.__name__ for f in STATES])
def test_last_resumes_the_newest_complete_checkpoint_of_the_newest_run(tmp_path, make_state):
    now = time.time_ns()
    t = [now - (100 - 10 * i) * 10**9 for i in range(4)]         # t[0] < t[1] < t[2] < t[3] < now
    older = tmp_path / "train" / "runs" / "older" / "checkpoints"
    older.mkdir(parents=True)
    stand_in(older / "last.ckpt", 7, now + 10**9)                 # a later file time: not what decides
    os.utime(older, ns=(t[0], t[0]))                              # the run's folder changed before
    newest = tmp_path / "train" / "runs" / "newest" / "checkpoints"
    newest.mkdir(parents=True)
    make_state(newest, t)
    found = resolve_ckpt_path("last", str(tmp_path), "train")
    assert os.path.dirname(found) == str(newest)
    assert torch.load(found, weights_only=True)["epoch"] == STATES[make_state]


def test_last_with_only_broken_checkpoints_in_the_newest_run_is_an_error(tmp_path):
    d = tmp_path / "train" / "runs" / "newest" / "checkpoints"
    d.mkdir(parents=True)
    (d / "last.ckpt").symlink_to("epoch_000.ckpt")
    with pytest.raises(ConfigError, match=r"newest run's checkpoints in .*newest/checkpoints \(last.ckpt\) "
                                          r"are all dangling links or damaged files"):
        resolve_ckpt_path("last", str(tmp_path), "train")
    with pytest.raises(ConfigError, match=r"last.ckpt is a link to epoch_000.ckpt, which no longer exists .*"
                                          "use ckpt_path=last"):
        resolve_ckpt_path(str(d / "last.ckpt"), str(tmp_path), "train")
    with pytest.raises(ConfigError, match="no run with checkpoints"):
        resolve_ckpt_path("last", str(tmp_path / "elsewhere"), "train")


def weights(path):
    return load_model(path).state_dict()


def test_resume_after_a_kill_before_last_was_relinked_matches_an_uninterrupted_run(
        tmp_path, trained_synthetic, short_synthetic):
    older = tmp_path / "logs" / "train" / "runs" / "older" / "checkpoints"   # another run, to be left alone
    older.mkdir(parents=True)
    shutil.copy(short_synthetic["run_dir"] / "checkpoints" / "last.ckpt", older)
    common = [*SYNTHETIC, *SHARED_RUN]
    first = run(tmp_path, *common, "trainer.max_epochs=2", name="first")
    last = first["run_dir"] / "checkpoints" / "last.ckpt"
    assert last.is_file() and not last.is_symlink()         # save_last: true writes a file, atomically
    last.unlink()                                          # the kill: epoch_000 deleted, last not re-pointed
    last.symlink_to("epoch_000.ckpt")
    resumed = run(tmp_path, *common, "ckpt_path=last", name="resumed")
    figures = sorted(p.name for p in (resumed["run_dir"] / "samples").glob("*_samples.png"))
    assert figures == ["epoch_002_samples.png"]                 # it resumed: only the third epoch ran
    a, b = weights(trained_synthetic["model_path"]), weights(resumed["model_path"])
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)




# --- resume and load errors ------------------------------------------------------------------------


def test_resume_from_a_checkpoint_of_other_widths_names_the_settings(tmp_path, trained_synthetic):
    ckpt = trained_synthetic["run_dir"] / "checkpoints" / "last.ckpt"
    with pytest.raises(ConfigError) as err:
        run(tmp_path, *SYNTHETIC, "model.ngf=32", f"ckpt_path={ckpt}")
    message = str(err.value)
    assert f"ckpt_path={ckpt} holds another network than the configured model" in message
    widths = "widths [256, 256, 256, 256, 128, 64, 32, 16] vs [512, 512, 512, 512, 256, 128, 64, 32]"
    assert f"{widths} (model.ngf)" in message and "size mismatch" not in message


def test_resume_from_a_model_file_says_to_use_init_from(tmp_path, short_synthetic):
    model = short_synthetic["model_path"]
    with pytest.raises(ConfigError, match=f"ckpt_path={model} is an smis model file .*use init_from={model}"):
        run(tmp_path, *SYNTHETIC, f"ckpt_path={model}")


def test_a_truncated_checkpoint_is_named(tmp_path, short_synthetic):
    data = (short_synthetic["run_dir"] / "checkpoints" / "last.ckpt").read_bytes()
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ConfigError, match=f"ckpt_path={cut}: cannot be read as a training checkpoint: "
                                          "damaged or cut short"):
        run(tmp_path, *SYNTHETIC, f"ckpt_path={cut}")
    with pytest.raises(ValueError, match=f"{cut}: cannot be read as a torch checkpoint: damaged or cut"):
        load_model(cut)


def test_load_model_of_another_lightning_module_says_so(tmp_path):
    path = tmp_path / "other.ckpt"
    torch.save({"pytorch-lightning_version": "2.6.6", "state_dict": {"backbone.weight": torch.zeros(2)},
                "hyper_parameters": {"model": "resnet18", "lr": 0.1}}, path)
    with pytest.raises(ValueError, match=f"{path}: a Lightning checkpoint of another LightningModule, "
                                         "with no GroupDNet weights"):
        load_model(path)


def test_load_model_of_a_folder_says_it_is_one(tmp_path):
    with pytest.raises(IsADirectoryError, match=f"{tmp_path} is a folder, not a model file") as err:
        load_model(tmp_path)
    assert "load_official" not in str(err.value)
    (tmp_path / "latest_net_G.pth").write_bytes(b"")
    hint = r"holds the authors' files .*pass the dataset they were trained on .*smis-convert"
    with pytest.raises(ValueError, match=hint):
        load_model(tmp_path)
