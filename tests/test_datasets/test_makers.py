"""The data preparation of mmseg_affnet.datasets: the synthetic demo
dataset, patch extraction and class-frequency counting."""
import filecmp
import glob
import hashlib
import json
import os
import os.path as osp
import runpy

import cv2
import numpy as np
import pytest
from mmseg.datasets import CityscapesDataset
from mmseg.utils import register_all_modules

from mmseg_affnet.datasets import class_frequency
from mmseg_affnet.datasets.makers import patches
from mmseg_affnet.datasets.makers import demo_dataset
from mmseg_affnet.models.losses import (load_class_frequencies,
                                        owfl_alpha_gamma)
from tests.utils.tools import REPO_ROOT




def tool_main(name):
    """``main`` of ``tools/<name>.py``, to test the command line itself."""
    return runpy.run_path(osp.join(REPO_ROOT, 'tools', f'{name}.py'),
                          run_name=f'tool_{name}')['main']

SIZE = (64, 128)


def generate(root, **kwargs):
    kwargs = dict(dict(num_train=3, num_val=2, size=SIZE, progress=False),
                  **kwargs)
    return demo_dataset.generate_demo_dataset(str(root), **kwargs)


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


# Pixel digests of the data the demo's mIoU was measured on (README).
# If the drawing changes on purpose, bump GENERATOR_VERSION and update them.
DEMO_PIXEL_DIGESTS = {
    'gtFine/train/synthburg/synthburg_000000_000000_gtFine_labelTrainIds.png':
    'f6923ab0fefcf77a',
    'gtFine/train/synthstadt/synthstadt_000000_000001_gtFine_labelTrainIds'
    '.png': '1757102e3bba0eee',
    'gtFine/val/synthville/synthville_000000_000000_gtFine_labelTrainIds.png':
    '8e90b69511fb846d',
    'leftImg8bit/train/synthburg/synthburg_000000_000000_leftImg8bit.png':
    'a4c9adc1a9aca75c',
    'leftImg8bit/train/synthstadt/synthstadt_000000_000001_leftImg8bit.png':
    '5dfbae60843eeea3',
    'leftImg8bit/val/synthville/synthville_000000_000000_leftImg8bit.png':
    'e9716ff416e6fb10',
}


def test_demo_dataset_pixels_are_unchanged(tmp_path):
    generate(tmp_path, num_train=2, num_val=1, seed=0)
    digests = {
        path: hashlib.sha256(cv2.imread(
            str(tmp_path / path), cv2.IMREAD_UNCHANGED).tobytes()).hexdigest()
        [:16] for path in all_files(tmp_path)
    }
    assert digests == DEMO_PIXEL_DIGESTS


def test_demo_dataset_is_the_same_in_parallel(tmp_path):
    generate(tmp_path / 'a', num_train=4, num_val=2)
    generate(tmp_path / 'b', num_train=4, num_val=2, nproc=2)
    files = all_files(tmp_path / 'a')
    match, _, _ = filecmp.cmpfiles(tmp_path / 'a', tmp_path / 'b',
                                   files + [demo_dataset.MANIFEST_NAME],
                                   shallow=False)
    assert len(match) == len(files) + 1


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
    boxes = patches.patch_boxes(height, width, patch, per_image)
    assert len(boxes) == per_image
    covered = np.zeros((height, width), int)
    for y, x in boxes:
        assert 0 <= y <= height - patch and 0 <= x <= width - patch
        covered[y:y + patch, x:x + patch] += 1
    assert covered.min() >= 1


def test_cityscapes_gets_a_2x4_grid_of_overlapping_patches():
    assert patches.choose_grid(1024, 2048, 880, 8) == (2, 4)
    rows = patches.patch_origins(1024, 880, 2)
    cols = patches.patch_origins(2048, 880, 4)
    assert rows[0] == cols[0] == 0
    assert rows[-1] + 880 == 1024 and cols[-1] + 880 == 2048
    steps = np.diff(cols)
    assert steps.max() - steps.min() <= 1  # evenly spread
    assert (steps < 880).all() and np.diff(rows).max() < 880  # overlap


