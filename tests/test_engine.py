"""tools/train.py and tools/test.py end to end, and their input checks."""
import glob
import json
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.config import Config

from _tools import REPO_ROOT, load_tool
from _train_helpers import (build_tiny_runner, make_demo_data,
                            write_tiny_config)
from mmseg_affnet.datasets import check_dataset_layout

EPOCHS = 6


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    # Two training images and batch 2: every epoch trains on the same batch.
    return make_demo_data(
        str(tmp_path_factory.mktemp('demo') / 'data'), num_train=2)


@pytest.fixture(scope='module')
def trained(tmp_path_factory, demo_root):
    """Train the tiny config with tools/train.py; return (config, work dir)."""
    root = tmp_path_factory.mktemp('trained')
    config = write_tiny_config(
        str(root / 'tiny.py'), demo_root, max_epochs=EPOCHS, lr=1e-3)
    work_dir = str(root / 'work_dir')
    load_tool('train').main([
        config, '--work-dir', work_dir, '--cfg-options',
        'experiment_name=engine_train'
    ])
    return config, work_dir


def _logged_losses(work_dir: str) -> list:
    scalars, = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(scalars) as f:
        records = [json.loads(line) for line in f]
    return [r['loss'] for r in records if 'loss' in r]


def test_training_lowers_the_loss_and_saves_checkpoints(trained):
    _, work_dir = trained
    losses = _logged_losses(work_dir)
    assert len(losses) == EPOCHS
    assert np.mean(losses[-2:]) < np.mean(losses[:2])
    checkpoint = torch.load(
        osp.join(work_dir, f'epoch_{EPOCHS}.pth'), weights_only=True)
    assert checkpoint['meta']['epoch'] == EPOCHS
    assert not glob.glob(osp.join(work_dir, '*.part'))


def test_test_tool_reports_gamma_groups_and_writes_images(
        trained, tmp_path):
    config, work_dir = trained
    out_dir, show_dir = str(tmp_path / 'pred'), str(tmp_path / 'show')
    load_tool('test').main([
        config, osp.join(work_dir, f'epoch_{EPOCHS}.pth'), '--work-dir',
        str(tmp_path / 'test'), '--out', out_dir, '--show-dir', show_dir,
        '--cfg-options', 'experiment_name=engine_test'
    ])
    log, = glob.glob(str(tmp_path / 'test' / '*' / '*.log'))
    with open(log) as f:
        text = f.read()
    for key in ('mIoU:', 'mIoU_gamma0:', 'mIoU_gamma1:', 'mIoU_gamma2:'):
        assert key in text
    # One predicted label map and one painted image per val image.
    assert len(os.listdir(out_dir)) == 2
    assert len(glob.glob(osp.join(show_dir, '*', 'vis_image', '*'))) == 2


TEST_SERVER_CONFIG = """
_base_ = [{base!r}]
test_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(
        data_root={data_root!r},
        data_prefix=dict(img_path='leftImg8bit/val'),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='PackSegInputs')]))
"""


def test_test_server_config_writes_label_id_pngs(trained, demo_root,
                                                 tmp_path):
    labels = pytest.importorskip('cityscapesscripts.helpers.labels')
    config = str(tmp_path / 'server.py')
    with open(config, 'w') as f:
        f.write(TEST_SERVER_CONFIG.format(
            base=osp.join(REPO_ROOT, 'configs',
                          'affnet_cityscapes_test-server.py'),
            data_root=demo_root))
    out_dir = str(tmp_path / 'format_results')
    load_tool('test').main([
        config, osp.join(trained[1], f'epoch_{EPOCHS}.pth'), '--work-dir',
        str(tmp_path / 'test'), '--out', out_dir, '--cfg-options',
        'experiment_name=engine_test_server'
    ])

    pngs = sorted(glob.glob(osp.join(out_dir, '*_leftImg8bit.png')))
    assert len(pngs) == 2
    label_ids = {label.id for train_id, label in labels.trainId2label.items()
                 if 0 <= train_id < 19}
    for png in pngs:
        assert set(np.unique(cv2.imread(png, cv2.IMREAD_UNCHANGED))) <= \
            label_ids


