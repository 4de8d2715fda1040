"""mmseg_affnet.apis.video (tools/video.py): real-time video segmentation on
a short generated video, a frame folder and a simulated camera; every bad
input is one line."""
import os
import os.path as osp
import time

import cv2
import numpy as np
import onnxruntime
import pytest
import torch
from mmseg.datasets import CityscapesDataset

from tests.utils.models import randomize_batch_norms
from tests.utils.tools import CONFIGS_DIR, tool_error, tool_main
from mmseg_affnet.apis import init_segmentor
from mmseg_affnet.apis import video as video_api
from mmseg_affnet.apis import video_io, video_sinks
from mmseg_affnet.apis.infer import segment_images
from mmseg_affnet.apis.video import segment_video
from mmseg_affnet.deploy import (OnnxBackend, argmax_channels,
                                 export_segmentor, quantize_onnx, run_session)

WIDTH, HEIGHT = 64, 48
PALETTE_BGR = np.array(CityscapesDataset.METAINFO['palette'],
                       np.uint8)[:, ::-1]


@pytest.fixture(scope='module')
def config(tmp_path_factory) -> str:
    """AFFNet's Cityscapes config, inferring at the frame's own size (the
    test pipeline keeps the label transforms inference must get through)."""
    path = tmp_path_factory.mktemp('config') / 'affnet_video.py'
    path.write_text(
        f"_base_ = ['{osp.join(CONFIGS_DIR, 'affnet_cityscapes.py')}']\n"
        'test_pipeline = [\n'
        "    dict(type='LoadImageFromFile'),\n"
        "    dict(type='LoadAnnotations'),\n"
        "    dict(type='CheckSegLabels', num_classes=19),\n"
        "    dict(type='PackSegInputs'),\n"
        ']\n'
        'test_dataloader = dict(dataset=dict(pipeline=test_pipeline))\n')
    return str(path)


@pytest.fixture(scope='module')
def checkpoint(config, tmp_path_factory) -> str:
    """Random weights with non-trivial BNs and a classifier scaled so that
    its logits are far from uniform: predictions vary across a frame."""
    torch.manual_seed(0)
    model = randomize_batch_norms(init_segmentor(config))
    torch.nn.init.normal_(model.decode_head.conv_seg.weight, std=1.0)
    path = str(tmp_path_factory.mktemp('checkpoint') / 'model.pth')
    torch.save({'state_dict': model.state_dict()}, path)
    return path


@pytest.fixture(scope='module')
def onnx_file(config, checkpoint, tmp_path_factory) -> str:
    """The fp32 graph of the checkpoint at the frames' size."""
    path = str(tmp_path_factory.mktemp('onnx') / 'model.onnx')
    export_segmentor(config, checkpoint, (HEIGHT, WIDTH), path)
    return path


