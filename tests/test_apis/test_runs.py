"""Training and testing runs end to end, and the checks before they start."""
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
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

from tests.utils.tools import CONFIGS_DIR
from tests.utils.training import (IMAGE_SIZE, make_demo_data, tiny_config,
                                  write_tiny_config)
from mmseg_affnet.apis import build_runner, run_test, run_training
from mmseg_affnet.datasets import check_dataset_layout
from mmseg_affnet.engine import check_work_dir

EPOCHS = 6


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    # Two training images and batch 2: every epoch trains on the same batch.
    return make_demo_data(
        str(tmp_path_factory.mktemp('demo') / 'data'), num_train=2)


@pytest.fixture(scope='module')
def trained(tmp_path_factory, demo_root):
    """Train the tiny config; return (config path, work dir)."""
    root = tmp_path_factory.mktemp('trained')
    config = write_tiny_config(
        str(root / 'tiny.py'), demo_root, max_epochs=EPOCHS, lr=1e-3)
    cfg = Config.fromfile(config)
    cfg.work_dir = str(root / 'work_dir')
    cfg.experiment_name = 'engine_train'
    run_training(cfg)
    return config, cfg.work_dir


def _logged_losses(work_dir: str) -> list:
    scalars, = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(scalars) as f:
        records = [json.loads(line) for line in f]
    return [r['loss'] for r in records if 'loss' in r]


def _test_config(config: str, work_dir: str, name: str) -> Config:
    cfg = Config.fromfile(config)
    cfg.work_dir, cfg.experiment_name = work_dir, name
    return cfg


def test_training_lowers_the_loss_and_saves_checkpoints(trained):
    _, work_dir = trained
    losses = _logged_losses(work_dir)
    assert len(losses) == EPOCHS
    assert np.mean(losses[-2:]) < np.mean(losses[:2])
    checkpoint = torch.load(
        osp.join(work_dir, f'epoch_{EPOCHS}.pth'), weights_only=True)
    assert checkpoint['meta']['epoch'] == EPOCHS
    assert not glob.glob(osp.join(work_dir, '*.part'))


def test_test_run_reports_gamma_groups_and_writes_images(trained, tmp_path):
    config, work_dir = trained
    out_dir, show_dir = str(tmp_path / 'pred'), str(tmp_path / 'show')
    metrics = run_test(
        _test_config(config, str(tmp_path / 'test'), 'engine_test'),
        osp.join(work_dir, f'epoch_{EPOCHS}.pth'), out_dir, show_dir)
    for key in ('mIoU', 'mIoU_gamma0', 'mIoU_gamma1', 'mIoU_gamma2'):
        assert 0 <= metrics[key] <= 100
    # One predicted label map and one painted image per val image.
    assert len(os.listdir(out_dir)) == 2
    assert len(glob.glob(osp.join(show_dir, '*', 'vis_image', '*'))) == 2


def test_test_time_augmentation_averages_the_flipped_view(
        trained, tmp_path, monkeypatch):
    from mmseg.models import SegTTAModel
    config, work_dir = trained
    checkpoint = osp.join(work_dir, f'epoch_{EPOCHS}.pth')
    cfg = _test_config(config, str(tmp_path / 'tta'), 'engine_tta')
    cfg.tta_model = None  # mmseg's Cityscapes base defines one
    with pytest.raises(ValueError, match='needs tta_model and tta_pipeline'):
        run_test(cfg, checkpoint, tta=True)
    # the CamVid CPU config's flip augmentation, at the tiny images' size
    camvid = Config.fromfile(
        osp.join(CONFIGS_DIR, 'camvid', 'affnet_camvid_cpu.py'))
    cfg.tta_model = camvid.tta_model
    cfg.tta_pipeline = camvid.tta_pipeline
    cfg.tta_pipeline[1].transforms[0] = [
        dict(type='Resize', scale=IMAGE_SIZE[::-1], keep_ratio=True)
    ]
    views = []
    merge_preds = SegTTAModel.merge_preds

    def counting_merge(self, data_samples_list):
        views.extend(len(samples) for samples in data_samples_list)
        return merge_preds(self, data_samples_list)

    monkeypatch.setattr(SegTTAModel, 'merge_preds', counting_merge)
    metrics = run_test(cfg, checkpoint, tta=True)
    assert views == [2, 2]  # each of the 2 val images: itself and mirrored
    for key in ('mIoU', 'mIoU_gamma0', 'mIoU_gamma1', 'mIoU_gamma2'):
        assert 0 <= metrics[key] <= 100


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
            base=osp.join(CONFIGS_DIR, 'affnet_cityscapes_test-server.py'),
            data_root=demo_root))
    out_dir = str(tmp_path / 'format_results')
    run_test(_test_config(config, str(tmp_path / 'test'), 'engine_server'),
             osp.join(trained[1], f'epoch_{EPOCHS}.pth'), out_dir)

    pngs = sorted(glob.glob(osp.join(out_dir, '*_leftImg8bit.png')))
    assert len(pngs) == 2
    label_ids = {label.id for train_id, label in labels.trainId2label.items()
                 if 0 <= train_id < 19}
    for png in pngs:
        assert set(np.unique(cv2.imread(png, cv2.IMREAD_UNCHANGED))) <= \
            label_ids


