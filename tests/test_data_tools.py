"""Tests of tools/make_demo_dataset.py, tools/make_patches.py and
tools/class_frequency.py."""
import filecmp
import glob
import json
import os
import os.path as osp
import sys

import cv2
import numpy as np
import pytest
from mmseg.datasets import CityscapesDataset
from mmseg.utils import register_all_modules

from mmseg_affnet.models.losses import (load_class_frequencies,
                                        owfl_alpha_gamma)

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                            'tools'))
import class_frequency  # noqa: E402
import make_demo_dataset  # noqa: E402
import make_patches  # noqa: E402

SIZE = (64, 128)


def generate(root, **kwargs):
    kwargs = dict(dict(num_train=3, num_val=2, size=SIZE, progress=False),
                  **kwargs)
    return make_demo_dataset.generate_demo_dataset(str(root), **kwargs)


def cityscapes_split(root, split, pipeline=()):
    register_all_modules()
    return CityscapesDataset(
        data_root=str(root),
        data_prefix=dict(img_path=f'leftImg8bit/{split}',
                         seg_map_path=f'gtFine/{split}'),
        pipeline=list(pipeline))


def all_files(root):
    return sorted(osp.relpath(p, root) for p in glob.glob(
        osp.join(root, '**', '*.png'), recursive=True))


# ---------------------------------------------------------------- demo data
def test_demo_dataset_loads_in_cityscapes_dataset(tmp_path):
    generate(tmp_path, num_train=3, num_val=2)
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')]
    train = cityscapes_split(tmp_path, 'train', pipeline)
    assert len(train) == 3
    assert len(cityscapes_split(tmp_path, 'val')) == 2
    sample = train[0]
    assert sample['img'].shape == (*SIZE, 3)
    assert sample['gt_seg_map'].shape == SIZE
    assert sample['gt_seg_map'].dtype == np.uint8


def test_demo_labels_are_train_ids_and_cover_every_class(tmp_path):
    generate(tmp_path, num_train=30, num_val=1, size=(128, 256))
    values = set()
    for path in glob.glob(str(tmp_path / 'gtFine' / '*' / '*' / '*.png')):
        label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        assert label.ndim == 2 and label.dtype == np.uint8
        values |= set(np.unique(label).tolist())
    assert values - {255} == set(range(19))


def test_demo_dataset_is_deterministic_by_seed(tmp_path):
    generate(tmp_path / 'a', seed=3)
    generate(tmp_path / 'b', seed=3)
    generate(tmp_path / 'c', seed=4)
    files = all_files(tmp_path / 'a')
    assert files == all_files(tmp_path / 'b') == all_files(tmp_path / 'c')
    match, mismatch, _ = filecmp.cmpfiles(tmp_path / 'a', tmp_path / 'b',
                                          files, shallow=False)
    assert mismatch == [] and len(match) == len(files)
    _, mismatch, _ = filecmp.cmpfiles(tmp_path / 'a', tmp_path / 'c', files,
                                      shallow=False)
    assert len(mismatch) == len(files)


def test_demo_dataset_keeps_same_args_and_refuses_others(tmp_path):
    root = tmp_path / 'demo'
    assert generate(root) is True
    stamp = {p: os.stat(root / p).st_mtime_ns for p in all_files(root)}
    assert generate(root) is False
    assert {p: os.stat(root / p).st_mtime_ns
            for p in all_files(root)} == stamp
    with pytest.raises(FileExistsError, match='same arguments'):
        generate(root, seed=1)
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'mine.txt').write_text('user data')
    with pytest.raises(FileExistsError, match='not empty'):
        generate(other)
    assert (other / 'mine.txt').read_text() == 'user data'


def test_demo_dataset_redoes_an_interrupted_generation(tmp_path):
    root = tmp_path / 'demo'
    generate(root)
    manifest = json.loads((root / 'demo_manifest.json').read_text())
    (root / 'demo_manifest.json').write_text(
        json.dumps(dict(manifest, complete=False)))
    first = all_files(root)[0]
    os.remove(root / first)
    assert generate(root) is True
    assert (root / first).is_file()


# ------------------------------------------------------------ patch origins
@pytest.mark.parametrize('height, width, patch, per_image', [
    (1024, 2048, 880, 8), (64, 128, 44, 8), (500, 700, 300, 6),
    (880, 880, 880, 1)])