def random_frames(count: int, width: int = WIDTH, height: int = HEIGHT,
                  seed: int = 0) -> list:
    """Blocks of random colours plus noise: regions of several classes."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        blocks = rng.integers(0, 256, (height // 8, width // 8, 3))
        frame = cv2.resize(blocks.astype(np.uint8), (width, height),
                           interpolation=cv2.INTER_NEAREST)
        noise = rng.integers(-20, 21, frame.shape)
        frames.append(np.clip(frame + noise, 0, 255).astype(np.uint8))
    return frames


def write_folder(folder, frames, names=None) -> list:
    os.makedirs(folder, exist_ok=True)
    names = names or [f'frame_{i + 1}' for i in range(len(frames))]
    paths = [osp.join(folder, f'{name}.png') for name in names]
    for path, frame in zip(paths, frames):
        cv2.imwrite(path, frame)
    return paths


def write_video(path, frames, fps: float = 25, codec: str = 'MJPG') -> str:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps,
                             (frames[0].shape[1], frames[0].shape[0]))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return str(path)


def read_video(path) -> tuple:
    """Every frame of a video and its frame rate, read back with OpenCV."""
    capture = cv2.VideoCapture(str(path))
    fps, frames = capture.get(cv2.CAP_PROP_FPS), []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames, fps


def single_image_labels(tmp_path, config, checkpoint, images) -> list:
    """Labels of each image by the project's single-image inference
    (tools/infer.py's segment_images), decoded from its palette masks."""
    folder = str(tmp_path / 'single_in')
    paths = write_folder(folder, images,
                         [f'{i:03d}' for i in range(len(images))])
    out = str(tmp_path / 'single_out')
    summary = segment_images(config, checkpoint, paths, out, 'cpu',
                             progress=False)
    assert not summary.skipped
    labels = []
    for job in summary.segmented:
        mask = cv2.imread(job.mask)
        matches = (mask[:, :, None, :] == PALETTE_BGR).all(-1)
        assert matches.any(-1).all()
        labels.append(matches.argmax(-1))
    return labels


def read_labels(folder, names) -> list:
    assert sorted(os.listdir(folder)) == sorted(f'{n}.png' for n in names)
    return [cv2.imread(osp.join(folder, f'{name}.png'),
                       cv2.IMREAD_UNCHANGED) for name in names]


def test_frame_folder_in_name_order_equals_single_image_inference(
        tmp_path, config, checkpoint):
    frames = random_frames(10)
    write_folder(tmp_path / 'frames', frames)  # frame_1 ... frame_10
    out, labels_dir = tmp_path / 'out.mp4', tmp_path / 'labels'

    summary = segment_video(str(tmp_path / 'frames'), config, checkpoint,
                            str(out), labels_dir=str(labels_dir),
                            device='cpu', progress=False)

    assert (summary.frames, summary.dropped, summary.backend) == \
        (10, 0, 'pytorch')
    assert summary.size == summary.inference_size == (WIDTH, HEIGHT)
    written, fps = read_video(out)
    assert len(written) == 10 and fps == video_api.DEFAULT_FPS
    assert all(frame.shape == (HEIGHT, WIDTH, 3) for frame in written)
    assert sorted(os.listdir(tmp_path)) == ['frames', 'labels', 'out.mp4']
    names = [f'frame_{i + 1}' for i in range(10)]  # 1..10, not 1, 10, 2
    labels = read_labels(labels_dir, names)
    expected = single_image_labels(tmp_path, config, checkpoint, frames)
    for got, want in zip(labels, expected):
        assert got.dtype == np.uint8 and got.shape == (HEIGHT, WIDTH)
        assert np.array_equal(got, want)
    assert len(np.unique(np.stack(labels))) > 1, 'test needs varied labels'
    # The video's frames are the overlays of the frames in name order.
    for index, frame in enumerate(written):
        overlay = 0.5 * frames[index] + 0.5 * PALETTE_BGR[labels[index]]
        errors = [np.abs(frame - (0.5 * other + 0.5 * PALETTE_BGR[lab])
                         ).mean() for other, lab in zip(frames, labels)]
        assert np.argmin(errors) == index
        assert np.abs(frame - overlay).mean() < 8  # mp4v is lossy


def test_video_file_equals_single_image_inference_of_its_frames(
        tmp_path, config, checkpoint):
    source = write_video(tmp_path / 'drive.avi', random_frames(8, seed=1),
                         fps=25)
    decoded, _ = read_video(source)
    out, labels_dir = tmp_path / 'drive_seg.avi', tmp_path / 'labels'

    summary = segment_video(source, config, checkpoint, str(out),
                            labels_dir=str(labels_dir), device='cpu',
                            progress=False)

    assert summary.frames == 8 and summary.fps_out == 25
    written, fps = read_video(out)
    assert len(written) == 8 and fps == 25
    assert all(frame.shape == (HEIGHT, WIDTH, 3) for frame in written)
    labels = read_labels(labels_dir, [f'{i:06d}' for i in range(8)])
    expected = single_image_labels(tmp_path, config, checkpoint, decoded)
    assert all(np.array_equal(a, b) for a, b in zip(labels, expected))


@pytest.mark.slow  # the onnx_file fixture: an export, about 7 s
def test_onnx_graph_gives_its_own_logits_argmax(tmp_path, config,
                                                onnx_file, checkpoint):
    frames = random_frames(4, seed=2)
    write_folder(tmp_path / 'frames', frames)
    model = init_segmentor(config, checkpoint)
    backend = OnnxBackend(onnx_file, model.cfg, 'cpu', 1)

    summary = segment_video(str(tmp_path / 'frames'), config,
                            out=str(tmp_path / 'out.mp4'), onnx=onnx_file,
                            labels_dir=str(tmp_path / 'labels'),
                            threads=1, progress=False)

    assert summary.backend == 'onnxruntime fp32' and summary.frames == 4
    labels = read_labels(tmp_path / 'labels',
                         [f'frame_{i + 1}' for i in range(4)])
    torch_labels = single_image_labels(tmp_path, config, checkpoint, frames)
    for frame, got, torch_label in zip(frames, labels, torch_labels):
        # Normalised exactly as mmseg's data preprocessor does.
        with torch.no_grad():
            expected_inputs = model.data_preprocessor(
                dict(inputs=[torch.from_numpy(frame).permute(2, 0, 1)]),
                False)['inputs'].numpy()
        inputs = backend.preprocess(frame)
        assert np.array_equal(inputs, expected_inputs)
        logits = run_session(backend.session, inputs)[0]
        assert np.array_equal(got, logits.argmax(0))
        # fp32 onnxruntime vs PyTorch: equal up to near-ties
        assert (got == torch_label).mean() > 0.99


@pytest.mark.slow
def test_onnx_resizes_frames_to_the_graph_and_labels_back(tmp_path, config,
                                                          onnx_file):
    frames = random_frames(3, width=80, height=60, seed=3)
    write_folder(tmp_path / 'frames', frames)
    backend = OnnxBackend(onnx_file, init_segmentor(config).cfg, 'cpu', 1)

    summary = segment_video(str(tmp_path / 'frames'), config,
                            out=str(tmp_path / 'out.avi'), onnx=onnx_file,
                            labels_dir=str(tmp_path / 'labels'),
                            progress=False)

    assert summary.size == (80, 60)
    assert summary.inference_size == (WIDTH, HEIGHT)
    written, _ = read_video(tmp_path / 'out.avi')
    assert [frame.shape for frame in written] == [(60, 80, 3)] * 3
    labels = read_labels(tmp_path / 'labels',
                         [f'frame_{i + 1}' for i in range(3)])
    for frame, got in zip(frames, labels):
        small = cv2.resize(frame, (WIDTH, HEIGHT),
                           interpolation=cv2.INTER_LINEAR)
        logits = run_session(backend.session, backend.preprocess(small))
        expected = cv2.resize(logits[0].argmax(0).astype(np.uint8), (80, 60),
                              interpolation=cv2.INTER_NEAREST)
        assert np.array_equal(got, expected)


@pytest.mark.slow
def test_int8_graph_runs_as_its_own_argmax(tmp_path, config, onnx_file):
    frames = random_frames(3, seed=9)
    write_folder(tmp_path / 'frames', frames)
    cfg = init_segmentor(config).cfg
    fp32 = OnnxBackend(onnx_file, cfg, 'cpu', 1)
    int8_file = str(tmp_path / 'model_int8.onnx')
    quantize_onnx(onnx_file, int8_file,
                  [fp32.preprocess(frame) for frame in frames])
    int8 = OnnxBackend(int8_file, cfg, 'cpu', 1)

    summary = segment_video(str(tmp_path / 'frames'), config,
                            out=str(tmp_path / 'out.mp4'), onnx=int8_file,
                            labels_dir=str(tmp_path / 'labels'),
                            progress=False)

    assert summary.backend == 'onnxruntime int8' and summary.frames == 3
    labels = read_labels(tmp_path / 'labels',
                         [f'frame_{i + 1}' for i in range(3)])
    for frame, got in zip(frames, labels):
        inputs = int8.preprocess(frame)
        assert np.array_equal(
            got, run_session(int8.session, inputs)[0].argmax(0))
        fp32_labels = run_session(fp32.session, inputs)[0].argmax(0)
        assert (got == fp32_labels).mean() > 0.8  # 8-bit rounding


def test_argmax_channels_equals_numpy_including_ties():
    logits = np.random.default_rng(0).normal(size=(19, 7, 9)).astype(
        np.float32).round(0)  # many ties
    assert np.array_equal(argmax_channels(logits), logits.argmax(0))


def test_streams_with_bounded_queues(tmp_path, config, checkpoint,
                                     monkeypatch):
    """The reader is never more than the queues' frames ahead of the
    writer, however long the input."""
    write_folder(tmp_path / 'frames', random_frames(12, seed=4))
    progress = dict(read=0, written=0, ahead=0)
    read_image, write = video_io.read_image, video_sinks.VideoSink.write

    def counting_read(path):
        progress['read'] += 1
        return read_image(path)

    def slow_write(self, image):
        progress['ahead'] = max(progress['ahead'],
                                progress['read'] - progress['written'])
        time.sleep(0.02)
        write(self, image)
        progress['written'] += 1

    monkeypatch.setattr(video_io, 'read_image', counting_read)
    monkeypatch.setattr(video_sinks.VideoSink, 'write', slow_write)
    summary = segment_video(str(tmp_path / 'frames'), config, checkpoint,
                            str(tmp_path / 'out.mp4'), queue_size=2,
                            device='cpu', progress=False)

    assert summary.frames == progress['written'] == 12
    # 2 queues of 2, one frame in each of the three threads, one being read
    assert progress['ahead'] <= 2 * 2 + 4
    assert summary.stages['waiting for the writer'] > 0


class FakeCamera:
    """cv2.VideoCapture of a camera that gives a frame every 5 ms."""

    def __init__(self, device, count: int = 40):
        self.frames = random_frames(count, seed=5)

    def isOpened(self):
        return True

    def read(self):
        time.sleep(0.005)
        return (True, self.frames.pop(0)) if self.frames else (False, None)

    def get(self, prop):
        return 30.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self):
        pass


