"""Tests of the AFFNet backbone, the AFFM and FPN+PAN heads and every config.

Layers: tiny-channel unit tests of each block (shapes and gates computed by
hand), the backbone's construction checks, the heads on AFFNet and on other
mmseg backbones, and one parametrized test that builds every config under
``configs/`` (except ``_base_``) and runs its ``loss``, ``predict`` and
``tensor`` modes on CPU.
"""
import copy
import functools
import math
import re
from pathlib import Path
from typing import List, Sequence, Tuple

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine import Config
from mmengine.analysis import get_model_complexity_info
from mmengine.model import revert_sync_batchnorm
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

import mmseg_affnet  # noqa: F401  (registers AFFNet, AFFMHead, FPNPANHead)
from _configs import skip_if_backbone_unavailable
from mmseg_affnet.apis import check_head_channels
from mmseg_affnet.models.backbones import AFFNet
from mmseg_affnet.models.utils import (CBAM, AddFusion, ChannelAttention,
                                       ConcatFusion, PoolingBranch,
                                       SpatialAttention)

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO_ROOT / 'configs'
AFFNET_CONFIG = CONFIG_DIR / 'affnet_cityscapes.py'
FPN_PAN_CONFIG = CONFIG_DIR / 'ablations' / 'affnet_fpn-pan_cityscapes.py'
ALL_CONFIGS = sorted(
    path for path in CONFIG_DIR.rglob('*.py')
    if '_base_' not in path.relative_to(CONFIG_DIR).parts)
PAPER_PARAMS = 1.62e6
IGNORE_INDEX = 255
BN = dict(type='BN')
RELU = dict(type='ReLU')

register_all_modules()


# --------------------------------------------------------------- helpers ---
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


# -------------------------------------------------------- every config ---
def test_configs_are_found():
    assert AFFNET_CONFIG in ALL_CONFIGS
    assert any('ablations' in path.parts for path in ALL_CONFIGS)


@pytest.mark.parametrize(
    'config_path',
    ALL_CONFIGS,
    ids=[str(p.relative_to(CONFIG_DIR)) for p in ALL_CONFIGS])
def test_config_runs_loss_predict_and_tensor_modes(config_path):
    model = build_model(config_path)
    num_classes = model.decode_head.num_classes
    inputs, samples = make_batch(2, 64, 64, num_classes)

    losses = train_step(model, inputs, samples)
    assert any(key.startswith('decode.loss_') for key in losses)
    assert params_without_grad(model) == []

    model.eval()
    with torch.no_grad():
        results = model(inputs, samples, mode='predict')
        logits = model(inputs, mode='tensor')
    assert len(results) == 2
    for result in results:
        assert result.pred_sem_seg.data.shape == (1, 64, 64)
        assert result.seg_logits.data.shape == (num_classes, 64, 64)
        assert 0 <= result.pred_sem_seg.data.min()
        assert result.pred_sem_seg.data.max() < num_classes
    assert logits.shape[:2] == (2, num_classes)
    assert torch.isfinite(logits).all()


# ------------------------------------------------------ full AFFNet model ---
@pytest.mark.parametrize('batch_size,height,width', [
    (1, 97, 131),
    (2, 97, 131),
    (1, 64, 64),
    (2, 64, 64),
    (2, 128, 256),
])
def test_affnet_forward_backward_shapes(batch_size, height, width):
    model = build_model(AFFNET_CONFIG)
    num_classes = model.decode_head.num_classes
    inputs, samples = make_batch(batch_size, height, width, num_classes)

    losses = train_step(model, inputs, samples)
    assert {'decode.loss_owfl', 'decode.loss_ce'} <= set(losses)
    assert params_without_grad(model) == []

    model.eval()
    with torch.no_grad():
        logits = model(inputs, mode='tensor')
        results = model(inputs, samples, mode='predict')
    assert logits.shape == (batch_size, num_classes, ceil_div(height, 8),
                            ceil_div(width, 8))
    assert [r.pred_sem_seg.data.shape for r in results] == \
        [(1, height, width)] * batch_size


def test_affnet_parameter_count_matches_paper():
    model = build_model(AFFNET_CONFIG)
    total = num_params(model)
    assert total == 1_651_692
    assert abs(total - PAPER_PARAMS) / PAPER_PARAMS <= 0.03, total


def test_classifier_kernel_size_3_is_the_captions_reading():
    """Fig. 1's 3x3 classifier conv puts the total 3.2 % above 1.62 M."""
    model = build_model(AFFNET_CONFIG, classifier_kernel_size=3)
    assert tuple(model.decode_head.conv_seg.weight.shape) == (19, 128, 3, 3)
    total = num_params(model)
    assert total == 1_671_148
    assert abs(total - PAPER_PARAMS) / PAPER_PARAMS > 0.03
    model.eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 97, 131), mode='tensor')
    assert logits.shape == (1, 19, 13, 17)


