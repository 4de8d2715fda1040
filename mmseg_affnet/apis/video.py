"""Segment a video file, a frame folder or a camera in real time.

:func:`segment_video` streams frames through three threads joined by
bounded queues, so that memory stays bounded whatever the length of the
input and decoding and encoding overlap inference::

    reader thread             main thread           writer thread
    decode + preprocess  ->   inference        ->   overlay + encode
                        queue               queue   (+ label PNGs)

OpenCV and onnxruntime release the GIL while they work, so the end-to-end
rate approaches that of the slowest stage. Each stage is timed with
``time.perf_counter`` in its own thread; :func:`timing_table` shows where
the time goes, and the end-to-end rate is frames / wall time (from the
first frame read to the output file closed; loading the model and one
warm-up inference come before and are reported apart).

Backends (:func:`build_segmenter`):

* PyTorch (config + checkpoint, any device): every frame goes through
  exactly what :func:`mmseg_affnet.apis.infer.segment_images` runs: the
  config's test pipeline, the model's data preprocessor, the segmentor's
  prediction (logits resized bilinearly to the frame's size, argmax). The
  label frames equal single-image inference of the same frames.
* onnxruntime (an fp32 or INT8 graph of ``tools/export_onnx.py`` /
  ``tools/quantize.py``; CPU, or CUDA through onnxruntime-gpu's provider).
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
import queue
import threading
import time
from collections import OrderedDict
from typing import Any, Dict, NamedTuple, Optional, Tuple, Union

import cv2
import numpy as np
import onnxruntime as ort
from mmengine.config import Config
from onnx import load as load_onnx
from tqdm import tqdm

from ..analysis.report import markdown_table
from ..analysis.timing import torch_settings
from ..deploy import create_ort_session, graph_input_shape, run_session
from ..engine.segmentor import init_segmentor
from ..utils.cli import Interrupted, interrupt_name
from ..utils.config import load_config
from ..utils.device import resolve_device
from .infer import SegmentorInferencer, dataset_palette
from .video_io import (Frame, FrameSource, LabelSink, VideoSink,
                       check_video_output, open_source)

#: Frame rate written for inputs that do not declare one (frame folders,
#: some cameras), the usual dashcam rate; ``fps`` overrides it.
DEFAULT_FPS = 30.0
#: Stages in the order of the pipeline: (name, thread).
STAGES = (('decode', 'reader'), ('preprocess', 'reader'),
          ('waiting for frames', 'main'), ('inference', 'main'),
          ('waiting for the writer', 'main'), ('overlay', 'writer'),
          ('encode', 'writer'), ('label PNGs', 'writer'))
_END = object()
_POLL_S = 0.1


class Segmenter:
    """Turns BGR frames into label maps at the frame's size.

    Attributes:
        name (str): The backend, e.g. ``'pytorch'``, ``'onnxruntime int8'``.
        device (str): Where inference runs.
        palette (np.ndarray): (num_classes, 3) uint8 RGB colours.
    """
    name = ''
    device = 'cpu'
    palette: np.ndarray

    def preprocess(self, image: np.ndarray) -> Any:
        """Model input of a (H, W, 3) uint8 BGR frame (thread-safe)."""
        raise NotImplementedError

    def infer(self, data: Any, size: Tuple[int, int]) -> np.ndarray:
        """(H, W) label map of preprocessed ``data``; ``size`` is the
        frame's (W, H)."""
        raise NotImplementedError

    def inference_size(self, size: Tuple[int, int]) -> Tuple[int, int]:
        """(W, H) the model sees for frames of (W, H) ``size``."""
        raise NotImplementedError


class TorchSegmenter(Segmenter):
    """The PyTorch model, through single-image inference's own path.

    Args:
        cfg (Config): Model config.
        checkpoint (str, optional): Checkpoint; None keeps random weights
            (for timing only).
        device (str): Device of the model.
    """
    name = 'pytorch'

    def __init__(self, cfg: Config, checkpoint: Optional[str],
                 device: str) -> None:
        self.device = device
        self.inferencer = SegmentorInferencer(cfg, checkpoint, device)
        self.palette = dataset_palette(self.inferencer.model)[1]

    def preprocess(self, image: np.ndarray) -> dict:
        return self.inferencer.pipeline(image)

    def infer(self, data: dict, size: Tuple[int, int]) -> np.ndarray:
        sample = self.inferencer.forward(self.inferencer.collate_fn([data]))
        return label_array(sample[0].pred_sem_seg.data[0].cpu().numpy(),
                           len(self.palette))

    def inference_size(self, size: Tuple[int, int]) -> Tuple[int, int]:
        inputs = self.preprocess(np.zeros((size[1], size[0], 3), np.uint8))
        return tuple(inputs['inputs'].shape[:0:-1])


