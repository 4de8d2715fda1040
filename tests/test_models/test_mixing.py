"""AFFM on other backbones: the mixing configs, and the check of the heads'
in_index/in_channels against the backbone's features
(:func:`mmseg_affnet.apis.check_head_channels`)."""
import copy
import glob
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmengine.utils import import_modules_from_strings
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from tests.utils.configs import skip_if_backbone_unavailable
from mmseg_affnet.apis import check_head_channels
from mmseg_affnet.models.utils import evaluation_mode
from tests.utils.tools import REPO_ROOT

REPO = REPO_ROOT
MIXING_CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', 'mixing',
                                           '*.py')))
R18_CONFIG = osp.join(REPO, 'configs', 'mixing', 'affm_r18_cityscapes.py')
# ResNet-18 at 1/8 of its width: features of 16, 32 and 64 channels.
SLIM_R18_CHANNELS = [16, 32, 64]
INPUT_SHAPE = (2, 3, 64, 128)


def load_config(path: str) -> Config:
    """Load a config, skipping the test if its backbone's package is absent."""
    cfg = Config.fromfile(path, import_custom_modules=False)
    skip_if_backbone_unavailable(cfg)
    import_modules_from_strings(**cfg.custom_imports)
    init_default_scope('mmseg')
    return cfg


def build(model_cfg: dict) -> nn.Module:
    """Build a segmentor with BN in place of SyncBN, for the CPU."""
    return revert_sync_batchnorm(MODELS.build(copy.deepcopy(model_cfg)))


def build_checked(model_cfg: dict) -> nn.Module:
    """Build a segmentor, then check its heads against its backbone."""
    model = build(model_cfg)
    check_head_channels(model)
    return model


def make_batch(num_classes: int):
    """Random images and labels (with an ignored stripe) of INPUT_SHAPE."""
    generator = torch.Generator().manual_seed(0)
    batch, _, height, width = INPUT_SHAPE
    inputs = torch.randn(INPUT_SHAPE, generator=generator)
    samples = []
    for _ in range(batch):
        labels = torch.randint(
            0, num_classes, (1, height, width), generator=generator)
        labels[..., :4] = 255
        sample = SegDataSample(
            metainfo=dict(
                img_shape=(height, width),
                ori_shape=(height, width),
                pad_shape=(height, width)))
        sample.gt_sem_seg = PixelData(data=labels)
        samples.append(sample)
    return inputs, samples


@pytest.fixture(scope='module')
def r18_model_cfg() -> Config:
    """The r18 mixing model at 1/8 width, for fast builds."""
    model_cfg = load_config(R18_CONFIG).model
    model_cfg.backbone.update(stem_channels=8, base_channels=8)
    model_cfg.decode_head.update(
        in_channels=SLIM_R18_CHANNELS, channels=16)
    return model_cfg


def test_mixing_configs_exist():
    names = [osp.basename(path) for path in MIXING_CONFIGS]
    assert {
        'affm_mobilenetv2_cityscapes.py', 'affm_r18_cityscapes.py',
        'affm_stdc1_cityscapes.py'
    } <= set(names)
    assert any('mmpretrain' in name for name in names)