def test_patch_boxes_cover_every_pixel(height, width, patch, per_image):
    boxes = make_patches.patch_boxes(height, width, patch, per_image)
    assert len(boxes) == per_image
    covered = np.zeros((height, width), int)
    for y, x in boxes:
        assert 0 <= y <= height - patch and 0 <= x <= width - patch
        covered[y:y + patch, x:x + patch] += 1
    assert covered.min() >= 1


def test_cityscapes_gets_a_2x4_grid_of_overlapping_patches():
    assert make_patches.choose_grid(1024, 2048, 880, 8) == (2, 4)
    rows = make_patches.patch_origins(1024, 880, 2)
    cols = make_patches.patch_origins(2048, 880, 4)
    assert rows[0] == cols[0] == 0
    assert rows[-1] + 880 == 1024 and cols[-1] + 880 == 2048
    steps = np.diff(cols)
    assert steps.max() - steps.min() <= 1  # evenly spread
    assert (steps < 880).all() and np.diff(rows).max() < 880  # overlap


def test_patch_grid_errors():
    with pytest.raises(ValueError, match='exceeds the image size'):
        make_patches.choose_grid(512, 1024, 880, 8)
    with pytest.raises(ValueError, match='at least 3 patches'):
        make_patches.choose_grid(880, 2048, 880, 2)
    with pytest.raises(ValueError, match='cannot cover'):
        make_patches.patch_origins(100, 40, 2)


# -------------------------------------------------------- patch tool on disk
def make_fake_cityscapes(root, num_images=2, size=(64, 128)):
    """Images with random pixels; each label is image channel 0 mod 19."""
    rng = np.random.default_rng(0)
    for i in range(num_images):
        stem = f'city_000000_{i:06d}'
        image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        for folder, suffix, array in (
                ('leftImg8bit', make_patches.IMG_SUFFIX, image),
                ('gtFine', make_patches.SEG_MAP_SUFFIX, image[..., 0] % 19)):
            city_dir = root / folder / 'train' / 'city'
            os.makedirs(city_dir, exist_ok=True)
            cv2.imwrite(str(city_dir / (stem + suffix)), array)
    return root


def test_make_patches_end_to_end_and_resume(tmp_path):
    src = make_fake_cityscapes(tmp_path / 'src')
    source_files = {p: (src / p).read_bytes() for p in all_files(src)}
    out = tmp_path / 'out'
    assert make_patches.make_patches(str(src), str(out), patch=44,
                                     progress=False) == (2, 32)
    images = sorted(glob.glob(str(out / 'leftImg8bit/train/city/*.png')))
    labels = sorted(glob.glob(str(out / 'gtFine/train/city/*.png')))
    assert len(images) == len(labels) == 16
    assert osp.basename(images[0]) == 'city_000000_000000_p00_leftImg8bit.png'
    for image_path, label_path in zip(images, labels):
        image = cv2.imread(image_path)
        label = cv2.imread(label_path, cv2.IMREAD_UNCHANGED)
        assert image.shape == (44, 44, 3)
        np.testing.assert_array_equal(label, image[..., 0] % 19)
    assert len(cityscapes_split(out, 'train')) == 16
    # Resume: only the missing patch is written, the others stay untouched.
    stamps = {p: os.stat(p).st_mtime_ns for p in images + labels}
    os.remove(labels[5])
    assert make_patches.make_patches(str(src), str(out), patch=44,
                                     progress=False) == (2, 1)
    assert all(os.stat(p).st_mtime_ns == stamps[p]
               for p in images + labels if p != labels[5])
    assert osp.isfile(labels[5])
    assert {p: (src / p).read_bytes() for p in all_files(src)} == source_files


def test_make_patches_patch_content_matches_source_crop(tmp_path):
    src = make_fake_cityscapes(tmp_path / 'src', num_images=1)
    make_patches.make_patches(str(src), str(tmp_path / 'out'), patch=44,
                              progress=False)
    source = cv2.imread(glob.glob(str(src / 'leftImg8bit/*/*/*.png'))[0])
    boxes = make_patches.patch_boxes(64, 128, 44, 8)
    for index, (y, x) in enumerate(boxes):
        patch = cv2.imread(glob.glob(str(
            tmp_path / 'out' / f'leftImg8bit/*/*/*_p{index:02d}_*.png'))[0])
        np.testing.assert_array_equal(patch, source[y:y + 44, x:x + 44])


def test_make_patches_never_writes_into_the_source(tmp_path):
    src = make_fake_cityscapes(tmp_path / 'src', num_images=1)
    before = all_files(src)
    for out in (src, src / 'patches', src / 'leftImg8bit' / 'x'):
        with pytest.raises(ValueError, match='inside the source root'):
            make_patches.make_patches(str(src), str(out), patch=44,
                                      progress=False)
    assert all_files(src) == before