def test_patch_grid_errors():
    with pytest.raises(ValueError, match='exceeds the image size'):
        patches.choose_grid(512, 1024, 880, 8)
    with pytest.raises(ValueError, match='at least 3 patches'):
        patches.choose_grid(880, 2048, 880, 2)
    with pytest.raises(ValueError, match='cannot cover'):
        patches.patch_origins(100, 40, 2)


# -------------------------------------------------------- patch tool on disk
def make_fake_cityscapes(root, num_images=2, size=(64, 128)):
    """Images with random pixels; each label is image channel 0 mod 19."""
    rng = np.random.default_rng(0)
    for i in range(num_images):
        stem = f'city_000000_{i:06d}'
        image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        for folder, suffix, array in (
                ('leftImg8bit', patches.IMG_SUFFIX, image),
                ('gtFine', patches.SEG_MAP_SUFFIX, image[..., 0] % 19)):
            city_dir = root / folder / 'train' / 'city'
            os.makedirs(city_dir, exist_ok=True)
            cv2.imwrite(str(city_dir / (stem + suffix)), array)
    return root


def test_make_patches_end_to_end_and_resume(tmp_path):
    src = make_fake_cityscapes(tmp_path / 'src')
    source_files = {p: (src / p).read_bytes() for p in all_files(src)}
    out = tmp_path / 'out'
    assert patches.make_patches(str(src), str(out), patch=44,
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
    assert patches.make_patches(str(src), str(out), patch=44,
                                     progress=False) == (2, 1)
    assert all(os.stat(p).st_mtime_ns == stamps[p]
               for p in images + labels if p != labels[5])
    assert osp.isfile(labels[5])
    assert {p: (src / p).read_bytes() for p in all_files(src)} == source_files


def test_make_patches_patch_content_matches_source_crop(tmp_path):
    src = make_fake_cityscapes(tmp_path / 'src', num_images=1)
    patches.make_patches(str(src), str(tmp_path / 'out'), patch=44,
                              progress=False)
    source = cv2.imread(glob.glob(str(src / 'leftImg8bit/*/*/*.png'))[0])
    boxes = patches.patch_boxes(64, 128, 44, 8)
    for index, (y, x) in enumerate(boxes):
        patch = cv2.imread(glob.glob(str(
            tmp_path / 'out' / f'leftImg8bit/*/*/*_p{index:02d}_*.png'))[0])
        np.testing.assert_array_equal(patch, source[y:y + 44, x:x + 44])


def test_make_patches_never_writes_into_the_source(tmp_path):
    src = make_fake_cityscapes(tmp_path / 'src', num_images=1)
    before = all_files(src)
    for out in (src, src / 'patches', src / 'leftImg8bit' / 'x'):
        with pytest.raises(ValueError, match='inside the source root'):
            patches.make_patches(str(src), str(out), patch=44,
                                      progress=False)
    assert all_files(src) == before


def test_make_patches_input_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        patches.make_patches(str(tmp_path / 'none'),
                                  str(tmp_path / 'out'), progress=False)
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='No \\*_leftImg8bit.png'):
        patches.make_patches(str(tmp_path / 'empty'),
                                  str(tmp_path / 'out'), progress=False)
    src = make_fake_cityscapes(tmp_path / 'src', num_images=1)
    with pytest.raises(ValueError, match='city_000000_000000_leftImg8bit'):
        patches.make_patches(str(src), str(tmp_path / 'out'),
                                  patch=100, progress=False)
    os.remove(glob.glob(str(src / 'gtFine/*/*/*.png'))[0])
    with pytest.raises(FileNotFoundError, match='labelTrainIds.png of'):
        patches.make_patches(str(src), str(tmp_path / 'out'), patch=44,
                                  progress=False)


def cut(src, out, **kwargs):
    return patches.make_patches(str(src), str(out),
                                **dict(dict(patch=44, progress=False),
                                       **kwargs))


