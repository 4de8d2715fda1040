"""Tests of SPMHead, the reconstruction of SPSSNet's stage-pooling fusion."""
import copy
from pathlib import Path

import pytest
import torch
from mmengine import Config
from mmengine.model import revert_sync_batchnorm
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

import mmseg_affnet  # noqa: F401  (registers SPMHead)
from mmseg_affnet.apis import check_head_channels
from mmseg_affnet.models.decode_heads.spm_head import (ChainedResidualPooling,
                                                       StagePoolingModule)
from tests.utils.tools import CONFIGS_DIR

SPSSNET_CONFIG = (Path(CONFIGS_DIR) /
                  'comparisons' / 'spssnet_cityscapes.py')
BN = dict(type='BN')

register_all_modules()


def spm_head(in_channels, **kwargs):
    cfg = dict(
        type='SPMHead',
        in_channels=list(in_channels),
        in_index=list(range(len(in_channels))),
        channels=8,
        num_classes=3,
        norm_cfg=BN,
        loss_decode=dict(type='CrossEntropyLoss'))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def test_chained_residual_pooling_sums_input_and_chain():
    torch.manual_seed(0)
    crp = ChainedResidualPooling(4, 2, 5, 3, BN).eval()
    x = torch.randn(2, 4, 7, 9)
    first = crp.blocks[0](x)
    second = crp.blocks[1](first)
    pooled = torch.nn.functional.max_pool2d(x, 5, stride=1, padding=2)
    torch.testing.assert_close(first, crp.blocks[0][1](pooled))
    torch.testing.assert_close(crp(x), x + first + second)


def test_stage_pooling_module_raises_channels_and_keeps_size():
    spm = StagePoolingModule(4, 10, 2, 5, 3, BN, dict(type='ReLU'))
    assert spm[0].conv.kernel_size == (1, 1)
    assert spm(torch.randn(2, 4, 5, 7)).shape == (2, 10, 5, 7)


def test_spm_head_shapes_and_gradients():
    head = spm_head([4, 6, 8, 8, 8])
    inputs = [
        torch.randn(2, c, s, s, requires_grad=True)
        for c, s in zip([4, 6, 8, 8, 8], [13, 7, 4, 4, 4])
    ]
    assert len(head.spms) == 4
    logits = head(inputs)
    assert logits.shape == (2, 3, 13, 13)
    logits.square().mean().backward()
    assert all(p.grad is not None for p in head.parameters())
    assert all(x.grad is not None for x in inputs)


def test_spm_head_needs_a_deep_feature():
    with pytest.raises(ValueError, match='at least one deep feature'):
        spm_head([4])


def build_spssnet():
    cfg = Config.fromfile(str(SPSSNET_CONFIG), import_custom_modules=False)
    return revert_sync_batchnorm(MODELS.build(copy.deepcopy(cfg.model)))


def test_spssnet_builds_from_config_with_four_spms_on_affnet():
    model = build_spssnet()
    check_head_channels(model)
    assert type(model.backbone).__name__ == 'AFFNet'
    assert len(model.decode_head.spms) == 4
    assert model.backbone.tap_modules == (3, 5, 9)
    assert sum(p.numel() for p in model.parameters()) == 2_439_594


def test_spssnet_forward_backward_at_odd_size():
    model = build_spssnet().train()
    inputs = torch.randn(2, 3, 97, 131)
    logits = model(inputs, mode='tensor')
    assert logits.shape == (2, 19, 13, 17)
    logits.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all()
               for p in model.parameters())
