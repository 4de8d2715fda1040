"""FPNPANHead (Table II): shapes, gradients, shared branches, lighter than
AFFM."""
from typing import Tuple

import torch
import torch.nn as nn
from mmengine.analysis import get_model_complexity_info
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

import mmseg_affnet  # noqa: F401  (registers AFFNet, AFFMHead, FPNPANHead)
from mmseg_affnet.models.utils import CBAM, PoolingBranch

from tests.utils.models import (AFFNET_CONFIG, FPN_PAN_CONFIG, build_model,
                                make_batch, params_without_grad, pyramid,
                                tiny_head_cfg, train_step)

register_all_modules()


# ---------------------------------------------------------------- FPN+PAN --
def test_fpn_pan_head_shapes_and_gradients():
    head = MODELS.build(tiny_head_cfg('FPNPANHead', [4, 6, 8, 8]))
    inputs = pyramid([4, 6, 8, 8], [8, 4, 2, 2])
    logits = head(inputs)
    assert logits.shape == (2, 3, 8, 8)
    logits.square().mean().backward()
    assert params_without_grad(head) == []
    assert all(x.grad is not None for x in inputs)


def test_fpn_pan_head_reuses_affm_branches():
    """Per input the same CBAM and pooling branch classes as AFFM."""
    fpn_pan = MODELS.build(tiny_head_cfg('FPNPANHead', [4, 6, 8]))
    affm = MODELS.build(tiny_head_cfg('AFFMHead', [4, 6, 8]))
    for name in ('attention', 'pooling'):
        assert [type(m) for m in getattr(fpn_pan, name)] == \
            [type(m) for m in getattr(affm, name)]
        assert [tuple(p.shape) for p in getattr(fpn_pan, name).parameters()
                ] == [tuple(p.shape) for p in getattr(affm, name).parameters()]
    assert isinstance(fpn_pan.attention[0], CBAM)
    assert isinstance(fpn_pan.pooling[0], PoolingBranch)


def test_fpn_pan_branch_and_path_shapes():
    """Every merge concatenates, then a 1x1 conv to ``channels``."""
    head = MODELS.build(
        tiny_head_cfg('FPNPANHead', [4, 6, 8, 8], reduction_ratio=2)).eval()
    inputs = [x.detach() for x in pyramid([4, 6, 8, 8], [13, 7, 4, 4])]
    with torch.no_grad():
        attended = [cbam(x) for cbam, x in zip(head.attention, inputs)]
        pooled = [branch(x) for branch, x in zip(head.pooling, inputs)]
        fpn = head._top_down(attended, pooled)
        pan = head._bottom_up(fpn)
    sizes = [(13, 13), (7, 7), (4, 4), (4, 4)]
    assert [tuple(a.shape[1:]) for a in attended] == [
        (c, *s) for c, s in zip([4, 6, 8, 8], sizes)
    ]
    for level in (pooled, fpn, pan):
        assert [tuple(x.shape[1:]) for x in level] == [(8, *s) for s in sizes]
    merge_inputs = [m.conv.conv.in_channels for m in head.top_down]
    assert merge_inputs == [4 + 8 + 8, 6 + 8 + 8, 8 + 8 + 8, 8 + 8]
    assert [m.conv.conv.in_channels for m in head.bottom_up] == [16] * 3
    assert head.output_merge.conv.conv.in_channels == 4 * 8
    merges = [*head.top_down, *head.bottom_up, head.output_merge]
    assert all(m.conv.conv.kernel_size == (1, 1) for m in merges)


def test_fpn_pan_model_forward_backward_at_odd_size():
    model = build_model(FPN_PAN_CONFIG)
    inputs, samples = make_batch(2, 97, 131, model.decode_head.num_classes)
    train_step(model, inputs, samples)
    assert params_without_grad(model) == []
    model.eval()
    with torch.no_grad():
        logits = model(inputs, mode='tensor')
    assert logits.shape == (2, 19, 13, 17)


def complexity(model: nn.Module, height: int, width: int) -> Tuple[int, int]:
    """(parameters, multiply-adds) of the tensor forward of one image."""
    info = get_model_complexity_info(
        model.eval(),
        inputs=(torch.randn(1, 3, height, width), ),
        show_table=False,
        show_arch=False)
    return info['params'], info['flops']


def test_fpn_pan_is_lighter_than_affm_at_512x1024():
    """The paper presents FPN+PAN as the simpler, cheaper module."""
    affm_params, affm_macs = complexity(build_model(AFFNET_CONFIG), 512, 1024)
    fpn_params, fpn_macs = complexity(build_model(FPN_PAN_CONFIG), 512, 1024)
    assert fpn_params < affm_params
    assert fpn_macs < affm_macs
    # The numbers the docstring and the README state.
    assert (affm_params, round(affm_macs / 1e9, 2)) == (1_651_692, 5.04)
    assert (fpn_params, round(fpn_macs / 1e9, 2)) == (1_571_564, 2.82)