@pytest.mark.parametrize('changed', [dict(patch=40), dict(per_image=9)])
def test_make_patches_refuses_a_rerun_with_other_parameters(tmp_path,
                                                            changed):
    src = make_fake_cityscapes(tmp_path / 'src', num_images=1)
    out = tmp_path / 'out'
    cut(src, out)
    before = {p: (out / p).read_bytes() for p in all_files(out)}
    manifest = json.loads((out / patches.MANIFEST_NAME).read_text())
    assert manifest['splits']['train'] == dict(
        source=osp.realpath(src), patch=44, per_image=8)
    key, value = next(iter(changed.items()))
    with pytest.raises(ValueError,
                       match=rf"was cut with patch=44, per_image=8.*"
                       rf"{key} 4?[48] -> {value}"):
        cut(src, out, **changed)
    assert {p: (out / p).read_bytes() for p in all_files(out)} == before
    # Another split is recorded beside the first.
    os.rename(src / 'leftImg8bit' / 'train', src / 'leftImg8bit' / 'val')
    os.rename(src / 'gtFine' / 'train', src / 'gtFine' / 'val')
    assert cut(src, out, split='val', **changed)[0] == 1
    manifest = json.loads((out / patches.MANIFEST_NAME).read_text())
    assert manifest['splits']['train']['patch'] == 44
    assert manifest['splits']['val'] == dict(
        dict(source=osp.realpath(src), patch=44, per_image=8), **changed)


def test_make_patches_failed_cut_records_nothing(tmp_path):
    """Issue 31, case 15: a cut that fails before its first patch (here a
    patch larger than the images) recorded its parameters, so every retry
    with others was refused. It takes its record back; the manifest of
    another split and the user's files stay."""
    src = make_fake_cityscapes(tmp_path / 'src', num_images=1)
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'notes.txt').write_text('mine')
    with pytest.raises(ValueError, match='Patch size 100 exceeds'):
        cut(src, out, patch=100)
    assert not (out / patches.MANIFEST_NAME).exists()
    assert all_files(out) == []
    assert cut(src, out, patch=40) == (1, 16)
    # Beside a recorded split, only the failed split's record goes.
    os.rename(src / 'leftImg8bit' / 'train', src / 'leftImg8bit' / 'val')
    os.rename(src / 'gtFine' / 'train', src / 'gtFine' / 'val')
    manifest = (out / patches.MANIFEST_NAME).read_text()
    with pytest.raises(ValueError, match='No rows x cols grid of 2'):
        cut(src, out, split='val', per_image=2)
    assert (out / patches.MANIFEST_NAME).read_text() == manifest
    assert cut(src, out, split='val')[1] == 16
    assert (out / 'notes.txt').read_text() == 'mine'


def test_make_patches_stopped_cut_records_nothing(tmp_path, monkeypatch):
    """Issue 31, case 15: Ctrl+C before the first patch takes the record
    back too."""
    src = make_fake_cityscapes(tmp_path / 'src', num_images=1)
    out = tmp_path / 'out'

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(patches, 'cut_sample', stopped)
        with pytest.raises(KeyboardInterrupt):
            cut(src, out)
    assert not (out / patches.MANIFEST_NAME).exists()
    assert cut(src, out, patch=40) == (1, 16)


def test_make_patches_replaces_a_record_of_no_patches(tmp_path):
    """Issue 31, case 15: a manifest that records a split without a file
    (left by a failed cut of an earlier version) does not block a cut
    with other parameters."""
    src = make_fake_cityscapes(tmp_path / 'src', num_images=1)
    out = tmp_path / 'out'
    (out / 'leftImg8bit' / 'train' / 'city').mkdir(parents=True)
    stale = dict(source=osp.realpath(src), patch=100, per_image=8)
    (out / patches.MANIFEST_NAME).write_text(json.dumps(
        dict(version=patches.MANIFEST_VERSION, splits=dict(train=stale))))
    assert cut(src, out) == (1, 16)
    manifest = json.loads((out / patches.MANIFEST_NAME).read_text())
    assert manifest['splits']['train']['patch'] == 44