def test_camera_drops_frames_rather_than_fall_behind(tmp_path, config,
                                                     checkpoint,
                                                     monkeypatch):
    infer = video_api.TorchBackend.labels

    def slow_infer(self, data, size):
        time.sleep(0.02)
        return infer(self, data, size)

    with monkeypatch.context() as patch:
        # The camera (a device number) is fake; the written video is read
        # back by OpenCV's own capture.
        video_capture = cv2.VideoCapture
        patch.setattr(video_io.cv2, 'VideoCapture',
                      lambda source, *args: video_capture(source, *args)
                      if isinstance(source, str) else FakeCamera(source))
        patch.setattr(video_api.TorchBackend, 'labels', slow_infer)
        summary = segment_video('0', config, checkpoint,
                                str(tmp_path / 'cam.mp4'), queue_size=1,
                                device='cpu', progress=False)

    assert summary.source == 'camera 0' and summary.fps_out == 30
    assert summary.dropped > 0 and summary.frames > 1
    assert summary.frames + summary.dropped == 40
    assert len(read_video(tmp_path / 'cam.mp4')[0]) == summary.frames


def test_ctrl_c_keeps_what_was_segmented(tmp_path, config, checkpoint,
                                         monkeypatch):
    write_folder(tmp_path / 'frames', random_frames(10, seed=6))
    calls = []
    infer = video_api.TorchBackend.labels

    def interrupted_infer(self, data, size):
        calls.append(1)
        if len(calls) == 5:  # the warm-up, then frames 0-2, then Ctrl+C
            raise KeyboardInterrupt
        return infer(self, data, size)

    monkeypatch.setattr(video_api.TorchBackend, 'labels',
                        interrupted_infer)
    summary = segment_video(str(tmp_path / 'frames'), config, checkpoint,
                            str(tmp_path / 'out.mp4'), device='cpu',
                            progress=False)

    assert summary.interrupted and summary.frames == 3
    assert len(read_video(tmp_path / 'out.mp4')[0]) == 3
    assert 'Stopped by Ctrl+C after 3 frames' in \
        video_api.video_report(summary)