def test_make_patches_input_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        make_patches.make_patches(str(tmp_path / 'none'),
                                  str(tmp_path / 'out'), progress=False)
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='No \\*_leftImg8bit.png'):
        make_patches.make_patches(str(tmp_path / 'empty'),
                                  str(tmp_path / 'out'), progress=False)
    src = make_fake_cityscapes(tmp_path / 'src', num_images=1)
    with pytest.raises(ValueError, match='city_000000_000000_leftImg8bit'):
        make_patches.make_patches(str(src), str(tmp_path / 'out'),
                                  patch=100, progress=False)
    os.remove(glob.glob(str(src / 'gtFine/*/*/*.png'))[0])
    with pytest.raises(FileNotFoundError, match='labelTrainIds.png of'):
        make_patches.make_patches(str(src), str(tmp_path / 'out'), patch=44,
                                  progress=False)


# ---------------------------------------------------------- class frequency
def write_label(path, values):
    os.makedirs(osp.dirname(path), exist_ok=True)
    cv2.imwrite(str(path), np.array(values, np.uint8).reshape(3, -1))


def test_class_frequency_counts_by_hand(tmp_path):
    labels = tmp_path / 'labels'
    # a: 6 x class 0, 3 x class 1, 3 x ignore; b: 2 x class 1, 10 x class 2.
    write_label(labels / 'x' / 'a_gtFine_labelTrainIds.png',
                [0] * 6 + [1] * 3 + [255] * 3)
    write_label(labels / 'y' / 'b_gtFine_labelTrainIds.png',
                [1] * 2 + [2] * 10)
    write_label(labels / 'y' / 'b_gtFine_color.png', [7] * 12)  # not read
    out = tmp_path / 'freq.json'
    class_frequency.main([str(labels), '--num-classes', '3', '--out',
                          str(out), '--classes', 'a', 'b', 'c'])
    content = json.loads(out.read_text())
    assert content['classes'] == ['a', 'b', 'c']
    assert content['pixel_counts'] == [6, 5, 10]
    np.testing.assert_allclose(content['frequencies'], [6 / 21, 5 / 21,
                                                        10 / 21])
    assert str(labels) in content['source']
    np.testing.assert_allclose(load_class_frequencies(str(out), 3).numpy(),
                               [6 / 21, 5 / 21, 10 / 21])


def test_class_frequency_refuses_to_overwrite_without_force(tmp_path):
    labels = tmp_path / 'labels'
    write_label(labels / 'a_gtFine_labelTrainIds.png', [0, 1, 2] * 4)
    out = tmp_path / 'freq.json'
    out.write_text('keep me')
    argv = [str(labels), '--num-classes', '3', '--out', str(out)]
    with pytest.raises(SystemExit, match='--force'):
        class_frequency.main(argv)
    assert out.read_text() == 'keep me'
    class_frequency.main(argv + ['--force'])
    assert json.loads(out.read_text())['pixel_counts'] == [4, 4, 4]


def test_class_frequency_bad_label_names_the_file(tmp_path):
    labels = tmp_path / 'labels'
    write_label(labels / 'good_gtFine_labelTrainIds.png', [0, 1, 2] * 4)
    write_label(labels / 'bad_gtFine_labelTrainIds.png', [0, 1, 7] * 4)
    out = tmp_path / 'freq.json'
    with pytest.raises(SystemExit,
                       match=r'bad_gtFine_labelTrainIds.png holds label '
                       r'values \[7\]'):
        class_frequency.main([str(labels), '--num-classes', '3', '--out',
                              str(out)])
    assert not out.exists()


def test_class_frequency_table_matches_owfl_factors():
    assert 'OWFL cannot use' in class_frequency.alpha_gamma_table(
        ['a', 'b'], [5, 0])
    table = class_frequency.alpha_gamma_table(['a', 'b'], [990, 10])
    alpha, gamma = owfl_alpha_gamma(load_class_frequencies([990, 10], 2))
    rows = [line.split() for line in table.splitlines()[1:]]
    assert [row[0] for row in rows] == ['a', 'b']
    np.testing.assert_allclose([float(row[1]) for row in rows], [.99, .01])
    np.testing.assert_allclose([float(row[2]) for row in rows], alpha,
                               atol=1e-3)
    assert [float(row[3]) for row in rows] == gamma.tolist()
