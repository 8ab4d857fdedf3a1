"""`train(cfg)`: the whole training run that `python -m smis.train` makes: data, network, loggers,
Lightning's Trainer, and the exported model.pt at the end."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ..hub import save_model
from ..networks import GroupDNet
from ..utils import finish_wandb, instantiate_all
from ..weights import ensure
from .callbacks import AtomicCheckpointIO
from .checks import check_config, check_enough_data, check_training_size, model_config
from .module import GroupDNetModule
from .needs import train_needs
from .resume import check_resume_checkpoint, load_initial_weights, resolve_ckpt_path


def export(module: GroupDNetModule, path: Path) -> Path:
    """model.pt in the smis.load_model format (with the EMA generator when there is one)."""
    net = module.net
    if module.generator_ema is not None:          # a fresh copy: spectral norm's tensors can't deepcopy
        ema = GroupDNet(net.config, with_discriminator=net.discriminator is not None, init_gain=None)
        ema.load_state_dict(net.state_dict())
        ema.generator.load_state_dict(module.generator_ema.state_dict())
        net = ema
    net.spec = module.spec
    return save_model(net, path, epochs=module.current_epoch)


def deterministic(trainer: DictConfig) -> bool:
    """trainer.deterministic, with null meaning true on a CPU: some of torch's multi-threaded CPU
    kernels otherwise sum in a different order from one process to the next, and Adam turns that
    round-off into different weights within a few steps (a seeded rerun was not repeatable)."""
    if trainer.get("deterministic") is not None:
        return bool(trainer.deterministic)
    accelerator = str(trainer.get("accelerator", "auto"))
    return accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())


def train(cfg: DictConfig) -> dict:
    """Fit GroupDNet as `cfg` says. -> {"run_dir", "metrics", "model_path"}."""
    check_config(cfg)
    run_dir = Path(cfg.paths.output_dir)
    pl.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.dataset)         # (an unset dataset.root is reported here)
    ensure(train_needs(cfg), mirror=cfg.get("weights_mirror"))   # VGG19: fetched, or one clear error
    datamodule.setup("fit")
    # the model's native size is the size it trains at (stored in its spec, used by the Synthesizer)
    spec = dataclasses.replace(datamodule.spec, native_size=check_training_size(datamodule))
    devices = cfg.trainer.devices if isinstance(cfg.trainer.devices, int) and cfg.trainer.devices > 0 else 1
    check_enough_data(datamodule, devices * cfg.trainer.num_nodes)
    net_config = model_config(cfg, datamodule.num_classes)
    try:
        module: GroupDNetModule = instantiate(cfg.module, model=net_config.to_dict(), dataset=spec.to_dict(),
                                              _convert_="all")     # plain dicts: the checkpoint's hparams
    except InstantiationException as e:   # the module's own error (e.g. a missing VGG19 file), unwrapped
        raise (e.__cause__ or e) from None
    if cfg.init_from:
        load_initial_weights(module, cfg.init_from)
    ckpt_path = resolve_ckpt_path(cfg.ckpt_path, cfg.paths.log_dir, cfg.task_name)
    if ckpt_path:
        check_resume_checkpoint(ckpt_path, module.net.config)

    loggers = instantiate_all(cfg.get("logger"))
    max_epochs = cfg.trainer.max_epochs
    if max_epochs is None:
        max_epochs = cfg.optim.constant_epochs + cfg.optim.decay_epochs
    trainer: pl.Trainer = instantiate(cfg.trainer, logger=loggers or False,
                                      callbacks=instantiate_all(cfg.get("callbacks")),
                                      plugins=[AtomicCheckpointIO()], max_epochs=max_epochs,
                                      deterministic=deterministic(cfg.trainer))
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    finally:
        finish_wandb(loggers)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    model_path = None
    if cfg.export_model and trainer.is_global_zero and not trainer.fast_dev_run:
        model_path = export(module, run_dir / "model.pt")
    return {"run_dir": run_dir, "metrics": metrics, "model_path": model_path}
