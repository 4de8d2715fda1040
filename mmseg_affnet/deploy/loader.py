"""Transitional: the segmentor loader until ``mmseg_affnet.apis`` lands.

Goes away in favour of ``mmseg_affnet.apis.init_segmentor`` and
``mmseg_affnet.apis.load_config``.
"""
import os.path as osp
from pathlib import Path
from typing import Optional, Union

import mmseg
import torch.nn as nn
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmseg.apis import init_model

MMSEG_PREFIX = 'mmseg::'


def resolve_config_path(config: Union[str, Path]) -> str:
    """Map ``mmseg::path/in/mmseg/configs.py`` to its installed file.

    Args:
        config (str | Path): A config file path, or a path inside mmseg's
            shipped configs prefixed with ``mmseg::``.

    Returns:
        str: The path of an existing config file.
    """
    config = str(config)
    if config.startswith(MMSEG_PREFIX):
        config = osp.join(
            osp.dirname(mmseg.__file__), '.mim', 'configs',
            config[len(MMSEG_PREFIX):])
    if not osp.isfile(config):
        raise FileNotFoundError(
            f'Config {config} does not exist; pass a config file path or '
            f'{MMSEG_PREFIX}<dir>/<name>.py for a config shipped with mmseg '
            f'(see {osp.dirname(mmseg.__file__)}/.mim/configs).')
    return config


def load_segmentor(config: Union[str, Path],
                   checkpoint: Optional[str] = None,
                   device: str = 'cpu') -> nn.Module:
    """Build a segmentor for inference with mmseg's ``init_model``.

    Pretrained-backbone downloads named in the config are skipped, SyncBN is
    converted to BN (so that the model runs in one process) and the model is
    put in eval mode.

    Args:
        config (str | Path): Config path, ``mmseg::`` paths allowed.
        checkpoint (str, optional): Checkpoint to load; None keeps the
            initial weights. Default: None.
        device (str): Device of the model. Default: 'cpu'.

    Returns:
        nn.Module: The segmentor in eval mode.
    """
    if checkpoint is not None and '://' not in checkpoint and not osp.isfile(
            checkpoint):
        raise FileNotFoundError(
            f'Checkpoint {checkpoint} does not exist; pass the .pth file '
            f'saved by training (e.g. work_dirs/<config>/best_mIoU_*.pth) or '
            f'leave it out to use randomly initialised weights.')
    cfg = Config.fromfile(resolve_config_path(config))
    model = init_model(cfg, checkpoint, device=device)
    return revert_sync_batchnorm(model).eval()