def test_an_error_while_writing_leaves_no_partial_video(
        tmp_path, config, checkpoint, monkeypatch):
    write_folder(tmp_path / 'frames', random_frames(6, seed=7))

    def full_disk(self, name, labels):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(video_sinks.LabelSink, 'write', full_disk)
    with pytest.raises(OSError, match='No space left'):
        segment_video(str(tmp_path / 'frames'), config, checkpoint,
                      str(tmp_path / 'out.mp4'),
                      labels_dir=str(tmp_path / 'labels'), device='cpu',
                      progress=False)
    assert not (tmp_path / 'out.mp4').exists()
    assert not (tmp_path / 'out.part.mp4').exists()


def test_tool_prints_the_timing_table(tmp_path, config, checkpoint, capsys):
    write_folder(tmp_path / 'frames', random_frames(5, seed=8))
    tool_main('video')([str(tmp_path / 'frames'), config, checkpoint,
                        '--out', str(tmp_path / 'out.mp4'), '--max-frames',
                        '3', '--device', 'cpu', '--fps', '12'])
    printed = capsys.readouterr().out
    assert 'pytorch on cpu: 3 frames of 64x48 (inference at 64x48)' in printed
    for stage in ('decode', 'preprocess', 'inference', 'overlay', 'encode',
                  '**end to end**'):
        assert f'| {stage} ' in printed
    assert 'label PNGs' not in printed
    assert f'Wrote {tmp_path}/out.mp4 (3 frames at 12 fps).' in printed
    assert len(read_video(tmp_path / 'out.mp4')[0]) == 3