@pytest.mark.parametrize('resume, load_from, expected', [
    (False, None, '--resume'),
    (True, None, 'no last_checkpoint'),
    (True, 'other_run/epoch_9.pth', 'another training'),
])
def test_refuses_to_overwrite_checkpoints(tmp_path, resume, load_from,
                                          expected):
    work_dir = tmp_path / 'work_dir'
    work_dir.mkdir()
    (work_dir / 'epoch_3.pth').write_bytes(b'weights of an earlier run')

    with pytest.raises(FileExistsError, match=expected) as error:
        check_work_dir(str(work_dir), resume,
                       str(tmp_path / load_from) if load_from else None)

    assert str(work_dir) in str(error.value)
    assert os.listdir(work_dir) == ['epoch_3.pth']


def test_resume_from_an_earlier_checkpoint_of_the_same_run_is_allowed(
        tmp_path):
    (tmp_path / 'epoch_3.pth').write_bytes(b'weights')
    check_work_dir(str(tmp_path), True, str(tmp_path / 'epoch_2.pth'))


def test_missing_data_root_is_named_before_building(tmp_path, demo_root):
    missing = str(tmp_path / 'no_such_cityscapes')
    cfg = tiny_config(tmp_path, demo_root,
                      **{'train_dataloader.dataset.data_root': missing})
    with pytest.raises(FileNotFoundError) as error:
        run_training(cfg)
    message = str(error.value)
    for expected in (missing, 'leftImg8bit/train/<city>/*_leftImg8bit.png',
                     '*_gtFine_labelTrainIds.png',
                     'tools/dataset_converters/cityscapes.py',
                     'tools/make_demo_dataset.py'):
        assert expected in message


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
    init_default_scope('mmseg')  # Compose builds from mmseg's registry
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
    cfg = Config.fromfile(osp.join(CONFIGS_DIR, config))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        types = [t['type'] for t in cfg[loader].dataset.pipeline]
        at = types.index('LoadAnnotations')
        assert types[at + 1] == 'CheckSegLabels', loader
    hooks = [hook['type'] for hook in cfg.custom_hooks]
    assert hooks == ['PreflightCheckHook', 'DistTeardownHook']
    assert cfg.default_hooks.checkpoint.type == 'ResumableCheckpointHook'


def _no_training_happened(cfg: Config) -> bool:
    return not glob.glob(osp.join(cfg.work_dir, '*.pth'))


def _copy_with_a_label_id_in_val(tmp_path, demo_root: str):
    """Copy the demo data and put a Cityscapes label id (26, car) instead of
    a train id into one val label map; return the copy's root and that
    label map."""
    data_root = str(tmp_path / 'data')
    shutil.copytree(demo_root, data_root)
    label = sorted(glob.glob(
        osp.join(data_root, 'gtFine', 'val', '*', '*.png')))[-1]
    label_map = cv2.imread(label, cv2.IMREAD_UNCHANGED)
    label_map[0, 0] = 26
    cv2.imwrite(label, label_map)
    return data_root, label


