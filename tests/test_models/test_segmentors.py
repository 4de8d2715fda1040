"""Every config under ``configs/`` in loss, predict and tensor modes, the
full AFFNet model, and the heads on other mmseg backbones."""
import hashlib
from typing import List

import pytest
import torch
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

import mmseg_affnet  # noqa: F401  (registers AFFNet, AFFMHead, FPNPANHead)
from mmseg_affnet.apis import check_head_channels

from tests.utils.models import (AFFNET_CONFIG, ALL_CONFIGS, BN, CONFIG_DIR,
                                HEAD_TYPES, PAPER_PARAMS, assert_names_widths,
                                build_model, ceil_div, make_batch, num_params,
                                params_without_grad, tiny_head_cfg, train_step)

register_all_modules()


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


def test_affnet_state_dict_keys_and_shapes_are_unchanged():
    """Checkpoints of AFFNet keep loading: 298 entries, names and shapes as
    released (digest of the sorted ``name shape`` lines)."""
    state = build_model(AFFNET_CONFIG).state_dict()
    lines = '\n'.join(f'{name} {tuple(value.shape)}'
                      for name, value in sorted(state.items()))
    assert len(state) == 298
    assert tuple(state['decode_head.attention_fusion.conv.conv.weight']
                 .shape) == (128, 352, 3, 3)
    assert hashlib.sha256(lines.encode()).hexdigest() == (
        '8e1fe410dd48d0d57c553d2c6210f467e7d02f895398621ef842202e0ffb22fd')


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