# ------------------------------------------------ bad input: one clear line --
def bad_input_cases(tmp_path) -> dict:
    """argv (after the tool name) -> the start of the expected message."""
    frames = str(write_folder(tmp_path / 'frames', random_frames(2))[0])
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'junk.mp4').write_bytes(b'not a video' * 100)
    (tmp_path / 'zero.mp4').write_bytes(b'')
    (tmp_path / 'taken.mp4').write_bytes(b'mine')
    (tmp_path / 'labels').mkdir()
    (tmp_path / 'labels' / 'x.png').write_bytes(b'mine')
    folder = str(tmp_path / 'frames')
    out = str(tmp_path / 'out.mp4')
    return {
        'missing input': ([str(tmp_path / 'nowhere.mp4'), out],
                          f'Input {tmp_path}/nowhere.mp4 does not exist; '
                          'pass a video file'),
        'unreadable file': ([str(tmp_path / 'junk.mp4'), out],
                            f'Input {tmp_path}/junk.mp4 is not a video '
                            'OpenCV can read'),
        'empty file': ([str(tmp_path / 'zero.mp4'), out],
                       f'Input {tmp_path}/zero.mp4 is an empty file'),
        'single image': ([frames, out], f'Input {frames} is a single image'),
        'empty folder': ([str(tmp_path / 'empty'), out],
                         f'Folder {tmp_path}/empty holds no frames'),
        'camera': (['97', out], 'Camera 97 did not open or gave no frame'),
        'output exists': ([folder, str(tmp_path / 'taken.mp4')],
                          f'{tmp_path}/taken.mp4 already exists and would '
                          'be overwritten'),
        'codec': ([folder, out, '--codec', 'XXXX'],
                  f'OpenCV cannot write {out} with codec XXXX'),
        'extension': ([folder, str(tmp_path / 'out.xyz')],
                      f'--out {tmp_path}/out.xyz: no default codec'),
        'labels dir': ([folder, out, '--labels-dir',
                        str(tmp_path / 'labels')],
                       f'--labels-dir {tmp_path}/labels is not empty'),
        'opacity': ([folder, out, '--opacity', '2'],
                    '--opacity must be in [0, 1]'),
    }


CASES = ['missing input', 'unreadable file', 'empty file', 'single image',
         'empty folder', 'camera', 'output exists', 'codec', 'extension',
         'labels dir', 'opacity']