def test_make_patches_cut_failing_after_patches_keeps_and_says_so(
        tmp_path):
    """Issue 31, case 15: when a later image fails, the patches written
    are kept and recorded; the error says how to resume or start over,
    and the resume writes only what is missing."""
    src = make_fake_cityscapes(tmp_path / 'src', num_images=2)
    stem = src / '{}' / 'train' / 'city' / 'city_000000_000001'
    small = str(stem).format('leftImg8bit') + patches.IMG_SUFFIX
    label = str(stem).format('gtFine') + patches.SEG_MAP_SUFFIX
    originals = {path: cv2.imread(path, cv2.IMREAD_UNCHANGED)
                 for path in (small, label)}
    for path, array in originals.items():
        cv2.imwrite(path, array[:32, :32])
    out = tmp_path / 'out'
    argv = [str(src), str(out), '--patch', '44']
    with pytest.raises(SystemExit) as error:
        tool_main('make_patches')(argv)
    message = error.value.code
    assert message.startswith(f'error: {small}: Patch size 44 exceeds')
    assert f"The patches of split 'train' written so far are kept and " \
        f'recorded in {out / patches.MANIFEST_NAME} (patch=44, ' \
        'per_image=8): rerun with these parameters to resume' in message
    assert len(all_files(out)) == 16
    with pytest.raises(ValueError, match='was cut with patch=44'):
        cut(src, out, patch=30)
    for path, array in originals.items():
        cv2.imwrite(path, array)
    assert cut(src, out) == (2, 16)
    assert len(all_files(out)) == 32


def test_make_patches_refuses_unrecorded_output(tmp_path):
    src = make_fake_cityscapes(tmp_path / 'src', num_images=1)
    out = tmp_path / 'out'
    old = out / 'leftImg8bit' / 'train' / 'city' / 'old_leftImg8bit.png'
    old.parent.mkdir(parents=True)
    old.write_bytes(b'patches of an unknown run')
    with pytest.raises(ValueError, match='does not record how'):
        cut(src, out)
    assert all_files(out) == ['leftImg8bit/train/city/old_leftImg8bit.png']


def test_make_patches_never_writes_through_a_link_into_the_source(
        tmp_path):
    src = make_fake_cityscapes(tmp_path / 'src', num_images=1)
    before = {p: (src / p).read_bytes() for p in all_files(src)}
    out = tmp_path / 'out'
    out.mkdir()
    os.symlink(src / 'leftImg8bit', out / 'leftImg8bit')
    with pytest.raises(ValueError, match='leftImg8bit/train resolves to .*'
                       'inside the source root'):
        cut(src, out)
    assert {p: (src / p).read_bytes() for p in all_files(src)} == before
    # A link deeper down, added after a first run, is found file by file.
    os.remove(out / 'leftImg8bit')
    cut(src, out)
    city = out / 'gtFine' / 'train' / 'city'
    for name in os.listdir(city):
        os.remove(city / name)
    os.rmdir(city)
    (src / 'gtFine' / 'spare').mkdir()
    os.symlink(src / 'gtFine' / 'spare', city)
    with pytest.raises(ValueError, match=r'_p00_gtFine_labelTrainIds.png '
                       r'resolves to .*spare.*inside the source root'):
        cut(src, out)
    assert os.listdir(src / 'gtFine' / 'spare') == []
    assert {p: (src / p).read_bytes() for p in all_files(src)} == before


