"""mmseg_affnet.apis.infer (tools/infer.py): masks and overlays of a
checkpoint's predictions."""
import os
import os.path as osp
import runpy

import cv2
import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmseg.datasets import CityscapesDataset

from mmseg_affnet.apis import init_segmentor
from mmseg_affnet.apis.infer import plan_jobs, segment_images
from mmseg_affnet.datasets.transforms import CheckSegLabels
from mmseg_affnet.engine import to_weights_only_safe
from tests.utils.tools import REPO_ROOT


CAR = CityscapesDataset.METAINFO['classes'].index('car')
CITYSCAPES_PALETTE = np.array(CityscapesDataset.METAINFO['palette'])
NUM_CLASSES = len(CITYSCAPES_PALETTE)


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
        f"    dict(type='CheckSegLabels', num_classes={NUM_CLASSES}),\n"
        "    dict(type='PackSegInputs'),\n"
        ']\n'
        'test_dataloader = dict(dataset=dict(pipeline=test_pipeline))\n')
    return str(path)


@pytest.fixture(scope='module')
def state_dict(config) -> dict:
    """Random weights whose classifier predicts CAR everywhere."""
    model = init_segmentor(config)
    torch.nn.init.zeros_(model.decode_head.conv_seg.weight)
    with torch.no_grad():
        model.decode_head.conv_seg.bias.copy_(
            torch.nn.functional.one_hot(torch.tensor(CAR), NUM_CLASSES) *
            10.0)
    return model.state_dict()


