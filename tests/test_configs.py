"""The configs as a researcher uses them: stock types, the fine-only
experiment protocol, one class count, the lr schedule and its alternative,
and a few training steps of the WCEL config."""
import copy
import functools
from pathlib import Path
from typing import Any, Iterator, List

import pytest
import torch
from mmengine import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import OptimWrapper
from mmengine.registry import PARAM_SCHEDULERS
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

import mmseg_affnet  # noqa: F401  (registers the models and losses)
from mmseg_affnet.models.losses import ClassWeightedCrossEntropyLoss
from tests.utils.tools import CONFIGS_DIR

CONFIG_DIR = Path(CONFIGS_DIR)
ALL_CONFIGS = sorted(
    path for path in CONFIG_DIR.rglob('*.py')
    if '_base_' not in path.relative_to(CONFIG_DIR).parts)
EXPERIMENT_DIRS = ('ablations', 'losses', 'comparisons')
EXPERIMENT_CONFIGS = [
    path for path in ALL_CONFIGS
    if path.relative_to(CONFIG_DIR).parts[0] in EXPERIMENT_DIRS
]
FINE_ONLY = CONFIG_DIR / 'affnet_fine-only_cityscapes.py'
LOSS_CONFIGS = sorted((CONFIG_DIR / 'losses').glob('*.py'))
WCEL_CONFIG = CONFIG_DIR / 'losses' / 'affnet_wcel_cityscapes.py'

register_all_modules()


def ids(paths: List[Path]) -> List[str]:
    return [str(path.relative_to(CONFIG_DIR)) for path in paths]


@functools.lru_cache(maxsize=None)
def load(path: Path) -> Config:
    return Config.fromfile(str(path), import_custom_modules=False)


