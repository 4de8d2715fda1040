"""Build a segmentor from a config: the one path for inference, export and
benchmarking."""
from pathlib import Path
from typing import Optional, Union

import torch.nn as nn
from mmengine.config import Config, ConfigDict
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, MODELS

from ..models.utils import check_head_channels
from ..utils.config import load_config, without_pretrained
from ..utils.device import resolve_device
from .checkpoint import load_weights


def init_segmentor(config: Union[str, Path, Config],
                   checkpoint: Optional[str] = None,
                   device: str = 'cpu') -> nn.Module:
    """Build a segmentor for inference, export or benchmarking.

    Pretrained-weight ``init_cfg``s are dropped (no downloads), the weights
    of ``checkpoint`` are loaded weights-only and strictly (every key and
    shape must match: :func:`mmseg_affnet.engine.load_weights`), SyncBN
    becomes BN, the heads are checked against the backbone
    (:func:`check_head_channels`) and the model is put in eval mode.

    Args:
        config (str | Path | Config): See :func:`load_config`.
        checkpoint (str, optional): Checkpoint to load; None keeps the
            initial (random) weights. Default: None.
        device (str): Device of the model, checked by
            :func:`resolve_device`. Default: 'cpu'.

    Returns:
        nn.Module: The segmentor, with ``cfg`` and ``dataset_meta``
        (classes and palette, from the checkpoint or else from the config's
        test dataset) attributes.
    """
    device = resolve_device(device)
    cfg = load_config(config)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model_cfg = without_pretrained(cfg.model.to_dict())
    model_cfg['train_cfg'] = None
    model = MODELS.build(ConfigDict(model_cfg))
    check_head_channels(model)
    model.cfg = cfg
    model.dataset_meta = _config_dataset_meta(cfg)
    if checkpoint is not None:
        meta = load_weights(model, checkpoint).get('meta') or {}
        model.dataset_meta = meta.get('dataset_meta', model.dataset_meta)
    return revert_sync_batchnorm(model).to(device).eval()


def _config_dataset_meta(cfg: Config) -> Optional[dict]:
    dataset_cfg = (cfg.get('test_dataloader') or {}).get('dataset') or {}
    dataset_type = DATASETS.get(dataset_cfg.get('type', ''))
    return dict(dataset_type.METAINFO) if dataset_type else None