@pytest.mark.parametrize('case', CASES)
def test_bad_input_is_one_line_before_the_model_is_built(
        tmp_path, config, case, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError('the model was built')

    monkeypatch.setattr(video_api, 'build_backend', no_model)
    (source, out, *options), needle = bad_input_cases(tmp_path)[case]
    message = tool_error('video', source, config, '--out', out, *options)
    assert message.startswith(f'error: {needle}'), message
    assert '\n' not in message
    if case == 'output exists':
        assert (tmp_path / 'taken.mp4').read_bytes() == b'mine'
    assert not (tmp_path / 'out.mp4').exists()
    assert not (tmp_path / 'out.part.mp4').exists()


def test_unreadable_input_names_permissions(tmp_path, monkeypatch):
    """(As root every file is readable: the refusals are simulated.)"""
    write_folder(tmp_path / 'frames', random_frames(1))
    video = write_video(tmp_path / 'a.avi', random_frames(2))

    def denied(path):
        raise PermissionError(13, 'Permission denied', path)

    with monkeypatch.context() as patch:
        patch.setattr(video_io.os, 'listdir', denied)
        with pytest.raises(PermissionError,
                           match=f'^Folder {tmp_path}/frames cannot be '
                           r'listed \(Permission denied\); fix its'):
            video_io.open_source(str(tmp_path / 'frames'))
    with monkeypatch.context() as patch:
        patch.setattr(video_io.os, 'access', lambda path, mode: False)
        with pytest.raises(PermissionError,
                           match=f'^Input {video} is not readable'):
            video_io.open_source(video)


def test_frames_of_changing_size_stop_the_run(tmp_path, config, checkpoint):
    paths = write_folder(tmp_path / 'frames', random_frames(3))
    cv2.imwrite(paths[2], random_frames(1, width=32)[0])
    message = tool_error('video', str(tmp_path / 'frames'), config,
                         checkpoint, '--out', str(tmp_path / 'out.mp4'),
                         '--device', 'cpu')
    assert message.startswith(
        f'error: Frame 2 ({paths[2]}) is 32x48, but the frames before it '
        'are 64x48'), message
    assert 'Resize the frames to one size' in message
    assert sorted(os.listdir(tmp_path)) == ['frames']  # no partial video


def test_unreadable_frame_file_is_named(tmp_path, config, checkpoint):
    paths = write_folder(tmp_path / 'frames', random_frames(3))
    with open(paths[1], 'wb') as file:
        file.write(b'truncated')
    message = tool_error('video', str(tmp_path / 'frames'), config,
                         checkpoint, '--out', str(tmp_path / 'out.mp4'),
                         '--device', 'cpu')
    assert message.startswith(f'error: Frame file {paths[1]} cannot be '
                              'read (the file is truncated or not an '
                              'image); replace or remove it.'), message
    assert not (tmp_path / 'out.mp4').exists()


@pytest.mark.slow
def test_onnx_misuse_is_one_line(tmp_path, config, checkpoint, onnx_file):
    folder = osp.dirname(write_folder(tmp_path / 'f', random_frames(1))[0])
    out = str(tmp_path / 'out.mp4')
    assert tool_error('video', folder, config, checkpoint, '--onnx',
                      onnx_file, '--out', out).startswith(
        'error: An ONNX graph holds its weights')
    assert 'predicts 19 classes, but the config 11' in tool_error(
        'video', folder, config, '--onnx', onnx_file, '--out', out,
        '--cfg-options', 'model.decode_head.num_classes=11')
    if 'CUDAExecutionProvider' not in onnxruntime.get_available_providers():
        assert tool_error('video', folder, config, '--onnx', onnx_file,
                          '--out', out, '--device', 'cuda').startswith(
            'error: --device cuda: onnxruntime has no CUDA provider')
    assert not osp.exists(out)


def test_tool_takes_cfg_options(tmp_path, config):
    write_folder(tmp_path / 'frames', random_frames(1))
    message = tool_error('video', str(tmp_path / 'frames'), config,
                         '--out', str(tmp_path / 'out.mp4'),
                         '--cfg-options', 'model.type=Sentinel20')
    assert 'Sentinel20' in message, message
    assert not (tmp_path / 'out.mp4').exists()


# ------------------------------- issue 31: stops, full disks, bad folders --
#: tools/video.py in a fresh interpreter, with inference slowed down (and
#: the writer too, if SLOW_WRITE is set) so that a signal lands mid-stream.
SLOW_TOOL = '''
import os, runpy, sys, time
from mmseg_affnet.apis import video, video_sinks
infer, write = video.TorchBackend.labels, video_sinks.VideoSink.write
def slow_infer(self, data, size):
    time.sleep(float(os.environ['SLOW_INFER']))
    return infer(self, data, size)
def slow_write(self, image):
    time.sleep(float(os.environ.get('SLOW_WRITE', '0')))
    write(self, image)
video.TorchBackend.labels, video_sinks.VideoSink.write = slow_infer, slow_write
sys.argv = ['video.py'] + sys.argv[1:]
sys.exit(runpy.run_path(sys.argv[0].replace('video.py', '') + TOOL,
                        run_name='tool')['main']())
'''


def start_video_tool(tmp_path, argv, slow_infer=0.0, slow_write=0.0,
                     file_size_limit=None):
    """tools/video.py ARGV in a process of its own
    (:class:`tests.utils.forked_tools.ForkedTool`; ``file_size_limit`` is
    ``ulimit -f``), with SIGINT, SIGHUP and SIGTERM at their default action
    as a shell in a terminal starts it, however this test run was started
    (``nohup`` ignores SIGHUP, a non-interactive shell's background job
    SIGINT; the tool keeps an ignored signal ignored on purpose)."""
    from tests.utils.forked_tools import ForkedTool
    from tests.utils.tools import REPO_ROOT, TOOLS_DIR
    script = tmp_path / 'slow_video.py'
    script.write_text(SLOW_TOOL.replace(
        "sys.argv[0].replace('video.py', '') + TOOL",
        repr(osp.join(TOOLS_DIR, 'video.py'))))
    env = dict(os.environ, SLOW_INFER=str(slow_infer),
               SLOW_WRITE=str(slow_write), PYTHONPATH=REPO_ROOT)
    return ForkedTool(str(script), argv, str(tmp_path), env=env,
                      cwd=REPO_ROOT, file_size_limit=file_size_limit)


def wait_for_files(folder, count, process, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        if osp.isdir(folder) and len(os.listdir(folder)) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f'{folder} never held {count} files: '
                         f'{process.output()}')


@pytest.mark.processes
@pytest.mark.parametrize('signal_name', ['SIGTERM', 'SIGHUP'])
def test_sigterm_and_sighup_stop_like_ctrl_c(tmp_path, config, checkpoint,
                                             signal_name):
    """Issue 31, case 2: before, SIGTERM killed the run at once and left a
    44-byte unplayable .part video."""
    import signal
    write_folder(tmp_path / 'frames', random_frames(40, seed=9))
    labels = tmp_path / 'labels'
    process = start_video_tool(
        tmp_path, [str(tmp_path / 'frames'), config, checkpoint, '--out',
                   str(tmp_path / 'out.mp4'), '--labels-dir', str(labels),
                   '--device', 'cpu', '--queue-size', '1'],
        slow_infer=0.15)
    wait_for_files(labels, 3, process)
    process.send_signal(getattr(signal, signal_name))
    out, err = process.communicate(timeout=120)

    assert process.returncode == 130, err
    written = len(os.listdir(labels))
    assert 3 <= written < 40
    assert f'Stopped by {signal_name} after {written} frames.' in out
    assert len(read_video(tmp_path / 'out.mp4')[0]) == written
    assert not (tmp_path / 'out.part.mp4').exists()
    assert 'Traceback' not in err


@pytest.mark.processes
def test_second_ctrl_c_keeps_what_was_written(tmp_path, config, checkpoint):
    """Issue 31, case 9: two Ctrl+C 50 ms apart mid-stream deleted the
    video of the frames written and ended in a traceback."""
    import signal
    write_folder(tmp_path / 'frames', random_frames(40, seed=10))
    labels = tmp_path / 'labels'
    process = start_video_tool(
        tmp_path, [str(tmp_path / 'frames'), config, checkpoint, '--out',
                   str(tmp_path / 'out.mp4'), '--labels-dir', str(labels),
                   '--device', 'cpu', '--queue-size', '4'],
        slow_write=1.0)  # inference runs ahead and fills the queue
    wait_for_files(labels, 1, process)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)

    assert process.returncode == 130, err
    assert 'Traceback' not in err
    written = len(os.listdir(labels))
    assert written >= 1
    # Whether the second request lands while the queued frames are written
    # (they are then left unwritten) or after is up to the scheduler; either
    # way every frame written is kept, in the video and as a label PNG.
    assert f'Stopped by Ctrl+C after {written} frames' in out
    assert len(read_video(tmp_path / 'out.mp4')[0]) == written
    assert not (tmp_path / 'out.part.mp4').exists()


