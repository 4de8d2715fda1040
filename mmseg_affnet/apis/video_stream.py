"""The three threads of one video run (:func:`mmseg_affnet.apis.video.segment_video`).

::

    reader thread             main thread           writer thread
    decode + preprocess  ->   inference        ->   overlay + encode
                        queue               queue   (+ label PNGs)

Each stage is timed with ``time.perf_counter`` in its own thread
(:class:`StageTimes`, in the order of :data:`STAGES`).
"""
import queue
import threading
import time
from collections import OrderedDict
from typing import Any, Dict, NamedTuple, Optional

import cv2
import numpy as np
from tqdm import tqdm

from ..deploy.backends import InferenceBackend
from ..utils.cli import interrupt_name
from .video_io import Frame, FrameSource
from .video_sinks import LabelSink, VideoSink

#: Stages in the order of the pipeline: (name, thread).
STAGES = (('decode', 'reader'), ('preprocess', 'reader'),
          ('waiting for frames', 'main'), ('inference', 'main'),
          ('waiting for the writer', 'main'), ('overlay', 'writer'),
          ('encode', 'writer'), ('label PNGs', 'writer'))
_END = object()
_POLL_S = 0.1


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



class _Failure(NamedTuple):
    error: BaseException


class VideoPipeline:
    """The three threads of one run (see the module docstring).

    Args:
        source (FrameSource): The frames.
        backend (InferenceBackend): Preprocesses frames (reader thread) and
            labels them (main thread).
        palette (np.ndarray): (num_classes, 3) uint8 RGB colours.
        video (VideoSink): The overlay video.
        labels (LabelSink, optional): The label PNGs' folder.
        opacity (float): Opacity of the colours, in [0, 1].
        queue_size (int): Frames each queue holds.
        max_frames (int, optional): Stop after this many frames.
        progress (bool): Show a progress bar.
    """

    def __init__(self, source: FrameSource, backend: InferenceBackend,
                 palette: np.ndarray, video: VideoSink,
                 labels: Optional[LabelSink], opacity: float,
                 queue_size: int, max_frames: Optional[int],
                 progress: bool) -> None:
        self.source, self.backend = source, backend
        self.video, self.labels, self.opacity = video, labels, opacity
        self.palette_bgr = np.ascontiguousarray(palette[:, ::-1])
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
                item = (frame, self.backend.preprocess(frame.image))
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
            labels = self.backend.labels(data, size)
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