def test_make_patches_names_an_unreadable_source(tmp_path):
    src = make_fake_cityscapes(tmp_path / 'src', num_images=1)
    label, = glob.glob(str(src / 'gtFine/*/*/*.png'))
    data = open(label, 'rb').read()
    open(label, 'wb').write(data[:len(data) // 2])
    with pytest.raises(OSError, match=r'gtFine_labelTrainIds.png is '
                       r'truncated or not an image'):
        cut(src, tmp_path / 'out')


def test_make_patches_cli(tmp_path, capsys):
    src = make_fake_cityscapes(tmp_path / 'src', num_images=1)
    argv = [str(src), str(tmp_path / 'out'), '--patch', '44']
    tool_main('make_patches')(argv)
    assert '1 images -> 8 image/label patch pairs' in capsys.readouterr().out
    with pytest.raises(SystemExit, match="^error: Split 'train' .* was cut "
                       'with patch=44'):
        tool_main('make_patches')(argv[:-1] + ['40'])


# ---------------------------------------------------------- class frequency
def write_label(path, values):
    os.makedirs(osp.dirname(path), exist_ok=True)
    cv2.imwrite(str(path), np.array(values, np.uint8).reshape(3, -1))


def count(labels, out, **kwargs):
    return class_frequency.write_class_frequency(
        str(labels), str(out), **dict(dict(classes=['a', 'b', 'c'],
                                           progress=False), **kwargs))


def test_class_frequency_counts_by_hand(tmp_path):
    labels = tmp_path / 'labels'
    # a: 6 x class 0, 3 x class 1, 3 x ignore; b: 2 x class 1, 10 x class 2.
    write_label(labels / 'x' / 'a_gtFine_labelTrainIds.png',
                [0] * 6 + [1] * 3 + [255] * 3)
    write_label(labels / 'y' / 'b_gtFine_labelTrainIds.png',
                [1] * 2 + [2] * 10)
    write_label(labels / 'y' / 'b_gtFine_color.png', [7] * 12)  # not read
    out = tmp_path / 'freq.json'
    returned = count(labels, out, nproc=2)
    content = json.loads(out.read_text())
    assert content == returned
    assert content['classes'] == ['a', 'b', 'c']
    assert content['pixel_counts'] == [6, 5, 10]
    np.testing.assert_allclose(content['frequencies'], [6 / 21, 5 / 21,
                                                        10 / 21])
    assert str(labels) in content['source']
    np.testing.assert_allclose(load_class_frequencies(str(out), 3).numpy(),
                               [6 / 21, 5 / 21, 10 / 21])


def test_class_frequency_classes_come_from_the_dataset_metainfo():
    assert class_frequency.dataset_classes() == list(
        CityscapesDataset.METAINFO['classes'])
    with pytest.raises(KeyError, match='NoSuchDataset is not a registered'):
        class_frequency.dataset_classes('NoSuchDataset')


def test_class_frequency_refuses_to_overwrite_without_force(tmp_path):
    labels = tmp_path / 'labels'
    write_label(labels / 'a_gtFine_labelTrainIds.png', [0, 1, 2] * 4)
    out = tmp_path / 'freq.json'
    out.write_text('keep me')
    with pytest.raises(FileExistsError, match='--force'):
        count(labels, out)
    assert out.read_text() == 'keep me'
    count(labels, out, overwrite=True)
    assert json.loads(out.read_text())['pixel_counts'] == [4, 4, 4]


def test_class_frequency_checks_the_output_before_counting(tmp_path,
                                                           monkeypatch):
    labels = tmp_path / 'labels'
    write_label(labels / 'a_gtFine_labelTrainIds.png', [0, 1, 2] * 4)

    def never(*args, **kwargs):
        raise AssertionError('labels were counted before --out was checked')

    monkeypatch.setattr(class_frequency, 'count_label_folder', never)
    with pytest.raises(IsADirectoryError, match='is a folder; pass a file'):
        count(labels, labels)
    with pytest.raises(IsADirectoryError, match='is a folder; pass a file'):
        count(labels, f'{tmp_path}/missing/')
    (tmp_path / 'file').write_text('')
    with pytest.raises(NotADirectoryError, match='is a file, not a folder'):
        count(labels, tmp_path / 'file' / 'freq.json')
    monkeypatch.undo()
    # A missing folder is created, after counting.
    out = tmp_path / 'new' / 'sub' / 'freq.json'
    count(labels, out)
    assert json.loads(out.read_text())['pixel_counts'] == [4, 4, 4]
    assert os.listdir(out.parent) == ['freq.json']  # no .part left


@pytest.mark.parametrize('damage, message', [
    ('truncate', 'is truncated or not an image'),
    ('empty', r'is empty \(0 bytes\)'),
    ('colour', 'colour labels'),
    ('value', r'holds label values \[7\]'),
])
def test_class_frequency_bad_label_names_the_file(tmp_path, damage,
                                                  message):
    labels = tmp_path / 'labels'
    write_label(labels / 'good_gtFine_labelTrainIds.png', [0, 1, 2] * 4)
    bad = labels / 'bad_gtFine_labelTrainIds.png'
    write_label(bad, [0, 1, 7 if damage == 'value' else 2] * 4)
    if damage == 'truncate':
        bad.write_bytes(bad.read_bytes()[:40])
    elif damage == 'empty':
        bad.write_bytes(b'')
    elif damage == 'colour':
        cv2.imwrite(str(bad), np.zeros((3, 4, 3), np.uint8))
    out = tmp_path / 'freq.json'
    with pytest.raises(ValueError,
                       match=rf'bad_gtFine_labelTrainIds.png .*{message}'):
        count(labels, out)
    assert not out.exists()
    if damage != 'colour':
        with pytest.raises(ValueError) as error:
            count(labels, out)
        assert 'colour' not in str(error.value)


def test_class_frequency_table_matches_owfl_factors():
    with pytest.raises(ValueError):
        class_frequency.class_frequency_table(['a', 'b'], [5, 0])
    table = class_frequency.class_frequency_table(['a', 'b'], [990, 10])
    alpha, gamma = owfl_alpha_gamma(load_class_frequencies([990, 10], 2))
    assert table.field_names == ['class', 'pixels', 'frequency', 'alpha',
                                 'gamma']
    rows = table.rows
    assert [row[0] for row in rows] == ['a', 'b']
    assert [row[1] for row in rows] == [990, 10]
    np.testing.assert_allclose([float(row[2]) for row in rows], [.99, .01])
    np.testing.assert_allclose([float(row[3]) for row in rows], alpha,
                               atol=1e-3)
    assert [row[4] for row in rows] == gamma.tolist()


def test_class_frequency_cli(tmp_path, capsys):
    labels = tmp_path / 'labels'
    write_label(labels / 'a_gtFine_labelTrainIds.png', [0, 1, 2] * 4)
    out = tmp_path / 'freq.json'
    argv = [str(labels), '--out', str(out), '--classes', 'a', 'b', 'c']
    tool_main('class_frequency')(argv)
    printed = capsys.readouterr().out
    assert '| a ' in printed and f'Wrote {out}' in printed
    with pytest.raises(SystemExit, match='^error: .*--force'):
        tool_main('class_frequency')(argv)
    with pytest.raises(SystemExit, match='^error: .*is a folder'):
        tool_main('class_frequency')([str(labels), '--out', str(labels)])


@pytest.mark.parametrize('link', ['same', 'symlink', 'hardlink'])
def test_class_frequency_never_overwrites_one_of_its_labels(tmp_path, link):
    """No option, --force included, replaces an input."""
    labels = tmp_path / 'labels'
    label = labels / 'sub' / 'a_gtFine_labelTrainIds.png'
    write_label(label, [0, 1, 2] * 4)
    before = label.read_bytes()
    out = label
    if link != 'same':
        out = tmp_path / 'freq.json'
        (os.symlink if link == 'symlink' else os.link)(label, out)

    with pytest.raises(SystemExit, match=r'^error: The output .* is the '
                       r'input .*a_gtFine_labelTrainIds.png'):
        tool_main('class_frequency')([str(labels), '--out', str(out),
                                      '--classes', 'a', 'b', 'c',
                                      '--force'])

    assert label.read_bytes() == before
