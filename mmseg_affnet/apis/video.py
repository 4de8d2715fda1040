"""Segment a video file, a frame folder or a camera in real time.

:func:`segment_video` streams frames through three threads joined by
bounded queues (:class:`~mmseg_affnet.apis.video_stream.VideoPipeline`),
so that memory stays bounded whatever the length of the input and decoding
and encoding overlap inference::

    reader thread             main thread           writer thread
    decode + preprocess  ->   inference        ->   overlay + encode
                        queue               queue   (+ label PNGs)

OpenCV and onnxruntime release the GIL while they work, so the end-to-end
rate approaches that of the slowest stage. Each stage is timed with
``time.perf_counter`` in its own thread; :func:`timing_table` shows where
the time goes, and the end-to-end rate is frames / wall time (from the
first frame read to the output file closed; loading the model and one
warm-up inference come before and are reported apart).

Backends (:func:`build_backend`, of :mod:`mmseg_affnet.deploy.backends`):

* PyTorch (config + checkpoint, any device): every frame goes through
  exactly what :func:`mmseg_affnet.apis.infer.segment_images` runs: the
  config's test pipeline, the model's data preprocessor, the segmentor's
  prediction (logits resized bilinearly to the frame's size, argmax). The
  label frames equal single-image inference of the same frames.
* onnxruntime (an fp32 or INT8 graph of ``tools/export_onnx.py`` /
  ``tools/quantize.py``; CPU, or CUDA through onnxruntime-gpu's provider),
  or OpenVINO (the fp32 graph or ``tools/quantize.py --runtime openvino``'s
  INT8 model; CPU).
  The graph's input size is fixed: frames of another size are resized
  (bilinear) to it, and the labels resized back to the frame's size
  (nearest). Frames are normalised with the config's data preprocessor
  (mean, std, BGR->RGB) in numpy, giving the preprocessor's values bit for
  bit. The config's test pipeline is not run.

A camera is live: when the pipeline falls behind, the reader drops the
oldest queued frame rather than let latency grow (counted in the summary).
Files and folders never drop a frame. Ctrl+C ends a run cleanly: frames
already segmented are written and the video is kept.

Example:
    >>> from mmseg_affnet.apis.video import segment_video, timing_table
    >>> summary = segment_video('drive.mp4', 'configs/camvid/affnet_camvid.py',
    ...                         out='drive_seg.mp4', onnx='affnet_int8.onnx')
    >>> print(timing_table(summary))
"""
import os
import os.path as osp
import time
from typing import Dict, NamedTuple, Optional, Tuple, Union

import numpy as np
from mmengine.config import Config

from ..analysis.report import markdown_table
from ..analysis.timing import torch_settings
from ..deploy.backends import InferenceBackend, TorchBackend, open_graph
from ..engine.segmentor import init_segmentor
from ..utils.cli import Interrupted, interrupt_name
from ..utils.config import load_config
from ..utils.device import resolve_device
from .infer import SegmentorInferencer, dataset_palette
from .video_io import open_source
from .video_sinks import LabelSink, VideoSink, check_video_output
from .video_stream import STAGES, VideoPipeline

#: Frame rate written for inputs that do not declare one (frame folders,
#: some cameras), the usual dashcam rate; ``fps`` overrides it.
DEFAULT_FPS = 30.0


def build_backend(cfg: Config,
                  checkpoint: Optional[str] = None,
                  onnx_file: Optional[str] = None,
                  device: Optional[str] = None,
                  threads: int = 0,
                  runtime: str = 'onnxruntime'
                  ) -> Tuple[InferenceBackend, np.ndarray]:
    """The PyTorch model of ``cfg``, or an ONNX graph of it, and the
    dataset's palette.

    Args:
        cfg (Config): Model config.
        checkpoint (str, optional): Checkpoint of the PyTorch model; None
            keeps random weights. Not used with ``onnx_file``.
            Default: None.
        onnx_file (str, optional): An fp32 or INT8 graph to run instead.
            Default: None.
        device (str, optional): PyTorch: any device (None: CUDA if
            available, checked by :func:`resolve_device`); onnxruntime:
            ``'cpu'`` (None) or ``'cuda'``. Default: None.
        threads (int): Intra-op threads of the graph's runtime; 0 keeps
            its choice. torch's threads are set by :func:`segment_video` for
            the run only. Default: 0.
        runtime (str): The graph's runtime, a key of
            :data:`mmseg_affnet.deploy.backends.GRAPH_BACKENDS`
            (``'onnxruntime'``, ``'openvino'``: an fp32 ``.onnx`` or an
            INT8 ``.xml``). Default: 'onnxruntime'.

    Returns:
        tuple[InferenceBackend, np.ndarray]: The backend and the
        (num_classes, 3) uint8 RGB colours of its classes.
    """
    if onnx_file is not None:
        if checkpoint is not None:
            raise ValueError('An ONNX graph holds its weights: pass CONFIG '
                             'and --onnx without a checkpoint.')
        backend = open_graph(onnx_file, cfg, device or 'cpu', threads,
                             runtime)
        return backend, dataset_palette(init_segmentor(cfg))[1]
    inferencer = SegmentorInferencer(cfg, checkpoint, resolve_device(device))
    return (TorchBackend(inferencer.model, inferencer.pipeline),
            dataset_palette(inferencer.model)[1])


