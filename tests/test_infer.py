"""tools/infer.py: masks and overlays of a checkpoint's predictions."""
import os
import os.path as osp
import pickle
from argparse import Namespace

import cv2
import numpy as np
import pytest
import torch
from mmengine import Config
from mmengine.logging import MessageHub
from mmseg.apis import init_model
from mmseg.datasets import CityscapesDataset

from _tools import REPO_ROOT, load_tool
from mmseg_affnet.datasets.transforms import CheckSegLabels
from mmseg_affnet.engine import to_weights_only_safe

CAR = 13  # a Cityscapes train id whose colour has distinct R, G and B
CITYSCAPES_PALETTE = np.array(CityscapesDataset.METAINFO['palette'])

infer = load_tool('infer')


@pytest.fixture(scope='module')
def config(tmp_path_factory) -> str:
    """AFFNet's Cityscapes config, testing at a small scale.

    The test pipeline keeps the config's label transforms, which inference
    must get through without labels.
    """
    path = tmp_path_factory.mktemp('config') / 'affnet_small.py'
    path.write_text(
        f"_base_ = ['{REPO_ROOT}/configs/affnet_cityscapes.py']\n"
        'test_pipeline = [\n'
        "    dict(type='LoadImageFromFile'),\n"
        "    dict(type='Resize', scale=(128, 64), keep_ratio=True),\n"
        "    dict(type='LoadAnnotations'),\n"
        "    dict(type='CheckSegLabels', num_classes=19),\n"
        "    dict(type='PackSegInputs'),\n"
        ']\n')
    return str(path)


@pytest.fixture(scope='module')
def state_dict(config) -> dict:
    """Random weights whose classifier predicts CAR everywhere."""
    model = init_model(config, device='cpu')
    torch.nn.init.zeros_(model.decode_head.conv_seg.weight)
    with torch.no_grad():
        model.decode_head.conv_seg.bias.copy_(
            torch.nn.functional.one_hot(torch.tensor(CAR), 19) * 10.0)
    return model.state_dict()


def runner_checkpoint(state_dict: dict, safe_message_hub: bool) -> dict:
    """What mmengine's Runner saves (message hub made plain by this project's
    checkpoint hook if ``safe_message_hub``)."""
    hub = MessageHub.get_instance('test_infer')
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_info('iter', np.int64(3))
    message_hub = hub.state_dict()
    return dict(
        meta=dict(
            dataset_meta=dict(CityscapesDataset.METAINFO), iter=3, seed=0),
        state_dict=state_dict,
        message_hub=to_weights_only_safe(message_hub)
        if safe_message_hub else message_hub)


def save(tmp_path, content, name='model.pth') -> str:
    path = str(tmp_path / name)
    torch.save(content, path)
    return path