def test_ctrl_c_while_starting_is_one_line(tmp_path, config, checkpoint,
                                           monkeypatch, capsys):
    """Issue 31, case 9: a real SIGINT while the model is built."""
    import signal
    write_folder(tmp_path / 'frames', random_frames(2))
    build = video_api.build_backend

    def interrupted_build(*args, **kwargs):
        backend = build(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)  # the signal arrives here
        return backend

    monkeypatch.setattr(video_api, 'build_backend', interrupted_build)
    # A suite started in the background by a non-interactive shell inherits
    # an ignored SIGINT, and Python then raises no KeyboardInterrupt.
    ignored_or_not = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(SystemExit) as exit_info:
            tool_main('video')([str(tmp_path / 'frames'), config, checkpoint,
                                '--out', str(tmp_path / 'out.mp4'),
                                '--labels-dir', str(tmp_path / 'labels'),
                                '--device', 'cpu'])
    finally:
        signal.signal(signal.SIGINT, ignored_or_not)
    assert exit_info.value.code == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        'Stopped by Ctrl+C while starting (model, warm-up); nothing was '
        'written.')
    assert sorted(os.listdir(tmp_path)) == ['frames']


@pytest.mark.processes
def test_a_full_disk_is_an_error_and_leaves_no_video(tmp_path, config,
                                                     checkpoint):
    """Issue 31, case 3: under `ulimit -f` the run ended with exit 0,
    "Wrote ..." and a truncated video OpenCV cannot open."""
    write_folder(tmp_path / 'frames', random_frames(30, seed=11))
    labels = tmp_path / 'labels'
    out = tmp_path / 'out.avi'
    process = start_video_tool(
        tmp_path, [str(tmp_path / 'frames'), config, checkpoint, '--out',
                   str(out), '--labels-dir', str(labels), '--device', 'cpu'],
        file_size_limit=20_000)
    stdout, err = process.communicate(timeout=300)

    assert process.returncode == 1, (stdout, err)
    assert 'Wrote' not in stdout
    line = err.strip().splitlines()[-1]
    assert line.startswith(
        f'error: Writing {out} failed: the video OpenCV wrote cannot be '
        'read to its last frame (it stopped at 20000 bytes, the file size '
        'limit of this process (ulimit -f)). It was removed; nothing is '
        f'left under {out}.'), line
    assert f'the 30 label PNGs of the frames before are kept in {labels}' \
        in line
    assert not out.exists() and not (tmp_path / 'out.part.avi').exists()
    assert len(os.listdir(labels)) == 30