def walk(node: Any) -> Iterator[dict]:
    """Every dict inside a config value."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from walk(value)


def test_experiment_configs_are_found():
    names = {str(p.relative_to(CONFIG_DIR)) for p in EXPERIMENT_CONFIGS}
    assert {
        'ablations/affnet_fpn-pan_cityscapes.py',
        'ablations/affnet_taps-3-6_cityscapes.py',
        'comparisons/spssnet_cityscapes.py',
        'losses/affnet_owfl-ce_cityscapes.py',
        'losses/affnet_wcel_cityscapes.py', 'losses/affnet_ce_cityscapes.py',
        'losses/affnet_owfl_cityscapes.py'
    } <= names


@pytest.mark.parametrize('path', ALL_CONFIGS, ids=ids(ALL_CONFIGS))
def test_config_is_stock_with_one_class_count(path):
    cfg = load(path)
    assert cfg.model.type == 'EncoderDecoder'
    assert 'runner_type' not in cfg
    assert cfg.custom_imports.imports[0] == 'mmseg_affnet'
    num_classes = cfg.model.decode_head.num_classes
    checks = [
        step for step in walk(
            [cfg.get('train_dataloader'),
             cfg.get('val_dataloader')])
        if step.get('type') == 'CheckSegLabels'
    ]
    assert all(step['num_classes'] == num_classes for step in checks)


@pytest.mark.parametrize('path', EXPERIMENT_CONFIGS,
                         ids=ids(EXPERIMENT_CONFIGS))
def test_experiment_config_loads_no_other_models_weights(path):
    cfg = load(path)
    assert cfg.load_from is None
    assert not cfg.get('resume', False)
    pretrained = [
        node for node in walk(cfg.model)
        if node.get('type') == 'Pretrained' or node.get('pretrained')
    ]
    assert pretrained == []


@pytest.mark.parametrize('path', [FINE_ONLY, *EXPERIMENT_CONFIGS],
                         ids=ids([FINE_ONLY, *EXPERIMENT_CONFIGS]))
def test_experiment_config_follows_the_fine_only_protocol(path):
    cfg = load(path)
    assert cfg.optim_wrapper.optimizer == dict(
        type='Adam', lr=5e-4, weight_decay=1e-4)
    assert cfg.train_dataloader.batch_size == 10
    assert cfg.train_cfg.max_epochs == 150
    dataset = cfg.train_dataloader.dataset
    assert (dataset.data_root, dataset.data_prefix.img_path) == \
        ('data/cityscapes/', 'leftImg8bit/train')
    assert [step['type'] for step in dataset.pipeline] == [
        'LoadImageFromFile', 'LoadAnnotations', 'CheckSegLabels',
        'RandomFlip', 'PhotoMetricDistortion', 'PackSegInputs'
    ], 'full 1024x2048 images, no crop'
    (scheduler, ) = cfg.param_scheduler
    assert (scheduler.type, scheduler.power, scheduler.eta_min,
            scheduler.end) == ('PolyLR', 0.9, 0, 150)


def without(cfg: Config, *keys: str) -> dict:
    """The config as a dict, without the dotted ``keys``."""
    data = copy.deepcopy(cfg.to_dict())
    for key in keys:
        *parents, last = key.split('.')
        node = data
        for parent in parents:
            node = node[parent]
        node.pop(last)
    return data


@pytest.mark.parametrize('path', LOSS_CONFIGS, ids=ids(LOSS_CONFIGS))
def test_loss_config_changes_only_the_loss(path):
    assert without(load(path), 'model.decode_head.loss_decode') == \
        without(load(FINE_ONLY), 'model.decode_head.loss_decode')


@pytest.mark.parametrize(
    'path', [p for p in EXPERIMENT_CONFIGS if p not in LOSS_CONFIGS],
    ids=ids([p for p in EXPERIMENT_CONFIGS if p not in LOSS_CONFIGS]))
def test_architecture_config_changes_only_the_model(path):
    cfg = load(path)
    assert without(cfg, 'model') == without(load(FINE_ONLY), 'model')
    assert cfg.model.decode_head.loss_decode == \
        load(FINE_ONLY).model.decode_head.loss_decode


def test_eq3_ce_term_averages_over_labelled_pixels_in_every_config():
    for path in ALL_CONFIGS:
        for loss in walk(load(path).model.decode_head.loss_decode):
            if loss.get('type') == 'CrossEntropyLoss':
                assert loss.get('avg_non_ignore') is True, path


def test_model_dict_pastes_into_a_stock_mmseg_config(tmp_path):
    config = tmp_path / 'stock.py'
    config.write_text(
        "_base_ = ['mmseg::_base_/datasets/cityscapes.py',\n"
        "          'mmseg::_base_/default_runtime.py',\n"
        f"          '{CONFIG_DIR / '_base_' / 'models' / 'affnet.py'}']\n"
        "custom_imports = dict(imports=['mmseg_affnet'],\n"
        '                      allow_failed_imports=False)\n')
    cfg = Config.fromfile(str(config))
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    assert type(model).__name__ == 'EncoderDecoder'
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 19, 8, 8)


def learning_rates(scheduler_cfgs: List[dict], steps: int) -> List[float]:
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))],
                                 lr=5e-4)
    wrapper = OptimWrapper(optimizer)
    schedulers = [
        PARAM_SCHEDULERS.build(
            dict(cfg, optimizer=wrapper, end=steps, epoch_length=1))
        for cfg in scheduler_cfgs
    ]
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]['lr'])
        for scheduler in schedulers:
            scheduler.step()
    return rates


def test_poly_schedule_and_its_constant_alternative():
    """Poly decay from the initial lr; `param_scheduler.0.power=0` (the
    README's --cfg-options) keeps the rate constant."""
    cfg = copy.deepcopy(load(FINE_ONLY))
    poly = learning_rates(cfg.param_scheduler, 10)
    assert poly[0] == pytest.approx(5e-4)
    assert all(a > b for a, b in zip(poly, poly[1:]))
    # mmengine's PolyLR reaches eta_min at the last of its 10 steps.
    assert poly[5] == pytest.approx(5e-4 * (1 - 5 / 9)**0.9)
    assert poly[-1] == 0
    cfg.merge_from_dict({'param_scheduler.0.power': 0})
    assert learning_rates(cfg.param_scheduler, 10) == [5e-4] * 10


def random_batch(step: int, num_classes: int) -> dict:
    """Two 64x128 images (uint8) and labels with an ignored band."""
    generator = torch.Generator().manual_seed(step)
    images, samples = [], []
    for _ in range(2):
        images.append(
            torch.randint(0, 256, (3, 64, 128), generator=generator).byte())
        labels = torch.randint(
            0, num_classes, (1, 64, 128), generator=generator)
        labels[:, :10] = 255
        sample = SegDataSample(
            metainfo=dict(
                img_shape=(64, 128), ori_shape=(64, 128),
                pad_shape=(64, 128)))
        sample.gt_sem_seg = PixelData(data=labels)
        samples.append(sample)
    return dict(inputs=images, data_samples=samples)


def test_wcel_config_trains_a_few_iterations_with_finite_losses():
    cfg = copy.deepcopy(load(WCEL_CONFIG))
    cfg.model.data_preprocessor.size = (64, 128)
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    model.init_weights()
    assert isinstance(model.decode_head.loss_decode[0],
                      ClassWeightedCrossEntropyLoss)
    wrapper = OptimWrapper(torch.optim.Adam(model.parameters(), lr=5e-4))
    model.train()
    losses = [
        model.train_step(random_batch(step, 19),
                         wrapper)['decode.loss_wcel']
        for step in range(3)
    ]
    assert all(torch.isfinite(loss) and loss > 0 for loss in losses)
