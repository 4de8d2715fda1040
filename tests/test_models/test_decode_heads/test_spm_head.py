"""Tests of SPMHead, the reconstruction of SPSSNet's stage-pooling fusion."""
from pathlib import Path

import pytest
import torch
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

import mmseg_affnet  # noqa: F401  (registers SPMHead)
from mmseg_affnet.analysis import count_macs, inference_params
from mmseg_affnet.apis import check_head_channels
from mmseg_affnet.models.decode_heads.spm_head import (ChainedResidualPooling,
                                                       StagePoolingModule)
from tests.utils.models import AFFNET_CONFIG, build_model, num_params
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


def test_stage_pooling_module_raises_upsamples_then_pools():
    """Point-wise conv at the deep resolution, CRP at the shallow one."""
    torch.manual_seed(0)
    spm = StagePoolingModule(4, 10, 2, 5, 1, BN, dict(type='ReLU'),
                             False).eval()
    assert spm.conv_pw.conv.kernel_size == (1, 1)
    assert spm.crp.blocks[0][1].conv.kernel_size == (1, 1)
    x = torch.randn(2, 4, 5, 7)
    out = spm(x, torch.Size((13, 19)))
    assert out.shape == (2, 10, 13, 19)
    raised = torch.nn.functional.interpolate(
        spm.conv_pw(x), size=(13, 19), mode='bilinear', align_corners=False)
    torch.testing.assert_close(out, spm.crp(raised))
    pooled_then_upsampled = torch.nn.functional.interpolate(
        spm.crp(spm.conv_pw(x)), size=(13, 19), mode='bilinear',
        align_corners=False)
    assert not torch.allclose(out, pooled_then_upsampled)


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
    return build_model(SPSSNET_CONFIG)


def test_spssnet_builds_from_config_with_four_spms_on_affnet():
    model = build_spssnet()
    check_head_channels(model)
    assert type(model.backbone).__name__ == 'AFFNet'
    assert len(model.decode_head.spms) == 4
    assert model.backbone.tap_modules == (3, 5, 9)
    # The shallow branch: the initial unit's output, 1/2, 16 channels.
    assert model.backbone.downsample_taps == (1, )
    assert model.backbone.out_channels == [16, 64, 96, 128, 128]
    assert all(spm.crp.blocks[0][1].conv.kernel_size == (1, 1)
               for spm in model.decode_head.spms)
    assert num_params(model) == 1_384_874


def test_spssnet_has_the_papers_profile():
    """Table III: fewer parameters than AFFNet, about 5x its multiply-adds
    (4.81x at 512x1024; the ratio does not depend on the input size)."""
    affnet, spssnet = build_model(AFFNET_CONFIG).eval(), build_spssnet().eval()
    assert inference_params(spssnet) < inference_params(affnet)
    ratio = count_macs(spssnet, (128, 256)) / count_macs(affnet, (128, 256))
    assert 3.5 <= ratio <= 6.5, ratio
    assert round(ratio, 2) == 4.80


def test_spssnet_forward_backward_at_odd_size():
    model = build_spssnet().train()
    inputs = torch.randn(2, 3, 97, 131)
    logits = model(inputs, mode='tensor')
    assert logits.shape == (2, 19, 49, 66)  # the 1/2 shallow branch
    logits.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all()
               for p in model.parameters())