@pytest.mark.parametrize('flags, expected', [
    ([], '--resume'),
    (['--resume'], 'no last_checkpoint'),
])
def test_refuses_to_overwrite_checkpoints(tmp_path, demo_root, flags,
                                          expected):
    work_dir = tmp_path / 'work_dir'
    work_dir.mkdir()
    (work_dir / 'epoch_3.pth').write_bytes(b'weights of an earlier run')
    config = write_tiny_config(str(tmp_path / 'tiny.py'), demo_root)

    with pytest.raises(FileExistsError, match=expected) as error:
        load_tool('train').main([config, '--work-dir', str(work_dir)] +
                                flags)

    assert str(work_dir) in str(error.value)
    assert (work_dir / 'epoch_3.pth').read_bytes() == \
        b'weights of an earlier run'
    assert os.listdir(work_dir) == ['epoch_3.pth']


def test_missing_data_root_is_named_before_loading(tmp_path, demo_root):
    missing = str(tmp_path / 'no_such_cityscapes')
    runner = build_tiny_runner(
        tmp_path, demo_root,
        **{'train_dataloader.dataset.data_root': missing})
    with pytest.raises(FileNotFoundError) as error:
        runner.train()
    message = str(error.value)
    for expected in (missing, 'leftImg8bit/train/<city>/*_leftImg8bit.png',
                     '*_gtFine_labelTrainIds.png',
                     'tools/dataset_converters/cityscapes.py',
                     'tools/make_demo_dataset.py'):
        assert expected in message
    assert runner._train_loop is None or isinstance(runner._train_loop, dict)


def test_images_without_label_maps_are_named(tmp_path, demo_root):
    data_root = str(tmp_path / 'data')
    shutil.copytree(demo_root, data_root)
    label, = glob.glob(osp.join(data_root, 'gtFine', 'val', '*', '*_000001_*'))
    os.remove(label)
    cfg = Config.fromfile(
        write_tiny_config(str(tmp_path / 'tiny.py'), data_root))

    with pytest.raises(ValueError, match='1 of 2 images') as error:
        check_dataset_layout(cfg.val_dataloader.dataset, 'val_dataloader')
    assert label in str(error.value)
    check_dataset_layout(cfg.train_dataloader.dataset)


@pytest.mark.parametrize('bad_value', [19, 33, 254])
def test_label_values_outside_train_ids_are_rejected(tmp_path, bad_value):
    label = np.full((4, 6), 255, np.uint8)
    label[:, :3] = np.arange(3)
    cv2.imwrite(str(tmp_path / 'good.png'), label)
    label[2, 4] = bad_value
    cv2.imwrite(str(tmp_path / 'bad.png'), label)
    pipeline = Compose([
        dict(type='LoadAnnotations'),
        dict(type='CheckSegLabels', num_classes=19)
    ])

    good = pipeline(dict(seg_map_path=str(tmp_path / 'good.png'),
                         reduce_zero_label=False, seg_fields=[]))
    assert good['gt_seg_map'].max() == 255
    with pytest.raises(ValueError, match=rf'bad\.png.*\[{bad_value}\]'):
        pipeline(dict(seg_map_path=str(tmp_path / 'bad.png'),
                      reduce_zero_label=False, seg_fields=[]))


@pytest.mark.parametrize(
    'config', ['affnet_cityscapes.py', 'affnet_cityscapes_stage1.py'])
def test_config_pipelines_check_labels_after_loading(config):
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', config))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        types = [t['type'] for t in cfg[loader].dataset.pipeline]
        at = types.index('LoadAnnotations')
        assert types[at + 1] == 'CheckSegLabels', loader


def test_interrupted_save_keeps_the_previous_checkpoint(
        tmp_path, demo_root, monkeypatch):
    runner = build_tiny_runner(tmp_path, demo_root)
    save = dict(save_optimizer=False, save_param_scheduler=False)
    runner.save_checkpoint(runner.work_dir, 'epoch_1.pth', **save)
    path = osp.join(runner.work_dir, 'epoch_1.pth')
    with open(path, 'rb') as f:
        saved = f.read()

    def crash(*args, **kwargs):
        raise OSError('disk full')

    monkeypatch.setattr(torch, 'save', crash)
    with pytest.raises(OSError, match='disk full'):
        runner.save_checkpoint(runner.work_dir, 'epoch_1.pth', **save)
    with open(path, 'rb') as f:
        assert f.read() == saved