def runner_checkpoint(state_dict: dict, safe_message_hub: bool,
                      palette=None) -> dict:
    """What mmengine's Runner saves (message hub made plain by this project's
    checkpoint hook if ``safe_message_hub``)."""
    hub = MessageHub.get_instance('test_infer')
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_info('iter', np.int64(3))
    message_hub = hub.state_dict()
    dataset_meta = dict(CityscapesDataset.METAINFO)
    if palette is not None:
        dataset_meta['palette'] = palette
    return dict(
        meta=dict(dataset_meta=dataset_meta, iter=3, seed=0),
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


def written_files(out) -> list:
    return sorted(
        osp.relpath(osp.join(root, name), out)
        for root, _, names in os.walk(out) for name in names)


def infer_main():
    """``main`` of tools/infer.py, to test the command line itself."""
    return runpy.run_path(osp.join(REPO_ROOT, 'tools', 'infer.py'),
                          run_name='tool_infer')['main']


def test_writes_masks_and_overlays_and_skips_unreadable(
        tmp_path, config, state_dict, capsys):
    checkpoint = save(tmp_path, runner_checkpoint(state_dict, True))
    single = write_image(tmp_path / 'in' / 'a.png', 37, 53)
    nested = write_image(tmp_path / 'folder' / 'sub' / 'b.jpg', 101, 67)
    (tmp_path / 'folder' / 'c.png').write_bytes(b'not an image')
    (tmp_path / 'folder' / 'empty.jpg').write_bytes(b'')
    out = tmp_path / 'out'

    status = infer_main()([
        config, checkpoint,
        str(tmp_path / 'in' / 'a.png'),
        str(tmp_path / 'folder'), '--out',
        str(out), '--device', 'cpu', '--opacity', '0.25'
    ])

    assert status == 1
    printed = capsys.readouterr().out
    assert f'Skipped {tmp_path}/folder/c.png: the file is truncated or ' \
        'not an image' in printed
    assert f'Skipped {tmp_path}/folder/empty.jpg: the file is empty ' \
        '(0 bytes)' in printed
    assert 'Segmented 2 of 4 images' in printed
    assert written_files(out) == [
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


def test_every_image_readable_is_status_0(tmp_path, config, state_dict):
    checkpoint = save(tmp_path, state_dict)
    write_image(tmp_path / 'a.png', 9, 11)
    assert infer_main()([config, checkpoint, str(tmp_path / 'a.png'),
                         '--out', str(tmp_path / 'out')]) == 0


@pytest.mark.parametrize('kind', ['project', 'state_dict_only'])
def test_palette_from_checkpoint_else_config(tmp_path, config, state_dict,
                                             kind):
    palette = [[i, 2 * i, 3 * i] for i in range(NUM_CLASSES)]
    content = dict(project=runner_checkpoint(state_dict, True, palette),
                   state_dict_only=state_dict)[kind]
    write_image(tmp_path / 'a.png', 9, 11)
    summary = segment_images(config, save(tmp_path, content),
                             [str(tmp_path / 'a.png')], str(tmp_path / 'out'),
                             'cpu', progress=False)
    assert summary.skipped == [] and len(summary.segmented) == 1
    mask = cv2.imread(summary.segmented[0].mask)
    expected = palette[CAR] if kind == 'project' else CITYSCAPES_PALETTE[CAR]
    assert (mask == np.array(expected)[::-1]).all()


def test_refuses_checkpoint_with_python_objects(tmp_path, config,
                                                state_dict):
    """A raw mmengine Runner checkpoint (numpy values, HistoryBuffer objects
    in its message hub) is not unpickled."""
    write_image(tmp_path / 'a.png', 9, 11)
    path = save(tmp_path, runner_checkpoint(state_dict, False))
    with pytest.raises(ValueError, match='holds Python objects'):
        segment_images(config, path, [str(tmp_path / 'a.png')],
                       str(tmp_path / 'out'), 'cpu', progress=False)
    assert not (tmp_path / 'out').exists()


def test_checkpoint_of_another_model_is_an_error(tmp_path, config,
                                                 state_dict):
    weights = dict(state_dict)
    weights.pop('decode_head.conv_seg.bias')
    write_image(tmp_path / 'a.png', 9, 11)
    with pytest.raises(ValueError, match='does not fit'):
        segment_images(config, save(tmp_path, weights),
                       [str(tmp_path / 'a.png')], str(tmp_path / 'out'),
                       'cpu', progress=False)


def test_missing_checkpoint_is_an_error_before_writing(tmp_path, config):
    write_image(tmp_path / 'a.png', 9, 11)
    out = tmp_path / 'out'
    with pytest.raises(SystemExit, match=r'missing.pth does not exist') as \
            error:
        infer_main()([config, str(tmp_path / 'missing.pth'),
                      str(tmp_path / 'a.png'), '--out', str(out)])
    assert 'stage' not in str(error.value)
    assert not out.exists()


def test_never_overwrites_existing_outputs(tmp_path, config):
    write_image(tmp_path / 'a.png', 9, 11)
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'a_overlay.png').write_bytes(b'keep me')
    # Refused before the (here missing) checkpoint is even looked at.
    with pytest.raises(FileExistsError, match='a_overlay.png already exists'):
        segment_images(config, str(tmp_path / 'missing.pth'),
                       [str(tmp_path / 'a.png')], str(out), 'cpu',
                       progress=False)
    assert (out / 'a_overlay.png').read_bytes() == b'keep me'
    assert not (out / 'a_mask.png').exists()


def test_two_inputs_with_one_output_name_are_an_error(tmp_path):
    write_image(tmp_path / 'x' / 'a.png', 9, 11)
    write_image(tmp_path / 'y' / 'a.jpg', 9, 11)
    with pytest.raises(FileExistsError, match='would both be written'):
        plan_jobs(
            [str(tmp_path / 'x' / 'a.png'),
             str(tmp_path / 'y' / 'a.jpg')], str(tmp_path / 'out'))


def test_missing_input_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere'):
        plan_jobs([str(tmp_path / 'nowhere')], str(tmp_path / 'out'))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='No images'):
        plan_jobs([str(tmp_path / 'empty')], str(tmp_path / 'out'))