@pytest.mark.parametrize('head_type', ['AFFMHead', 'FPNPANHead', 'SPMHead'])
@pytest.mark.parametrize('kernel_size', [0, 2, -1])
def test_classifier_kernel_size_must_be_odd(head_type, kernel_size):
    with pytest.raises(ValueError, match='classifier_kernel_size'):
        MODELS.build(
            tiny_head_cfg(
                head_type, [4, 6], classifier_kernel_size=kernel_size))


def test_affnet_init_weights_runs_and_changes_weights():
    # The fine-only config trains from scratch (stage 2 starts from stage 1).
    model = build_model(CONFIG_DIR / 'affnet_fine-only_cityscapes.py')
    before = model.backbone.downsample[0].conv.weight.clone()
    model.init_weights()
    after = model.backbone.downsample[0].conv.weight
    assert not torch.equal(before, after)
    assert torch.isfinite(after).all()


# ---------------------------------------------------------------- backbone --
def affnet_output_channels(backbone: AFFNet, size: int = 64) -> List[int]:
    backbone.eval()
    with torch.no_grad():
        outputs = backbone(torch.randn(1, 3, size, size))
    return [out.shape[1] for out in outputs]


@pytest.mark.parametrize('out_indices',
                         [(0, 1, 2, 3), (3, ), (1, 3), (2, 0), (0, )])
def test_backbone_out_indices_select_outputs(out_indices):
    full = AFFNet(tap_modules=(3, 5))
    selected = AFFNet(tap_modules=(3, 5), out_indices=out_indices)
    selected.load_state_dict(full.state_dict())
    full.eval()
    selected.eval()
    image = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        all_outputs = full(image)
        outputs = selected(image)
    assert len(outputs) == len(out_indices)
    for index, output in zip(out_indices, outputs):
        assert torch.equal(output, all_outputs[index])
    assert selected.out_channels == [out.shape[1] for out in outputs]


@pytest.mark.parametrize('tap_modules', [(3, 5), (2, 7), (1, 9), (4, 6),
                                         (3, ), (3, 5, 9)])
def test_backbone_out_channels_match_outputs(tap_modules):
    backbone = AFFNet(
        tap_modules=tap_modules, out_indices=range(len(tap_modules) + 2))
    assert backbone.out_channels == affnet_output_channels(backbone)


def test_backbone_feature_strides():
    backbone = AFFNet().eval()
    height, width = 97, 131
    with torch.no_grad():
        outputs = backbone(torch.randn(1, 3, height, width))
    sizes = [tuple(out.shape[2:]) for out in outputs]
    assert sizes == [(ceil_div(height, s), ceil_div(width, s))
                     for s in (8, 16, 32, 32)]


@pytest.mark.parametrize('out_indices', [(4, ), (-1, ), (0, 1, 2, 3, 4), ()])
def test_backbone_rejects_bad_out_indices(out_indices):
    with pytest.raises(ValueError, match=r'out_indices .* 0\.\.3'):
        AFFNet(out_indices=out_indices)


def test_backbone_with_more_taps_returns_more_features():
    """Taps (3, 5, 9): shallow, three taps and pyramid pooling (SPSSNet)."""
    backbone = AFFNet(tap_modules=(3, 5, 9), out_indices=(0, 1, 2, 3, 4))
    backbone.eval()
    with torch.no_grad():
        outputs = backbone(torch.randn(1, 3, 97, 131))
    assert [tuple(out.shape[1:]) for out in outputs] == [
        (64, 13, 17), (64, 7, 9), (96, 4, 5), (128, 4, 5), (128, 4, 5)
    ]
    assert num_params(backbone) == num_params(AFFNet())
    with pytest.raises(ValueError, match=r'out_indices .* 0\.\.4'):
        AFFNet(tap_modules=(3, 5, 9), out_indices=(5, ))


@pytest.mark.parametrize('tap_modules', [(), (0, 5), (3, 10), (3, 3),
                                         (5, 3)])
def test_backbone_rejects_bad_tap_modules(tap_modules):
    """Taps must be distinct modules in depth order, inside the branch."""
    with pytest.raises(ValueError, match='tap_modules'):
        AFFNet(tap_modules=tap_modules)


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


# --------------------------------------------------------------- the heads --
FUSIONS = [(a, p) for a in ('concat', 'add') for p in ('concat', 'add')]


