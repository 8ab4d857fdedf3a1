"""The command lines' bad arguments: one `error:` line, exit 2, no traceback, no run folder."""

import re

import pytest
import torch

from smis.cli import convert
from smis.networks import GroupDNet, preset
from smis.train import ConfigError
from tests.helpers.hydra_configs import SYNTHETIC, run

# --- the command lines' bad arguments: one `error:` line, exit 2, no traceback ------------------------


@pytest.fixture
def quiet_hydra(monkeypatch, tmp_path):
    """Run the train / evaluate command lines in this process (sys.argv), in tmp_path, with Hydra's
    logging set-up off, and the root logger and every logger it disabled restored afterwards."""
    import logging
    import sys

    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    loggers = [lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    disabled = [lg.disabled for lg in loggers]       # Hydra's logging config disables existing loggers

    def command(main, *overrides):
        monkeypatch.setattr(sys, "argv", ["smis", *overrides, f"hydra.run.dir={tmp_path / 'run'}",
                                          "hydra/job_logging=disabled", "hydra/hydra_logging=disabled"])
        with pytest.raises(SystemExit) as e:
            main()
        return e.value.code

    yield command
    root.setLevel(level)
    root.handlers[:] = handlers
    for lg, flag in zip(loggers, disabled):
        lg.disabled = flag


def one_error_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if "error: " in line]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("command, overrides, expected", [
    ("train", ["nosuchkey=3"], r"^error: Could not override 'nosuchkey'; To append to your config use "
                               r"\+nosuchkey=3; Key 'nosuchkey' is not in struct$"),
    ("evaluate", ["nosuchkey=3"], r"^error: Could not override 'nosuchkey'"),
    ("train", ["dataset=cityscape"], r"^error: In 'train': Could not find 'dataset/cityscape' \(available: "
                                     r"ade20k, cityscapes, deepfashion, folder, synthetic"),
    ("train", ["dataset=[a"], r"^error: dataset=\[a: no viable alternative at input '\[a'$"),
])
def test_train_and_evaluate_name_a_bad_option_before_any_run_folder(quiet_hydra, tmp_path, capsys, command,
                                                                     overrides, expected):
    from smis.cli import evaluate as evaluate_cli
    from smis.cli import train as train_cli

    main = {"train": train_cli.main, "evaluate": evaluate_cli.main}[command]
    assert quiet_hydra(main, *overrides) == 2
    assert re.search(expected, one_error_line(capsys.readouterr().err))
    assert list(tmp_path.iterdir()) == []                           # not even a run folder


def test_training_from_nan_weights_names_the_init_from_file_before_any_step(quiet_hydra, tmp_path, capsys):
    from smis.cli import evaluate as evaluate_cli
    from smis.cli import train as train_cli
    from smis.hub import save_model

    net = GroupDNet(preset("small", num_classes=8, ngf=4, encoder_width=16), with_discriminator=False)
    with torch.no_grad():
        net.encoder.fc_mu.weight[0, 0] = float("nan")
    path = save_model(net, tmp_path.parent / f"{tmp_path.name}_nan.pt")
    assert quiet_hydra(train_cli.main, *SYNTHETIC, "trainer=cpu", "logger=csv", "recipe=control",
                       f"init_from={path}") == 2
    err = capsys.readouterr().err
    line = one_error_line(err)
    assert re.fullmatch(rf"error: init_from={re.escape(str(path))}: 1 weight tensors hold NaN or inf values "
                        r"\(encoder.fc_mu.weight\).*", line), line
    assert "lower optim.lr" not in err and f"its run folder is {tmp_path / 'run'}" in err
    assert not (tmp_path / "run" / "checkpoints").exists()
    # the same for the Python API
    with pytest.raises(ConfigError, match=rf"init_from={re.escape(str(path))}: 1 weight tensors hold NaN"):
        run(tmp_path / "api", *SYNTHETIC, "recipe=control", f"init_from={path}")
    # and evaluate's model
    assert quiet_hydra(evaluate_cli.main, f"ckpt={tmp_path / 'missing.pt'}", "dataset=synthetic",
                       "metrics=[separation]") == 2
    line = one_error_line(capsys.readouterr().err)
    missing = re.escape(str(tmp_path / "missing.pt"))
    assert re.fullmatch(rf"error: ckpt={missing}: model file {missing} not found: .*", line), line


@pytest.mark.parametrize("argv, expected", [
    (["status", "nosuchkey=3"], r"nosuchkey=3: train and evaluate have no option 'nosuchkey'$"),
    (["status", "--for", "train", "metrics=[fid]"], r"metrics=\[fid\]: train has no option 'metrics'$"),
    (["status", "dataset=cityscape"], r"train: In 'train': Could not find 'dataset/cityscape' \(available: "
                                      r"ade20k, cityscapes, .*\)$"),
    (["fetch", "vgg19", "--mirror", "notaurl"], r"--mirror 'notaurl': expected an http://, https:// or file://"),
])
def test_smis_weights_bad_arguments_are_one_line(argv, expected, capsys):
    from smis.cli.weights import main

    assert main(argv) == 2
    assert re.search(expected, one_error_line(capsys.readouterr().err))


def test_smis_weights_takes_options_after_the_overrides_and_names_an_unwritable_cache(tmp_path, monkeypatch,
                                                                                       capsys):
    from smis.cli.weights import main

    assert main(["status", "dataset=cityscapes", "--for", "evaluate"]) == 0
    assert "drn-d-105-cityscapes" in capsys.readouterr().out
    (tmp_path / "a_file").write_text("x")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "a_file" / "torch"))
    (tmp_path / "mirror").mkdir()
    assert main(["fetch", "vgg19", "--mirror", (tmp_path / "mirror").as_uri()]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "\nsmis-weights: error: " in err
    cache = tmp_path / "a_file" / "torch" / "hub" / "checkpoints"
    assert f"cannot make the cache folder {cache} (Not a directory): set TORCH_HOME to a writable" in err


def test_convert_names_a_missing_folder(tmp_path, capsys):
    missing = tmp_path / "no_such_folder"
    assert convert.main([str(missing), "--dataset", "ade20k", "-o", str(tmp_path / "m.pt")]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"error: checkpoint folder not found: {missing} (expected a folder with")
    assert not (tmp_path / "m.pt").exists()
