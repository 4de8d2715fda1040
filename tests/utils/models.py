"""Models, batches and configs shared by the model, deploy and quantization
tests."""
import copy
import functools
import math
import re
from pathlib import Path
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch.nn.modules.batchnorm import _BatchNorm

import mmseg_affnet  # noqa: F401  (registers AFFNet, AFFMHead, FPNPANHead)
from tests.utils.configs import skip_if_backbone_unavailable
from tests.utils.tools import CONFIGS_DIR


def randomize_batch_norms(model: nn.Module) -> nn.Module:
    """Give every BN non-trivial statistics and affine parameters."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            shape = module.running_mean.shape
            module.running_mean.copy_(torch.rand(shape, generator=generator))
            module.running_var.copy_(
                0.5 + torch.rand(shape, generator=generator))
            module.weight.data.copy_(
                0.5 + torch.rand(shape, generator=generator))
            module.bias.data.copy_(torch.rand(shape, generator=generator))
    return model


CONFIG_DIR = Path(CONFIGS_DIR)
AFFNET_CONFIG = CONFIG_DIR / 'affnet_cityscapes.py'
FPN_PAN_CONFIG = CONFIG_DIR / 'ablations' / 'affnet_fpn-pan_cityscapes.py'
ALL_CONFIGS = sorted(
    path for path in CONFIG_DIR.rglob('*.py')
    if '_base_' not in path.relative_to(CONFIG_DIR).parts)
PAPER_PARAMS = 1.62e6
IGNORE_INDEX = 255
BN = dict(type='BN')
RELU = dict(type='ReLU')
#: Every fusion head of the package.
HEAD_TYPES = ['AFFMHead', 'FPNPANHead', 'SPMHead']


@functools.lru_cache(maxsize=None)
def load_config(path: Path) -> Config:
    """Parse a config once (resolving its ``mmseg::`` bases is slow)."""
    cfg = Config.fromfile(str(path), import_custom_modules=False)
    skip_if_backbone_unavailable(cfg)
    return cfg


def build_model(path: Path, **head_options) -> nn.Module:
    """Build a config's model on CPU, SyncBN replaced by BN."""
    model_cfg = copy.deepcopy(load_config(path).model)
    model_cfg.decode_head.update(head_options)
    return revert_sync_batchnorm(MODELS.build(model_cfg))


def num_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def make_batch(batch_size: int, height: int, width: int, num_classes: int,
               seed: int = 0) -> Tuple[torch.Tensor, List[SegDataSample]]:
    """Random normalised images and labels; the first label row is ignored."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(batch_size, 3, height, width, generator=generator)
    samples = []
    for _ in range(batch_size):
        labels = torch.randint(
            0, num_classes, (1, height, width), generator=generator)
        labels[:, 0] = IGNORE_INDEX
        shape = (height, width)
        sample = SegDataSample(
            metainfo=dict(img_shape=shape, ori_shape=shape, pad_shape=shape))
        sample.gt_sem_seg = PixelData(data=labels)
        samples.append(sample)
    return inputs, samples


def params_without_grad(module: nn.Module) -> List[str]:
    """Trainable parameters whose gradient is missing or not finite."""
    return [
        name for name, param in module.named_parameters()
        if param.requires_grad and (
            param.grad is None or not torch.isfinite(param.grad).all())
    ]


def train_step(model: nn.Module, inputs: torch.Tensor,
               samples: List[SegDataSample]) -> dict:
    """Run ``loss`` mode and back-propagate the summed loss."""
    model.train()
    losses = model(inputs, samples, mode='loss')
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total)
    total.backward()
    return losses


def ceil_div(size: int, stride: int) -> int:
    return math.ceil(size / stride)


def tiny_head_cfg(head_type: str, in_channels: Sequence[int],
                  **kwargs) -> dict:
    """A head on ``len(in_channels)`` inputs, 3 classes, cross-entropy."""
    cfg = dict(
        type=head_type,
        in_channels=list(in_channels),
        in_index=list(range(len(in_channels))),
        channels=8,
        num_classes=3,
        norm_cfg=BN,
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0))
    cfg.update(kwargs)
    return cfg


def pyramid(channels: Sequence[int], sizes: Sequence[int],
            batch_size: int = 2) -> List[torch.Tensor]:
    """Random square feature maps of the given widths and sizes."""
    return [
        torch.randn(batch_size, c, s, s, requires_grad=True)
        for c, s in zip(channels, sizes)
    ]


def assert_names_widths(message: str, received: int, declared: int) -> None:
    """The error must state both the received and the declared width."""
    numbers = [int(word) for word in re.findall(r'\d+', message)]
    assert received in numbers and declared in numbers, message