@pytest.mark.parametrize('attention_fusion,pooling_fusion', FUSIONS)
def test_affm_head_fusion_options(attention_fusion, pooling_fusion):
    head = MODELS.build(
        tiny_head_cfg(
            'AFFMHead', [4, 6, 8],
            attention_fusion=attention_fusion,
            pooling_fusion=pooling_fusion,
            reduction_ratio=2))
    inputs = pyramid([4, 6, 8], [8, 4, 3])
    logits = head(inputs)
    assert logits.shape == (2, 3, 8, 8)
    logits.square().mean().backward()
    assert params_without_grad(head) == []
    assert all(x.grad is not None for x in inputs)


def test_affm_head_uses_in_index_selection():
    head = MODELS.build(
        tiny_head_cfg('AFFMHead', [6, 8], in_index=[1, 3], reduction_ratio=2))
    inputs = pyramid([4, 6, 7, 8], [16, 8, 4, 2])
    assert head(inputs).shape == (2, 3, 8, 8)


@pytest.mark.parametrize('fusion_arg', ['attention_fusion', 'pooling_fusion'])
def test_affm_head_rejects_unknown_fusion(fusion_arg):
    with pytest.raises(ValueError, match='mul'):
        MODELS.build(
            tiny_head_cfg('AFFMHead', [4, 6], **{fusion_arg: 'mul'}))


HEAD_TYPES = ['AFFMHead', 'FPNPANHead', 'SPMHead']


@pytest.mark.parametrize('head_type', HEAD_TYPES)
@pytest.mark.parametrize('in_channels,in_index', [([4, 6, 8], [0, 1]),
                                                  ([4, 6], [0, 1, 2])])
def test_head_rejects_in_channels_and_in_index_of_other_lengths(
        head_type, in_channels, in_index):
    with pytest.raises(
            ValueError,
            match=rf'{head_type}: in_channels {re.escape(str(in_channels))} '
            rf'has {len(in_channels)} entries but in_index '
            rf'{re.escape(str(in_index))} has {len(in_index)}'):
        MODELS.build(tiny_head_cfg(head_type, in_channels, in_index=in_index))


@pytest.mark.parametrize('head_type', HEAD_TYPES)
def test_head_rejects_a_single_in_channels(head_type):
    cfg = tiny_head_cfg(head_type, [4])
    cfg['in_channels'] = 4
    with pytest.raises(TypeError, match='in_channels must be a list'):
        MODELS.build(cfg)


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


# ------------------------------------------- heads on other mmseg backbones --
OTHER_BACKBONES = {
    'MobileNetV2': (dict(
        type='MobileNetV2',
        widen_factor=1.,
        strides=(1, 2, 2, 2, 1, 2, 1),
        dilations=(1, 1, 1, 1, 1, 1, 1),
        out_indices=(1, 2, 4, 6),
        norm_cfg=BN), [24, 32, 96, 320], 4),
    'ResNetV1c-18': (dict(
        type='ResNetV1c', depth=18, out_indices=(0, 1, 2, 3),
        norm_cfg=BN), [64, 128, 256, 512], 4),
}


def segmentor_cfg(backbone: dict, in_channels: List[int],
                  head_type: str) -> dict:
    return dict(
        type='EncoderDecoder',
        backbone=backbone,
        decode_head=tiny_head_cfg(head_type, in_channels, channels=16),
        train_cfg=dict(),
        test_cfg=dict(mode='whole'))


@pytest.mark.parametrize('head_type', HEAD_TYPES)
@pytest.mark.parametrize('backbone_name', list(OTHER_BACKBONES))
def test_head_on_other_mmseg_backbone(backbone_name, head_type):
    backbone, in_channels, first_stride = OTHER_BACKBONES[backbone_name]
    model = MODELS.build(segmentor_cfg(backbone, in_channels, head_type))
    inputs, samples = make_batch(2, 64, 64, num_classes=3)

    with torch.no_grad():
        features = model.extract_feat(inputs)
    assert [f.shape[1] for f in features] == in_channels

    train_step(model, inputs, samples)
    assert params_without_grad(model) == []
    model.eval()
    with torch.no_grad():
        logits = model(inputs, mode='tensor')
    assert logits.shape == (2, 3, 64 // first_stride, 64 // first_stride)


def test_head_on_other_backbone_with_affnet_widths_names_channels():
    backbone, _, _ = OTHER_BACKBONES['ResNetV1c-18']
    model = MODELS.build(
        segmentor_cfg(backbone, [64, 64, 96, 128], 'AFFMHead')).eval()
    with pytest.raises(ValueError, match='in_index 1 gives 128') as error:
        check_head_channels(model)
    assert_names_widths(str(error.value), received=128, declared=64)