def test_opacity_outside_0_1_is_an_error(tmp_path, config):
    with pytest.raises(ValueError, match='opacity must be in'):
        segment_images(config, 'x.pth', [], str(tmp_path), opacity=1.5)


def test_label_check_lets_unlabelled_images_through():
    """mmseg's inference drops LoadAnnotations but keeps CheckSegLabels."""
    check = CheckSegLabels(num_classes=NUM_CLASSES)
    sample = dict(img=np.zeros((4, 4, 3), np.uint8))
    assert check(sample) is sample
    with pytest.raises(ValueError, match='outside 0..18'):
        check(dict(gt_seg_map=np.full((4, 4), 33, np.uint8),
                   seg_map_path='x_labelIds.png'))


# ----------------------------------------- devices and outputs, one line --
@pytest.mark.parametrize('device,needle', [
    ('foo', "--device 'foo' is not a device; use cpu, cuda or cuda:N"),
    ('cuda', '--device cuda: '),
    ('cuda:7', '--device cuda:7: '),
])
def test_a_device_torch_lacks_is_one_line(tmp_path, config, state_dict,
                                          device, needle):
    if device == 'cuda' and torch.cuda.is_available() or \
            device == 'cuda:7' and torch.cuda.device_count() > 7:
        pytest.skip('this machine has the device')
    write_image(tmp_path / 'a.png', 9, 11)
    out = tmp_path / 'out'
    with pytest.raises(SystemExit) as error:
        infer_main()([config, save(tmp_path, {'state_dict': state_dict}),
                      str(tmp_path / 'a.png'), '--out', str(out),
                      '--device', device])
    message = error.value.code
    assert message.startswith(f'error: {needle}'), message
    if device == 'cuda' and not torch.cuda.is_available():
        assert 'use --device cpu' in message
    assert not out.exists()


def test_out_that_is_a_file_is_one_line(tmp_path, config, state_dict):
    write_image(tmp_path / 'a.png', 9, 11)
    afile = tmp_path / 'results'
    afile.write_text('mine')
    with pytest.raises(SystemExit, match=rf'^error: --out {afile} is a file, '
                       'not a folder'):
        infer_main()([config, save(tmp_path, {'state_dict': state_dict}),
                      str(tmp_path / 'a.png'), '--out', str(afile),
                      '--device', 'cpu'])
    assert afile.read_text() == 'mine'


# ----------------------------------- entries not segmented, each named --
def test_a_1x1_image_is_segmented(tmp_path, config, state_dict):
    """Issue 31, case 16: mmseg's visualizer took the one-pixel prediction
    as an index and ended the run with an IndexError naming no file."""
    write_image(tmp_path / 'in' / 'tiny.png', 1, 1)
    summary = segment_images(config, save(tmp_path, state_dict),
                             [str(tmp_path / 'in')], str(tmp_path / 'out'),
                             'cpu', progress=False)
    assert summary.skipped == [] and len(summary.segmented) == 1
    mask = cv2.imread(summary.segmented[0].mask)
    assert mask.shape == (1, 1, 3)
    assert (mask == CITYSCAPES_PALETTE[CAR][::-1]).all()