def test_a_read_only_output_folder_is_named(tmp_path, config, monkeypatch):
    """Issue 31, case 13: it was reported as a codec problem. (As root
    every folder is writable: the refusal is simulated.)"""
    write_folder(tmp_path / 'frames', random_frames(1))
    (tmp_path / 'ro').mkdir()
    (tmp_path / 'ro').chmod(0o555)
    real_open = os.open

    def read_only(path, *args, **kwargs):
        if str(path).startswith(str(tmp_path / 'ro')):
            raise PermissionError(13, 'Permission denied', path)
        return real_open(path, *args, **kwargs)

    if os.geteuid() == 0:
        monkeypatch.setattr(video_io.os, 'open', read_only)
    out = tmp_path / 'ro' / 'out.mp4'
    message = tool_error('video', str(tmp_path / 'frames'), config, '--out',
                         str(out))
    assert message == (
        f'error: --out {out}: cannot create {tmp_path}/ro/out.part.mp4 in '
        f'{tmp_path}/ro (Permission denied); choose a folder you can write '
        'to, or fix its permissions.')


def test_frame_entries_that_are_not_files_are_named(tmp_path, config,
                                                    monkeypatch):
    """Issue 31, case 7: links that loop or lead nowhere were dropped
    silently (a video one frame short)."""
    monkeypatch.setattr(video_api, 'build_backend', None)  # never built
    frames = tmp_path / 'frames'
    write_folder(frames, random_frames(3))
    os.symlink('frame_4.png', frames / 'frame_4.png')
    os.symlink('frame_6.png', frames / 'frame_5.png')
    os.symlink('frame_5.png', frames / 'frame_6.png')
    os.symlink('gone.png', frames / 'frame_7.png')
    (frames / 'frame_8.png').mkdir()
    message = tool_error('video', str(frames), config, '--out',
                         str(tmp_path / 'out.mp4'))
    assert message == (
        f'error: Folder {frames}: 5 entries are named as a frame but cannot '
        f'be read as a file: {frames}/frame_4.png (a symbolic link that '
        f'loops), {frames}/frame_5.png (a symbolic link that loops), '
        f'{frames}/frame_6.png (a symbolic link that loops), '
        f'{frames}/frame_7.png (a symbolic link to gone.png, which is '
        f'missing (No such file or directory)), {frames}/frame_8.png (a '
        'folder); replace or remove them (every frame is read: a video '
        'does not skip frames).')
    assert not (tmp_path / 'out.mp4').exists()


def test_a_bad_frame_says_what_is_kept(tmp_path, config, checkpoint):
    """Issue 31, case 17: the error removed the video and did not mention
    the label PNGs it kept."""
    write_folder(tmp_path / 'frames', random_frames(4))
    with open(osp.join(tmp_path, 'frames', 'frame_3.png'), 'wb') as file:
        file.write(b'truncated')
    labels = tmp_path / 'labels'
    message = tool_error('video', str(tmp_path / 'frames'), config,
                         checkpoint, '--out', str(tmp_path / 'out.mp4'),
                         '--labels-dir', str(labels), '--device', 'cpu',
                         '--queue-size', '1')
    assert message.startswith(
        f'error: Frame file {tmp_path}/frames/frame_3.png cannot be read'), \
        message
    kept = sorted(os.listdir(labels))  # the writer may not reach frame 2
    assert kept in (['frame_1.png'], ['frame_1.png', 'frame_2.png'])
    assert message.endswith(
        f'No video was kept under {tmp_path}/out.mp4; the {len(kept)} label '
        f'PNGs of the frames before are kept in {labels}.'), message
