"""The shared blocks of the fusion heads (``models/utils``): CBAM gates
computed by hand, the pooling branch and the fusions."""
from typing import List

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.utils import register_all_modules

import mmseg_affnet  # noqa: F401  (registers AFFNet, AFFMHead, FPNPANHead)
from mmseg_affnet.models.utils import (CBAM, AddFusion, ChannelAttention,
                                       ConcatFusion, PoolingBranch,
                                       SpatialAttention)

from tests.utils.models import BN, RELU

register_all_modules()


# ------------------------------------------------------------ AFFM blocks ---
def conv_layers(module: nn.Module) -> List[nn.Conv2d]:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


def test_channel_attention_equals_hand_computed_gate():
    torch.manual_seed(0)
    gate = ChannelAttention(channels=8, reduction_ratio=4)
    x = torch.randn(2, 8, 5, 7)
    first, second = conv_layers(gate)
    assert first.out_channels == 2

    def mlp(v):  # v: (N, C) -> (N, C), shared 1x1-conv MLP with ReLU
        hidden = torch.relu(v @ first.weight.flatten(1).T + first.bias)
        return hidden @ second.weight.flatten(1).T + second.bias

    expected = torch.sigmoid(
        mlp(x.mean(dim=(2, 3))) + mlp(x.flatten(2).max(dim=2).values))
    result = gate(x)
    assert result.shape == (2, 8, 1, 1)
    torch.testing.assert_close(result.flatten(1), expected)


def test_spatial_attention_equals_hand_computed_gate():
    torch.manual_seed(0)
    gate = SpatialAttention()
    x = torch.randn(2, 6, 5, 7)
    (conv, ) = conv_layers(gate)
    assert tuple(conv.weight.shape) == (1, 2, 3, 3)
    pooled = torch.stack([x.mean(dim=1), x.max(dim=1).values], dim=1)
    expected = torch.sigmoid(
        F.conv2d(pooled, conv.weight, conv.bias, padding=1))
    result = gate(x)
    assert result.shape == (2, 1, 5, 7)
    torch.testing.assert_close(result, expected)


def test_cbam_applies_channel_gate_then_spatial_gate():
    torch.manual_seed(0)
    cbam = CBAM(channels=8, reduction_ratio=4, spatial_kernel_size=3)
    x = torch.randn(2, 8, 5, 7)
    channel_gated = x * cbam.channel_gate(x)
    expected = channel_gated * cbam.spatial_gate(channel_gated)
    result = cbam(x)
    assert result.shape == x.shape
    torch.testing.assert_close(result, expected)


@pytest.mark.parametrize('pool_size', [3, 5])
def test_pooling_branch_keeps_size(pool_size):
    branch = PoolingBranch(8, 6, pool_size, BN, RELU)
    assert branch(torch.randn(2, 8, 5, 7)).shape == (2, 6, 5, 7)


def test_concat_fusion_shape():
    fusion = ConcatFusion([4, 6], 5, BN, RELU)
    branches = [torch.randn(2, 4, 3, 3), torch.randn(2, 6, 3, 3)]
    assert fusion(branches).shape == (2, 5, 3, 3)


def test_add_fusion_projects_only_mismatched_widths():
    fusion = AddFusion([4, 5], 5, BN, RELU).eval()
    a, b = torch.randn(2, 4, 3, 3), torch.randn(2, 5, 3, 3)
    assert fusion([a, b]).shape == (2, 5, 3, 3)
    torch.testing.assert_close(fusion([a, b]), fusion.projections[0](a) + b)
    same_width = AddFusion([5, 5], 5, BN, RELU)
    assert list(same_width.parameters()) == []
    torch.testing.assert_close(same_width([b, 2 * b]), 3 * b)