def write_image(path, height: int, width: int) -> np.ndarray:
    """Write a random image; return it as read back (JPEG is lossy)."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    image = np.random.default_rng(height).integers(
        0, 256, (height, width, 3), dtype=np.uint8)
    cv2.imwrite(str(path), image)
    return cv2.imread(str(path))


def test_writes_masks_and_overlays_and_skips_corrupt(tmp_path, config,
                                                     state_dict, capsys):
    checkpoint = save(tmp_path, runner_checkpoint(state_dict, False))
    single = write_image(tmp_path / 'in' / 'a.png', 37, 53)
    nested = write_image(tmp_path / 'folder' / 'sub' / 'b.jpg', 101, 67)
    (tmp_path / 'folder' / 'c.png').write_bytes(b'not an image')
    out = tmp_path / 'out'

    status = infer.main([
        config, checkpoint,
        str(tmp_path / 'in' / 'a.png'),
        str(tmp_path / 'folder'), '--out',
        str(out), '--device', 'cpu', '--opacity', '0.25'
    ])

    assert status == 1
    assert 'c.png' in capsys.readouterr().out
    written = sorted(
        osp.relpath(osp.join(root, name), out)
        for root, _, names in os.walk(out) for name in names)
    assert written == [
        'a_mask.png', 'a_overlay.png', 'sub/b_mask.png', 'sub/b_overlay.png'
    ]
    car_bgr = CITYSCAPES_PALETTE[CAR][::-1]
    for stem, image in (('a', single), ('sub/b', nested)):
        mask = cv2.imread(str(out / f'{stem}_mask.png'))
        overlay = cv2.imread(str(out / f'{stem}_overlay.png'))
        assert mask.shape == overlay.shape == image.shape
        assert (mask == car_bgr).all()
        expected = 0.75 * image + 0.25 * car_bgr
        assert np.abs(overlay - expected).max() <= 1


@pytest.mark.parametrize('kind', ['runner', 'project', 'state_dict_only'])
def test_loads_checkpoints_weights_only(tmp_path, config, state_dict, kind):
    content = dict(
        runner=lambda: runner_checkpoint(state_dict, False),
        project=lambda: runner_checkpoint(state_dict, True),
        state_dict_only=lambda: state_dict)[kind]()
    path = save(tmp_path, content)
    if kind == 'runner':  # what the stand-ins are for
        with pytest.raises(pickle.UnpicklingError):
            torch.load(path, weights_only=True)

    checkpoint = infer.load_checkpoint(path)

    weights = checkpoint.get('state_dict', checkpoint)
    assert weights.keys() == state_dict.keys()
    assert all(torch.equal(weights[k], v) for k, v in state_dict.items())
    palette = infer.dataset_palette(checkpoint, Config.fromfile(config), 19)
    np.testing.assert_array_equal(palette, CITYSCAPES_PALETTE)


def test_refuses_checkpoint_with_other_objects(tmp_path):
    path = save(tmp_path, dict(state_dict={}, meta=Namespace(x=1)))
    with pytest.raises(RuntimeError, match='not loaded'):
        infer.load_checkpoint(path)


def test_checkpoint_of_another_model_is_an_error(tmp_path, config,
                                                 state_dict):
    weights = dict(state_dict)
    weights.pop('decode_head.conv_seg.bias')
    with pytest.raises(ValueError, match='do not fit'):
        infer.build_model(config, save(tmp_path, weights), 'cpu')


def test_missing_checkpoint_is_an_error_before_writing(tmp_path, config):
    write_image(tmp_path / 'a.png', 9, 11)
    out = tmp_path / 'out'
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        infer.main([
            config,
            str(tmp_path / 'missing.pth'),
            str(tmp_path / 'a.png'), '--out',
            str(out)
        ])
    assert not out.exists()


def test_never_overwrites_existing_outputs(tmp_path):
    write_image(tmp_path / 'a.png', 9, 11)
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'a_overlay.png').write_bytes(b'keep me')
    with pytest.raises(FileExistsError, match='a_overlay.png'):
        infer.plan_jobs([str(tmp_path / 'a.png')], str(out))
    assert (out / 'a_overlay.png').read_bytes() == b'keep me'
    assert not (out / 'a_mask.png').exists()


def test_two_inputs_with_one_output_name_are_an_error(tmp_path):
    write_image(tmp_path / 'x' / 'a.png', 9, 11)
    write_image(tmp_path / 'y' / 'a.jpg', 9, 11)
    with pytest.raises(FileExistsError, match='would both be written'):
        infer.plan_jobs(
            [str(tmp_path / 'x' / 'a.png'),
             str(tmp_path / 'y' / 'a.jpg')], str(tmp_path / 'out'))


def test_missing_input_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere'):
        infer.plan_jobs([str(tmp_path / 'nowhere')], str(tmp_path / 'out'))


def test_label_check_lets_unlabelled_images_through():
    """mmseg's inference drops LoadAnnotations but keeps CheckSegLabels."""
    check = CheckSegLabels(num_classes=19)
    sample = dict(img=np.zeros((4, 4, 3), np.uint8))
    assert check(sample) is sample
    with pytest.raises(ValueError, match='outside 0..18'):
        check(dict(gt_seg_map=np.full((4, 4), 33, np.uint8),
                   seg_map_path='x_labelIds.png'))