def test_val_label_ids_are_found_before_training(tmp_path, demo_root):
    data_root, label = _copy_with_a_label_id_in_val(tmp_path, demo_root)
    cfg = tiny_config(tmp_path, data_root,
                      **{'train_cfg.val_interval': 1})

    with pytest.raises(ValueError, match=osp.basename(label)):
        run_training(cfg)
    assert _no_training_happened(cfg)


@pytest.mark.parametrize('option, value, expected', [
    ('model.decode_head.num_classes', 10, 'has 19 classes'),
    ('train_dataloader.dataset.pipeline.2.num_classes', 25,
     'CheckSegLabels accepts labels below 25'),
])
def test_class_counts_must_agree_before_training(tmp_path, demo_root,
                                                 option, value, expected):
    cfg = tiny_config(tmp_path, demo_root)
    if option.startswith('model'):
        cfg.model.decode_head.num_classes = value
        cfg.model.decode_head.loss_decode = [
            dict(type='CrossEntropyLoss', avg_non_ignore=True)]
    else:
        step = cfg.train_dataloader.dataset.pipeline[2]
        assert step.type == 'CheckSegLabels'
        step.num_classes = value
    with pytest.raises(ValueError, match=expected):
        run_training(cfg)
    assert _no_training_happened(cfg)


def test_batch_of_one_tiny_image_is_refused(tmp_path):
    data_root = make_demo_data(str(tmp_path / 'data'), num_train=1,
                               num_val=1)
    cfg = tiny_config(
        tmp_path, data_root, **{
            'train_dataloader.batch_size': 1,
            'model.data_preprocessor.size': (32, 32),
            'train_dataloader.dataset.pipeline': [
                dict(type='LoadImageFromFile'),
                dict(type='LoadAnnotations'),
                dict(type='Resize', scale=(32, 32)),
                dict(type='PackSegInputs')
            ]
        })
    with pytest.raises(ValueError, match='batch of at least 2'):
        run_training(cfg)


def test_stage_two_starts_from_the_stage_one_checkpoint(trained, tmp_path,
                                                        demo_root):
    stage1 = osp.join(trained[1], f'epoch_{EPOCHS}.pth')
    stage2 = Config.fromfile(osp.join(CONFIGS_DIR, 'affnet_cityscapes.py'))
    # The weights come through init_cfg, so that --resume resumes the run.
    assert stage2.load_from is None
    assert stage2.model.init_cfg.type == 'Pretrained'
    cfg = tiny_config(tmp_path, demo_root)
    cfg.model.init_cfg = dict(type='Pretrained', checkpoint=stage1)
    model = build_runner(cfg).model
    model.init_weights()
    expected = torch.load(stage1, weights_only=True)['state_dict']
    for key, value in model.state_dict().items():
        assert torch.equal(value, expected[key]), key


def test_class_counts_are_checked_before_testing(trained, tmp_path):
    # A checkpoint of a 10-class head, tested on the 19-class data with the
    # config's head set to 10 classes, must not give a 19-class table.
    config, _ = trained
    cfg = _test_config(config, str(tmp_path / 'test'), 'engine_test_10')
    cfg.model.decode_head.num_classes = 10
    cfg.model.decode_head.loss_decode = [
        dict(type='CrossEntropyLoss', avg_non_ignore=True)]
    init_default_scope('mmseg')
    checkpoint = str(tmp_path / 'ten_classes.pth')
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict()},
               checkpoint)

    with pytest.raises(ValueError, match='num_classes is 10 but the '
                       'test_dataloader dataset .* has 19 classes'):
        run_test(cfg, checkpoint)


def test_test_labels_are_checked_before_testing(trained, tmp_path,
                                                demo_root):
    # mmseg's own tools/test.py (a plain Runner with load_from) and a test
    # pipeline without CheckSegLabels: a label id in the test split was
    # ignored by the metric, and the run scored without it.
    config, work_dir = trained
    data_root, label = _copy_with_a_label_id_in_val(tmp_path, demo_root)
    cfg = _test_config(config, str(tmp_path / 'test'), 'engine_test_ids')
    cfg.test_dataloader.dataset.data_root = data_root
    cfg.test_dataloader.dataset.pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='PackSegInputs')
    ]
    cfg.load_from = osp.join(work_dir, f'epoch_{EPOCHS}.pth')

    with pytest.raises(ValueError, match=osp.basename(label)):
        build_runner(cfg).test()