def test_every_skipped_entry_is_named_with_its_reason(tmp_path, config,
                                                      state_dict, capsys):
    """Issue 31, case 16: an image the pipeline cannot scale (1 x 500 at
    the test config's 128 x 64), a link that loops, a link to nothing and
    a named pipe named as images are each skipped and named; the other
    images are segmented, in a folder named as an image too, and a link
    back up is searched once."""
    folder = tmp_path / 'folder'
    write_image(folder / 'a.png', 9, 11)
    write_image(folder / 'thin.png', 1, 500)
    write_image(folder / 'sub.png' / 'c.png', 1, 1)
    (folder / 'empty.jpg').write_bytes(b'')
    os.symlink('loop.png', folder / 'loop.png')
    os.symlink(tmp_path / 'gone.png', folder / 'gone.png')
    os.mkfifo(folder / 'pipe.png')
    os.symlink('..', folder / 'sub.png' / 'up')
    out = tmp_path / 'out'
    status = infer_main()([config, save(tmp_path, state_dict), str(folder),
                           '--out', str(out), '--device', 'cpu'])
    assert status == 1
    printed = capsys.readouterr().out
    skipped = {line.split(': ', 1)[0][len('Skipped '):]:
               line.split(': ', 1)[1] for line in printed.splitlines()
               if line.startswith('Skipped ')}
    assert skipped == {
        f'{folder}/empty.jpg': 'the file is empty (0 bytes)',
        f'{folder}/gone.png': f'a symbolic link to {tmp_path}/gone.png, '
        'which is missing (No such file or directory)',
        f'{folder}/loop.png': 'a symbolic link that loops',
        f'{folder}/pipe.png': 'a named pipe (FIFO)',
        f'{folder}/thin.png': skipped.get(f'{folder}/thin.png'),
    }
    assert skipped[f'{folder}/thin.png'].startswith(
        'the image cannot be segmented at its size, 1x500 (height x '
        'width): cv2.error: OpenCV')
    assert 'Segmented 2 of 7 images' in printed
    assert written_files(out) == ['a_mask.png', 'a_overlay.png',
                                  'sub.png/c_mask.png',
                                  'sub.png/c_overlay.png']


def test_an_error_that_stops_the_run_names_what_was_done(
        tmp_path, config, state_dict, monkeypatch):
    """Issue 31, case 16: an error after some images (here the second
    overlay cannot be written) says what was segmented and skipped."""
    from mmseg_affnet.apis import infer
    for name in ('a', 'b'):
        write_image(tmp_path / 'in' / f'{name}.png', 9, 11)
    (tmp_path / 'in' / 'a_bad.png').write_bytes(b'x')
    out = tmp_path / 'out'
    real_write_png = infer.write_png

    def write_png(path, array):
        if path.endswith('b_overlay.png'):
            raise OSError(28, f'Could not write {path}: No space left.')
        real_write_png(path, array)

    monkeypatch.setattr(infer, 'write_png', write_png)
    with pytest.raises(SystemExit) as error:
        infer_main()([config, save(tmp_path, state_dict),
                      str(tmp_path / 'in'), '--out', str(out)])
    assert error.value.code == (
        f'error: [Errno 28] Could not write {out}/b_overlay.png: No space '
        f'left. 1 of 3 images were segmented before; their masks and '
        f'overlays are kept in {out}. Skipped: {tmp_path}/in/a_bad.png (the '
        'file is truncated or not an image).')


def test_ctrl_c_names_what_was_done(tmp_path, config, state_dict,
                                    monkeypatch, capsys):
    """Issue 31, case 16: Ctrl+C after some images is one line with what
    was segmented and skipped, exit status 130."""
    from mmseg_affnet.apis import infer
    for name in ('a', 'b'):
        write_image(tmp_path / 'in' / f'{name}.png', 9, 11)
    (tmp_path / 'in' / 'a_bad.png').write_bytes(b'')
    out = tmp_path / 'out'
    real_write_png = infer.write_png

    def write_png(path, array):
        if path.endswith('b_mask.png'):
            raise KeyboardInterrupt
        real_write_png(path, array)

    monkeypatch.setattr(infer, 'write_png', write_png)
    with pytest.raises(SystemExit) as error:
        infer_main()([config, save(tmp_path, state_dict),
                      str(tmp_path / 'in'), '--out', str(out)])
    assert error.value.code == 130
    assert capsys.readouterr().err.splitlines()[-1] == (
        f'Stopped by Ctrl+C. 1 of 3 images were segmented before; their '
        f'masks and overlays are kept in {out}. Skipped: {tmp_path}/in/'
        'a_bad.png (the file is empty (0 bytes)).')
    assert written_files(out) == ['a_mask.png', 'a_overlay.png']