class VideoSummary(NamedTuple):
    """What :func:`segment_video` did.

    Attributes:
        backend (str): e.g. ``'onnxruntime int8'``.
        device (str): Where inference ran.
        source (str): The input.
        frames (int): Frames written.
        dropped (int): Camera frames dropped to stay live.
        wall_s (float): From the first frame read to the output closed.
        startup_s (float): Building the model, one warm-up inference.
        stages (dict[str, float]): Seconds per stage (:data:`STAGES`).
        size (tuple[int, int]): (W, H) of the frames.
        inference_size (tuple[int, int]): (W, H) the model saw.
        fps_out (float): Frame rate written into the video.
        out (str): The video file.
        labels_dir (str, optional): The label PNGs' folder.
        interrupted (str): What ended the run early: ``'Ctrl+C'``,
            ``'SIGTERM'`` or ``'SIGHUP'`` (see
            :func:`mmseg_affnet.utils.cli.stop_signals_as_ctrl_c`); ``''``
            if it ran to the end.
        unwritten (int): Frames segmented but not written, because a
            second stop request came while they were being written.
    """
    backend: str
    device: str
    source: str
    frames: int
    dropped: int
    wall_s: float
    startup_s: float
    stages: Dict[str, float]
    size: Tuple[int, int]
    inference_size: Tuple[int, int]
    fps_out: float
    out: str
    labels_dir: Optional[str]
    interrupted: str
    unwritten: int = 0

    @property
    def fps(self) -> float:
        """End-to-end frames per second."""
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0


def timing_table(summary: VideoSummary) -> str:
    """Markdown table of the time per stage and the end-to-end rate.

    "FPS alone" is the rate a stage could keep if it were the only work;
    waits are time the main thread spent idle.

    Args:
        summary (VideoSummary): A run's summary.

    Returns:
        str: The table.
    """
    frames = max(summary.frames, 1)
    rows = []
    for stage, thread in STAGES:
        seconds = summary.stages.get(stage, 0.0)
        if stage == 'label PNGs' and summary.labels_dir is None:
            continue
        rate = '' if stage.startswith('waiting') or seconds == 0 else \
            f'{summary.frames / seconds:.1f}'
        rows.append([stage, thread, f'{seconds:.2f}',
                     f'{1000 * seconds / frames:.1f}', rate])
    rows.append(['**end to end**', 'all', f'{summary.wall_s:.2f}',
                 f'{1000 * summary.wall_s / frames:.1f}',
                 f'**{summary.fps:.1f}**'])
    return markdown_table(['stage', 'thread', 'total (s)', 'ms / frame',
                           'FPS alone'], rows, left=('stage', 'thread'))


