"""Data checks of mmseg_affnet.datasets: every bad image or label map is
named, with its fix, before a run starts (check_label_files) and while it
runs (CheckSegLabels)."""
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
from mmcv.transforms import Compose
from mmseg.registry import TRANSFORMS
from mmseg.utils import register_all_modules

from mmseg_affnet.datasets import CheckSegLabels, check_label_files
from mmseg_affnet.datasets.checks import label_lookup
from mmseg_affnet.datasets.makers import generate_demo_dataset

register_all_modules(init_default_scope=False)
SIZE = (64, 128)
PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')]


@pytest.fixture(scope='module')
def demo_source(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('demo') / 'data')
    generate_demo_dataset(root, num_train=3, num_val=2, size=SIZE,
                          progress=False)
    return root


@pytest.fixture
def damageable_root(tmp_path, demo_source) -> str:
    """A copy of the demo data that a test may damage."""
    root = str(tmp_path / 'data')
    shutil.copytree(demo_source, root)
    return root


def dataset_cfg(root: str, split: str = 'train', **kwargs) -> dict:
    return dict(type='CityscapesDataset', data_root=root,
                data_prefix=dict(img_path=f'leftImg8bit/{split}',
                                 seg_map_path=f'gtFine/{split}'),
                pipeline=PIPELINE, **kwargs)


def split_files(root: str, split: str = 'train'):
    """Sorted image and label paths of a split."""
    def files(top):
        return sorted(
            osp.join(dirpath, name)
            for dirpath, _, names in os.walk(osp.join(root, top, split))
            for name in names)

    return files('leftImg8bit'), files('gtFine')


def check(cfg, **kwargs):
    return check_label_files(cfg, 'train_dataloader',
                             **dict(dict(num_classes=19, nproc=1,
                                         progress=False), **kwargs))


def test_good_data_passes(damageable_root):
    assert check(dataset_cfg(damageable_root)) == 3
    wrapped = dict(type='ConcatDataset', datasets=[
        dict(type='RepeatDataset', times=2,
             dataset=dataset_cfg(damageable_root)),
        dataset_cfg(damageable_root, 'val')])
    assert check(wrapped, nproc=2) == 5
    # A pipeline without labels (inference) has no labels to check.
    assert check(dict(dataset_cfg(damageable_root),
                      pipeline=[dict(type='LoadImageFromFile')])) == 0


def truncate(path: str):
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])


@pytest.mark.parametrize('damage, message', [
    ('truncated label', r'gtFine_labelTrainIds.png is truncated or not an '
     r'image: it cannot be decoded. Restore the file'),
    ('empty label', r'gtFine_labelTrainIds.png is empty \(0 bytes\)'),
    ('empty image', r'leftImg8bit.png is empty \(0 bytes\). Restore'),
    ('truncated image', r'leftImg8bit.png is truncated or not an image'),
    ('size', r'gtFine_labelTrainIds.png is 32x128 \(HxW\) but its image '
     r'\S+_leftImg8bit.png is 64x128: a label map must have the size'),
    ('value', r'gtFine_labelTrainIds.png holds label values \[19, 33\], '
     r'outside the 19 classes 0..18 and 255 \(ignore\). Use train-id'),
    ('colour', r'gtFine_labelTrainIds.png has 3 colour channels'),
])
def test_each_bad_file_is_named_with_its_fix(damageable_root, damage, message):
    images, labels = split_files(damageable_root)
    image, label = images[1], labels[1]
    if damage == 'truncated label':
        truncate(label)
    elif damage == 'empty label':
        open(label, 'wb').close()
    elif damage == 'empty image':
        open(image, 'wb').close()
    elif damage == 'truncated image':
        truncate(image)
    elif damage == 'size':
        cv2.imwrite(label, cv2.imread(label, cv2.IMREAD_UNCHANGED)[:32])
    elif damage == 'value':
        ids = cv2.imread(label, cv2.IMREAD_UNCHANGED)
        ids[0, :2] = (19, 33)
        cv2.imwrite(label, ids)
    elif damage == 'colour':
        cv2.imwrite(label, cv2.imread(image))
    with pytest.raises(ValueError, match=r'train_dataloader: 1 of 3 '
                       r'image/label pairs cannot be used') as error:
        check(dataset_cfg(damageable_root), nproc=2)
    assert len(str(error.value).splitlines()) == 2
    assert osp.basename(label if 'label' in message else image) in str(
        error.value)
    assert pytest.raises(ValueError, check,
                         dataset_cfg(damageable_root)).match(message)


def test_every_bad_file_is_listed_at_once(damageable_root):
    _, labels = split_files(damageable_root)
    for label in labels:
        truncate(label)
    with pytest.raises(ValueError, match='3 of 3') as error:
        check(dataset_cfg(damageable_root))
    assert all(osp.basename(label) in str(error.value) for label in labels)


def test_num_classes_is_the_heads(damageable_root):
    with pytest.raises(ValueError, match=r'outside the 10 classes 0..9'):
        check(dataset_cfg(damageable_root), num_classes=10)


def test_reduce_zero_label_and_label_map_are_applied():
    lut = label_lookup(reduce_zero_label=True)
    assert (lut[0], lut[1], lut[150], lut[255]) == (255, 0, 149, 255)
    lut = label_lookup(label_map={0: 1, 1: 0})
    assert (lut[0], lut[1], lut[2]) == (1, 0, 2)


# ----------------------------------------------------- CheckSegLabels, live
def load(pipeline, image, label):
    transforms = Compose([TRANSFORMS.build(step) for step in pipeline])
    return transforms(dict(img_path=image, seg_map_path=label,
                           reduce_zero_label=False, seg_fields=[]))


@pytest.mark.parametrize('pipeline', [
    [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
     dict(type='CheckSegLabels', num_classes=19)],
    [dict(type='LoadImageFromFile'),
     dict(type='Resize', scale=(64, 32), keep_ratio=True),
     dict(type='LoadAnnotations'),
     dict(type='CheckSegLabels', num_classes=19)],
], ids=['train', 'test'])
def test_label_of_another_size_is_named_in_train_and_test(
        damageable_root, pipeline):
    images, labels = split_files(damageable_root)
    assert load(pipeline, images[0], labels[0])['gt_seg_map'].shape == SIZE
    cv2.imwrite(labels[0],
                cv2.imread(labels[0], cv2.IMREAD_UNCHANGED)[:, :100])
    with pytest.raises(ValueError, match=rf'Label map {labels[0]} is 64x100 '
                       rf'\(HxW\) but its image {images[0]} is 64x128'):
        load(pipeline, images[0], labels[0])


def test_label_values_check_follows_num_classes():
    check_labels = CheckSegLabels(num_classes=3)
    good = dict(gt_seg_map=np.array([[0, 2, 255]], np.uint8),
                ori_shape=(1, 3))
    assert check_labels(good) is good
    with pytest.raises(ValueError, match=r'x.png holds values \[3\] outside '
                       r'0..2 and 255'):
        check_labels(dict(good, gt_seg_map=np.array([[0, 3, 255]], np.uint8),
                          seg_map_path='x.png'))
    assert repr(check_labels) == \
        'CheckSegLabels(num_classes=3, ignore_index=255)'