@pytest.mark.parametrize('path', MIXING_CONFIGS, ids=osp.basename)
def test_mixing_config_trains_and_predicts(path):
    cfg = load_config(path)
    # Must not start from the AFFNet stage-1 weights of the stage-2 base.
    assert cfg.load_from is None and cfg.model.get('init_cfg') is None
    assert cfg.model.type == 'EncoderDecoder'
    assert [loss['loss_weight'] for loss in cfg.model.decode_head.loss_decode
            ] == [1.0, 0.5]
    model = build_checked(cfg.model)
    num_classes = model.decode_head.num_classes
    inputs, samples = make_batch(num_classes)

    losses = model(inputs, samples, mode='loss')
    loss_terms = {k: v for k, v in losses.items() if 'loss' in k}
    assert len(loss_terms) == 2
    assert all(torch.isfinite(v) and v > 0 for v in loss_terms.values())
    sum(loss_terms.values()).backward()
    no_grad = [
        name for name, param in model.named_parameters()
        if param.requires_grad and (param.grad is None
                                    or not torch.isfinite(param.grad).all())
    ]
    assert no_grad == []

    model.eval()
    with torch.no_grad():
        logits = model(inputs, mode='tensor')
        results = model(inputs, samples, mode='predict')
    assert logits.shape == (INPUT_SHAPE[0], num_classes, INPUT_SHAPE[2] // 8,
                            INPUT_SHAPE[3] // 8)
    for result in results:
        assert result.pred_sem_seg.shape == INPUT_SHAPE[2:]
        assert 0 <= result.pred_sem_seg.data.min()
        assert result.pred_sem_seg.data.max() < num_classes


@pytest.mark.parametrize(
    'decode_head, message',
    [
        (dict(in_channels=[16, 32, 32]),
         r'decode_head \(AFFMHead\): in_index 2 gives 64 channels where '
         r'in_channels declares 32\. Fix: set decode_head\.in_channels='
         r'\[16, 32, 64\] for in_index=\[0, 1, 2\]'),
        (dict(in_channels=[32, 16, 64]),
         r'in_index 0 gives 16 channels where in_channels declares 32; '
         r'in_index 1 gives 32 channels where in_channels declares 16'),
        (dict(in_index=[0, 1, 3]),
         r'decode_head \(AFFMHead\): in_index \[0, 1, 3\] selects \[3\], but '
         r'there are only 3 features \(indices 0-2\)'),
    ],
    ids=['wrong_in_channels', 'swapped_in_channels', 'wrong_in_index'])
def test_decode_head_mismatch_fails_at_build(r18_model_cfg, decode_head,
                                             message):
    model_cfg = copy.deepcopy(r18_model_cfg)
    model_cfg.decode_head.update(decode_head)
    with pytest.raises(ValueError, match=message) as error:
        build_checked(model_cfg)
    assert f'channels {SLIM_R18_CHANNELS}' in str(error.value)


@pytest.mark.parametrize(
    'auxiliary_head, message',
    [
        (dict(in_channels=16, in_index=-1),
         r'auxiliary_head \(FCNHead\): in_index -1 gives 64 channels where '
         r'in_channels declares 16\. Fix: set auxiliary_head\.in_channels='
         r'64 for in_index=-1'),
        ([
            dict(in_channels=16, in_index=0),
            dict(
                in_channels=[16, 32],
                in_index=[0, 2],
                input_transform='resize_concat')
        ], r'auxiliary_head\[1\] \(FCNHead\): in_index \[0, 2\] selects '
         r'\[16, 64\] channels \(concatenated 80\) but in_channels is 48'),
    ],
    ids=['single_select', 'resize_concat_in_list'])
def test_auxiliary_head_mismatch_fails_at_build(r18_model_cfg,
                                                auxiliary_head, message):
    model_cfg = copy.deepcopy(r18_model_cfg)
    model_cfg.auxiliary_head = fcn_heads(auxiliary_head)
    with pytest.raises(ValueError, match=message):
        build_checked(model_cfg)


def fcn_heads(overrides):
    """Small FCN auxiliary head config(s) with the given overrides."""
    if isinstance(overrides, list):
        return [fcn_heads(override) for override in overrides]
    return dict(
        type='FCNHead', channels=8, num_convs=1, num_classes=19, **overrides)


def test_matching_heads_build_and_keep_training_mode(r18_model_cfg):
    model_cfg = copy.deepcopy(r18_model_cfg)
    model_cfg.auxiliary_head = fcn_heads([
        dict(in_channels=32, in_index=1),
        dict(
            in_channels=[16, 64],
            in_index=[0, 2],
            input_transform='resize_concat')
    ])
    model = build_checked(model_cfg)
    assert all(module.training for module in model.modules())
    batch_norms = [
        m for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]
    assert batch_norms
    assert all(m.num_batches_tracked.item() == 0 for m in batch_norms), \
        'the check must not update BN statistics'


def test_backbone_failing_on_dummy_input_names_the_setting(r18_model_cfg):
    model = build(r18_model_cfg)
    with pytest.raises(RuntimeError, match='input_shape'):
        check_head_channels(model, input_shape=(4, 64, 64))


def test_evaluation_mode_restores_each_module():
    model = nn.Sequential(nn.BatchNorm2d(2), nn.Dropout())
    model[0].eval()
    with evaluation_mode(model):
        assert not any(module.training for module in model.modules())
    assert [module.training for module in model.modules()] == [
        True, False, True
    ]