def segment_video(source: Union[str, int],
                  config: Union[str, Config],
                  checkpoint: Optional[str] = None,
                  out: str = 'segmented.mp4',
                  onnx: Optional[str] = None,
                  labels_dir: Optional[str] = None,
                  device: Optional[str] = None,
                  threads: int = 0,
                  opacity: float = 0.5,
                  fps: Optional[float] = None,
                  codec: Optional[str] = None,
                  max_frames: Optional[int] = None,
                  queue_size: int = 4,
                  progress: bool = True,
                  cfg_options: Optional[dict] = None,
                  runtime: str = 'onnxruntime') -> VideoSummary:
    """Segment a video, frame folder or camera; write the overlay video.

    Bad inputs fail before the model is built, with one line naming the
    problem and the fix: an unreadable or empty input, a camera that does
    not open, an output that exists (never overwritten), a codec OpenCV
    cannot write, a non-empty ``labels_dir``. Frames of changing size stop
    the run at the first such frame. On any error the partial video is
    removed.

    Args:
        source (str | int): Video file, folder of frames (name order,
            numbers by value) or camera index / device
            (:func:`mmseg_affnet.apis.video_io.open_source`).
        config (str | Config): Model config (``mmseg::`` allowed).
        checkpoint (str, optional): PyTorch checkpoint; None: random
            weights (for timing only). Default: None.
        out (str): Output video; the extension picks the codec (.mp4:
            mp4v, .avi: MJPG). Must not exist. Default: 'segmented.mp4'.
        onnx (str, optional): Run this fp32 or INT8 graph instead of
            PyTorch. Default: None.
        labels_dir (str, optional): Also write every frame's label ids as
            ``NAME.png`` here (a new or empty folder). Default: None.
        device (str, optional): See :func:`build_backend`. Default: None.
        threads (int): Inference threads (0: the runtime's choice); see
            :func:`build_backend`. Default: 0.
        opacity (float): Opacity of the colours in the overlay, in [0, 1].
            Default: 0.5.
        fps (float, optional): Frame rate of the output; None: the input's,
            else :data:`DEFAULT_FPS`. Default: None.
        codec (str, optional): FourCC overriding the extension's.
            Default: None.
        max_frames (int, optional): Stop after this many frames (e.g. for a
            camera). Default: None.
        queue_size (int): Frames each queue holds; bounds the memory.
            Default: 4.
        progress (bool): Show a progress bar with the running rate.
            Default: True.
        cfg_options (dict, optional): Overrides merged into the config.
            Default: None.
        runtime (str): The runtime of ``onnx``; see :func:`build_backend`.
            Default: 'onnxruntime'.

    Returns:
        VideoSummary: Frames, times per stage, end-to-end rate.
    """
    if not 0 <= opacity <= 1:
        raise ValueError(f'--opacity must be in [0, 1], got {opacity}.')
    for option, value in (('--fps', fps), ('--max-frames', max_frames),
                          ('--queue-size', queue_size)):
        if value is not None and value <= 0:
            raise ValueError(f'{option} must be positive, got {value}.')
    cfg = load_config(config, cfg_options)
    check_video_output(out, codec)
    frames = open_source(source)
    video = labels = pipeline = None
    # torch's threads for this run only (process-wide; restored after)
    with torch_settings(threads if threads > 0 and onnx is None else None):
        try:
            try:
                fps_out = fps or frames.fps or DEFAULT_FPS
                video = VideoSink(out, frames.size, fps_out, codec)
                labels = LabelSink(labels_dir) if labels_dir is not None \
                    else None
                started = time.perf_counter()
                backend, palette = build_backend(cfg, checkpoint, onnx,
                                                 device, threads, runtime)
                warm_up = np.zeros((frames.size[1], frames.size[0], 3),
                                   np.uint8)
                backend.labels(backend.preprocess(warm_up), frames.size)
                startup_s = time.perf_counter() - started
                pipeline = VideoPipeline(frames, backend, palette, video,
                                         labels, opacity, queue_size,
                                         max_frames, progress)
                pipeline.run()
            except KeyboardInterrupt as stop:
                # Outside the stream's own handling: while starting, or
                # between the pipeline's steps. Frames written are kept.
                if pipeline is None or not pipeline.written:
                    when = 'while starting (model, warm-up)' \
                        if pipeline is None else 'before the first frame ' \
                        'was written'
                    raise Interrupted(
                        f'Stopped by {interrupt_name(stop)} {when}; nothing '
                        'was written.') from None
                pipeline.interrupted = pipeline.interrupted or \
                    interrupt_name(stop)
            video.close(keep=True)
        except BaseException as error:
            if video is not None:
                video.close(keep=False)
            if labels is not None:
                labels.discard_if_empty()
            if pipeline is not None and pipeline.written and \
                    not isinstance(error, KeyboardInterrupt):
                error.add_note(_kept_after_error(out, labels))
            raise
        finally:
            frames.close()
    wall_s = time.perf_counter() - pipeline.started
    return VideoSummary(
        backend.name, backend.device, frames.description,
        pipeline.written, pipeline.dropped, wall_s, startup_s,
        dict(pipeline.times.seconds), frames.size,
        backend.inference_size(frames.size), fps_out, out, labels_dir,
        pipeline.interrupted, pipeline.segmented - pipeline.written)


def _kept_after_error(out: str, labels: Optional[LabelSink]) -> str:
    """What an error that stopped a run after frames were written left:
    no video, and the label PNGs written so far (the folder was empty)."""
    if labels is None or not osp.isdir(labels.folder):
        return f'No video was kept under {out}.'
    count = len(os.listdir(labels.folder))
    return (f'No video was kept under {out}; the {count} label PNGs of the '
            f'frames before are kept in {labels.folder}.')


def video_report(summary: VideoSummary) -> str:
    """What a run did, its timing table and what it wrote, for a tool to
    print.

    Args:
        summary (VideoSummary): A run's summary.

    Returns:
        str: Several lines of text.
    """
    (width, height), (in_w, in_h) = summary.size, summary.inference_size
    lines = [
        f'{summary.backend} on {summary.device}: {summary.frames} frames of '
        f'{width}x{height} (inference at {in_w}x{in_h}) from '
        f'{summary.source} in {summary.wall_s:.2f} s: {summary.fps:.1f} FPS '
        f'end to end (startup {summary.startup_s:.1f} s: model, warm-up).'
    ]
    if summary.interrupted:
        unwritten = (f'; a second stop request left the last '
                     f'{summary.unwritten} segmented frames unwritten'
                     if summary.unwritten else '')
        lines.append(f'Stopped by {summary.interrupted} after '
                     f'{summary.frames} frames{unwritten}.')
    if summary.dropped:
        lines.append(f'Dropped {summary.dropped} camera frames to stay live '
                     '(inference is slower than the camera).')
    lines.append(timing_table(summary))
    labels = f' and {summary.frames} label PNGs into {summary.labels_dir}' \
        if summary.labels_dir is not None else ''
    lines.append(f'Wrote {summary.out} ({summary.frames} frames at '
                 f'{summary.fps_out:g} fps){labels}.')
    return '\n'.join(lines)