class OnnxSegmenter(Segmenter):
    """An fp32 or INT8 graph of this project under onnxruntime.

    Args:
        cfg (Config): The config the graph was exported from: its data
            preprocessor normalises, its dataset gives the palette.
        onnx_file (str): The graph.
        device (str): ``'cpu'`` or ``'cuda'`` (onnxruntime-gpu's provider,
            on its default GPU).
        threads (int): onnxruntime intra-op threads; 0 lets it choose.

    Raises:
        ValueError: The graph is not one of ``tools/export_onnx.py``, its
            classes differ from the config's, or onnxruntime lacks the
            device's provider.
    """

    def __init__(self, cfg: Config, onnx_file: str, device: str,
                 threads: int) -> None:
        shape = graph_input_shape(onnx_file)
        if device != 'cpu' and 'CUDAExecutionProvider' not in \
                ort.get_available_providers():
            raise ValueError(
                f'--device {device}: onnxruntime has no CUDA provider here '
                f'(providers: {", ".join(ort.get_available_providers())}); '
                'install onnxruntime-gpu, or use --device cpu.')
        self.device = device
        self.session = create_ort_session(onnx_file, threads, device)
        self.graph_size = (shape[3], shape[2])
        graph = load_onnx(onnx_file, load_external_data=False).graph
        quantized = any(node.op_type == 'QuantizeLinear'
                        for node in graph.node)
        self.name = f'onnxruntime {"int8" if quantized else "fp32"}'
        model = init_segmentor(cfg)  # its dataset palette and classes
        self.palette = dataset_palette(model)[1]
        graph_classes = self.session.get_outputs()[0].shape[1]
        if isinstance(graph_classes, int) and \
                graph_classes != len(self.palette):
            raise ValueError(
                f'{onnx_file} predicts {graph_classes} classes, but the '
                f'config {len(self.palette)}; pass the config the graph was '
                'exported from.')
        preprocessor = cfg.model.get('data_preprocessor') or {}
        self.swap_rb = bool(preprocessor.get('bgr_to_rgb')
                            or preprocessor.get('rgb_to_bgr'))
        self.mean = np.asarray(preprocessor.get('mean') or (0., ) * 3,
                               np.float32)
        self.std = np.asarray(preprocessor.get('std') or (1., ) * 3,
                              np.float32)

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """(1, 3, H, W) float32 input at the graph's size.

        Equal, bit for bit, to mmseg's ``SegDataPreProcessor``: channels
        swapped if configured, then ``(x - mean) / std`` in float32.
        """
        if (image.shape[1], image.shape[0]) != self.graph_size:
            image = cv2.resize(image, self.graph_size,
                               interpolation=cv2.INTER_LINEAR)
        planes = cv2.split(image)
        if self.swap_rb:
            planes = planes[::-1]
        inputs = np.empty((1, 3, image.shape[0], image.shape[1]), np.float32)
        for channel, plane in enumerate(planes):
            np.subtract(plane, self.mean[channel], out=inputs[0, channel],
                        dtype=np.float32)
            np.divide(inputs[0, channel], self.std[channel],
                      out=inputs[0, channel])
        return inputs

    def infer(self, data: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
        labels = argmax_channels(run_session(self.session, data)[0])
        if size != self.graph_size:
            labels = cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
        return labels

    def inference_size(self, size: Tuple[int, int]) -> Tuple[int, int]:
        return self.graph_size


def build_segmenter(cfg: Config,
                    checkpoint: Optional[str] = None,
                    onnx_file: Optional[str] = None,
                    device: Optional[str] = None,
                    threads: int = 0) -> Segmenter:
    """The PyTorch model of ``cfg``, or an ONNX graph of it.

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
        threads (int): Intra-op threads of onnxruntime; 0 keeps its
            choice. torch's threads are set by :func:`segment_video` for the
            run only. Default: 0.

    Returns:
        Segmenter: The backend.
    """
    if onnx_file is not None:
        if checkpoint is not None:
            raise ValueError('An ONNX graph holds its weights: pass CONFIG '
                             'and --onnx without a checkpoint.')
        return OnnxSegmenter(cfg, onnx_file, device or 'cpu', threads)
    return TorchSegmenter(cfg, checkpoint, resolve_device(device))


def label_array(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Labels as uint8 (uint16 beyond 256 classes), as PNGs store them."""
    return labels.astype(np.uint8 if num_classes <= 256 else np.uint16)


def argmax_channels(logits: np.ndarray) -> np.ndarray:
    """Index of the largest logit of every pixel (the first on ties, as
    ``torch.argmax``), with OpenCV's vectorised comparisons: about 8x
    numpy's ``argmax(0)`` on (11, 360, 480).

    Args:
        logits (np.ndarray): (C, H, W) float32.

    Returns:
        np.ndarray: (H, W) uint8 labels (uint16 beyond 256 classes).
    """
    if len(logits) > 256:
        return logits.argmax(0).astype(np.uint16)
    best = logits[0].copy()
    labels = np.zeros(best.shape, np.uint8)
    for index in range(1, len(logits)):
        larger = cv2.compare(logits[index], best, cv2.CMP_GT)  # 255 or 0
        cv2.max(best, logits[index], dst=best)
        # labels so far are < index: max(labels, index where larger)
        cv2.min(larger, index, dst=larger)
        cv2.max(labels, larger, dst=labels)
    return labels


def overlay_labels(image: np.ndarray, labels: np.ndarray,
                   palette_bgr: np.ndarray, opacity: float) -> np.ndarray:
    """``(1 - opacity) * image + opacity * colour(labels)``, as
    :func:`mmseg_affnet.apis.infer.segment_images` draws its overlays.

    Args:
        image (np.ndarray): (H, W, 3) uint8 BGR frame.
        labels (np.ndarray): (H, W) class indices.
        palette_bgr (np.ndarray): (num_classes, 3) uint8 BGR colours.
        opacity (float): Opacity of the colours, in [0, 1].

    Returns:
        np.ndarray: (H, W, 3) uint8 BGR overlay.
    """
    colours = np.take(palette_bgr, labels, axis=0)
    return cv2.addWeighted(image, 1 - opacity, colours, opacity, 0)


class StageTimes:
    """Seconds spent in each stage; each stage is timed by one thread."""

    def __init__(self) -> None:
        self.seconds: Dict[str, float] = OrderedDict(
            (name, 0.0) for name, _ in STAGES)

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] += seconds


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
                  cfg_options: Optional[dict] = None) -> VideoSummary:
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
        device (str, optional): See :func:`build_segmenter`. Default: None.
        threads (int): Inference threads (0: the runtime's choice); see
            :func:`build_segmenter`. Default: 0.
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
                segmenter = build_segmenter(cfg, checkpoint, onnx, device,
                                            threads)
                warm_up = np.zeros((frames.size[1], frames.size[0], 3),
                                   np.uint8)
                segmenter.infer(segmenter.preprocess(warm_up), frames.size)
                startup_s = time.perf_counter() - started
                pipeline = _Pipeline(frames, segmenter, video, labels,
                                     opacity, queue_size, max_frames,
                                     progress)
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
        segmenter.name, segmenter.device, frames.description,
        pipeline.written, pipeline.dropped, wall_s, startup_s,
        dict(pipeline.times.seconds), frames.size,
        segmenter.inference_size(frames.size), fps_out, out, labels_dir,
        pipeline.interrupted, pipeline.segmented - pipeline.written)


def _kept_after_error(out: str, labels: Optional[LabelSink]) -> str:
    """What an error that stopped a run after frames were written left:
    no video, and the label PNGs written so far (the folder was empty)."""
    if labels is None or not osp.isdir(labels.folder):
        return f'No video was kept under {out}.'
    count = len(os.listdir(labels.folder))
    return (f'No video was kept under {out}; the {count} label PNGs of the '
            f'frames before are kept in {labels.folder}.')


class _Failure(NamedTuple):
    error: BaseException


class _Pipeline:
    """The three threads of one run (see the module docstring)."""

    def __init__(self, source: FrameSource, segmenter: Segmenter,
                 video: VideoSink, labels: Optional[LabelSink],
                 opacity: float, queue_size: int, max_frames: Optional[int],
                 progress: bool) -> None:
        self.source, self.segmenter = source, segmenter
        self.video, self.labels, self.opacity = video, labels, opacity
        self.palette_bgr = np.ascontiguousarray(segmenter.palette[:, ::-1])
        self.max_frames = max_frames
        self.frames: queue.Queue = queue.Queue(queue_size)
        self.results: queue.Queue = queue.Queue(queue_size)
        self.stop_reading = threading.Event()
        self.abort = threading.Event()
        self.times = StageTimes()
        self.written = self.dropped = self.segmented = 0
        self.started = 0.0
        self.interrupted = ''
        self.writer_error: Optional[BaseException] = None
        total = source.total
        if max_frames is not None:
            total = min(total or max_frames, max_frames)
        self.bar = tqdm(total=total, unit='frame', desc=source.description,
                        disable=not progress, dynamic_ncols=True)

    def run(self) -> None:
        self.started = time.perf_counter()
        reader = threading.Thread(target=self._read, name='video-reader',
                                  daemon=True)
        writer = threading.Thread(target=self._write, name='video-writer',
                                  daemon=True)
        reader.start()
        writer.start()
        try:
            try:
                self._infer()
            except KeyboardInterrupt as stop:  # finish what is segmented
                self.interrupted = interrupt_name(stop)
                self.stop_reading.set()
            self._finish(writer)
        except BaseException:
            self.abort.set()
            raise
        finally:
            self.stop_reading.set()
            self.bar.close()
            writer.join(timeout=10)
            reader.join(timeout=10)
        if self.writer_error is not None:
            raise self.writer_error

    def _finish(self, writer: threading.Thread) -> None:
        """Let the writer write every frame segmented, then end.

        A stop request while it does (a second Ctrl+C, SIGTERM) stops the
        writer after the frame it is writing; what it wrote is kept.
        """
        ended = False
        while True:
            try:
                if not ended:
                    self._put(self.results, _END, self.abort)
                    ended = True
                writer.join()
                return
            except KeyboardInterrupt as stop:
                self.interrupted = self.interrupted or interrupt_name(stop)
                ended = True
                self.abort.set()

    def _put(self, target: queue.Queue, item: Any,
             stop: threading.Event) -> bool:
        """Block until ``item`` is queued or ``stop`` is set."""
        while not stop.is_set() and not self.abort.is_set():
            try:
                target.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        timer, frames = time.perf_counter, self.source.frames()
        end: Any = _END
        count = 0
        try:
            while not self.stop_reading.is_set():
                start = timer()
                frame = next(frames, None)
                decoded = timer()
                if frame is None:
                    break
                item = (frame, self.segmenter.preprocess(frame.image))
                self.times.add('decode', decoded - start)
                self.times.add('preprocess', timer() - decoded)
                if self.source.live:
                    self._put_latest(item)
                elif not self._put(self.frames, item, self.stop_reading):
                    break
                count += 1
                if self.max_frames is not None and count >= self.max_frames:
                    break
        except BaseException as error:  # noqa: B902 - passed to main
            end = _Failure(error)
        # After Ctrl+C or an error nobody reads the queue any more.
        self._put(self.frames, end, self.stop_reading)

    def _put_latest(self, item: Any) -> None:
        """Queue a live frame; drop the oldest queued one if it is full."""
        while True:
            try:
                self.frames.put_nowait(item)
                return
            except queue.Full:
                try:
                    self.frames.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def _infer(self) -> None:
        timer, size = time.perf_counter, self.source.size
        while True:
            start = timer()
            item = self._get(self.frames)
            self.times.add('waiting for frames', timer() - start)
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            frame, data = item
            start = timer()
            labels = self.segmenter.infer(data, size)
            self.segmented += 1
            waiting = timer()
            self.times.add('inference', waiting - start)
            if not self._put(self.results, (frame, labels), self.abort):
                raise self.writer_error or RuntimeError('writer stopped')
            self.times.add('waiting for the writer', timer() - waiting)

    def _get(self, source: queue.Queue) -> Any:
        while True:
            try:
                return source.get(timeout=_POLL_S)
            except queue.Empty:
                if self.abort.is_set():
                    raise RuntimeError('pipeline aborted') from None

    def _write(self) -> None:
        timer = time.perf_counter
        try:
            while True:
                item = self._get(self.results)
                if item is _END:
                    return
                frame, labels = item
                self._write_frame(frame, labels, timer)
        except BaseException as error:  # noqa: B902 - passed to main
            if not self.abort.is_set():
                self.writer_error = error
                self.abort.set()

    def _write_frame(self, frame: Frame, labels: np.ndarray, timer) -> None:
        start = timer()
        overlay = overlay_labels(frame.image, labels, self.palette_bgr,
                                 self.opacity)
        drawn = timer()
        self.video.write(overlay)
        encoded = timer()
        self.times.add('overlay', drawn - start)
        self.times.add('encode', encoded - drawn)
        if self.labels is not None:
            self.labels.write(frame.name, labels)
            self.times.add('label PNGs', timer() - encoded)
        self.written += 1
        self.bar.update()


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
