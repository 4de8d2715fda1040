"""One inference layer: a segmentor, or a graph of it, on a runtime.

Every path that runs a model or an exported graph goes through an
:class:`InferenceBackend`: video (:mod:`mmseg_affnet.apis.video`), val-set
scores and the INT8 accuracy check (:mod:`.evaluate`) and the benchmark's
onnxruntime rows (:mod:`mmseg_affnet.analysis.benchmark`). A backend runs
:class:`LogitsAtInputSize` on a normalised batch (:meth:`~InferenceBackend.logits`),
states the input size it takes (:attr:`~InferenceBackend.input_size`) and
turns BGR frames into label maps (:meth:`~InferenceBackend.preprocess`,
:meth:`~InferenceBackend.labels`).

- :class:`TorchBackend`: the PyTorch segmentor, on its device, at any size;
  frames go through mmseg's own test path.
- :class:`OnnxBackend`: an fp32 or INT8 graph of
  :func:`~mmseg_affnet.deploy.export_onnx` /
  :func:`~mmseg_affnet.deploy.quantize_onnx` under onnxruntime, at the
  graph's fixed size.
- :class:`OpenVinoBackend`: the fp32 graph, or the INT8 model of
  :func:`~mmseg_affnet.deploy.openvino.quantize_openvino`, under OpenVINO
  (an optional extra).

Graph runtimes are looked up by name in :data:`GRAPH_BACKENDS`
(:func:`open_graph`): another runtime is one more subclass of
:class:`InferenceBackend` and one more entry.

Example:
    >>> backend = open_graph('affnet_int8.onnx', cfg, threads=2)
    >>> backend.name, backend.input_size
    ('onnxruntime int8', (360, 480))
    >>> labels = backend.labels(backend.preprocess(frame), (480, 360))
"""
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple, Type, Union

import cv2
import numpy as np
import onnx
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from .logits import LogitsAtInputSize
from .onnx import create_ort_session, run_session
from .openvino import compile_openvino, read_openvino_model
from .quantize import graph_input_shape

#: (W, H) of an image, as OpenCV sizes them.
ImageSize = Tuple[int, int]


class InferenceBackend:
    """A runtime that runs a segmentor's logits graph.

    The default frame path is the exported graph's: frames resized
    (bilinear) to :attr:`input_size` if it is fixed, normalised in numpy
    with the config's data preprocessor (mean, std, BGR->RGB; bit for bit
    mmseg's ``SegDataPreProcessor``), labels the argmax of the logits,
    resized (nearest) back to the frame's size. A subclass implements
    :meth:`logits` and sets :attr:`name` and :attr:`input_size`.

    Args:
        cfg (Config): The model's config: its data preprocessor normalises
            frames, its decode head gives the number of classes.
        device (str): Where inference runs.

    Attributes:
        name (str): The backend, e.g. ``'pytorch'``, ``'onnxruntime int8'``.
        precision (str): ``'fp32'`` or ``'int8'``.
        source (str): What runs: the graph's file or the segmentor's class.
        input_size (tuple[int, int] | None): (H, W) of the only inputs it
            takes; None: any size.
        num_classes (int): Classes the config's model predicts.
    """
    name = ''
    precision = 'fp32'
    source = ''
    input_size: Optional[Tuple[int, int]] = None

    def __init__(self, cfg: Config, device: str) -> None:
        self.device = device
        self.num_classes = cfg.model.decode_head.num_classes
        preprocessor = cfg.model.get('data_preprocessor') or {}
        self.swap_rb = bool(preprocessor.get('bgr_to_rgb')
                            or preprocessor.get('rgb_to_bgr'))
        self.mean = np.asarray(preprocessor.get('mean') or (0., ) * 3,
                               np.float32)
        self.std = np.asarray(preprocessor.get('std') or (1., ) * 3,
                              np.float32)

    def logits(self, inputs: np.ndarray) -> np.ndarray:
        """Logits of a normalised batch.

        Args:
            inputs (np.ndarray): float32 (N, 3, H, W), of :attr:`input_size`
                if it is fixed.

        Returns:
            np.ndarray: float32 logits (N, num_classes, H, W).
        """
        raise NotImplementedError

    def preprocess(self, image: np.ndarray) -> Any:
        """Model input of one frame (thread-safe).

        Args:
            image (np.ndarray): (H, W, 3) uint8 BGR frame.

        Returns:
            np.ndarray: float32 (1, 3, h, w) input at :attr:`input_size`
            (the frame's own size if that is None).
        """
        if self.input_size is not None and \
                image.shape[:2] != self.input_size:
            image = cv2.resize(image, self.input_size[::-1],
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

    def labels(self, data: Any, size: ImageSize) -> np.ndarray:
        """Label map of a preprocessed frame.

        Args:
            data: :meth:`preprocess`'s output.
            size (tuple[int, int]): (W, H) of the frame.

        Returns:
            np.ndarray: (H, W) labels, uint8 (uint16 beyond 256 classes).
        """
        labels = argmax_channels(self.logits(data)[0])
        if labels.shape[::-1] != tuple(size):
            labels = cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
        return labels

    def inference_size(self, size: ImageSize) -> ImageSize:
        """(W, H) the model sees for frames of (W, H) ``size``."""
        return size if self.input_size is None else self.input_size[::-1]


class TorchBackend(InferenceBackend):
    """The PyTorch segmentor, as :class:`LogitsAtInputSize`, on its device.

    Frames take mmseg's own single-image path, as
    :func:`mmseg_affnet.apis.infer.segment_images` runs it: ``pipeline``
    (the config's test pipeline), collation, the segmentor's ``test_step``
    (data preprocessor, prediction, logits resized bilinearly to the
    frame's size, argmax).

    Args:
        segmentor (nn.Module): A segmentor from
            :func:`mmseg_affnet.engine.init_segmentor` (with ``cfg``).
        pipeline (Callable, optional): The test pipeline of frames, e.g.
            ``SegmentorInferencer.pipeline``; needed by :meth:`preprocess`
            only. Default: None.
    """
    name = 'pytorch'

    def __init__(self, segmentor: nn.Module,
                 pipeline: Optional[Callable[[np.ndarray], dict]] = None
                 ) -> None:
        super().__init__(segmentor.cfg,
                         str(next(segmentor.parameters()).device))
        self.segmentor = segmentor.eval()
        self.graph = LogitsAtInputSize(segmentor).eval()
        self.pipeline = pipeline
        self.source = type(segmentor).__name__

    def logits(self, inputs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.graph(torch.from_numpy(inputs).to(
                self.device)).cpu().numpy()

    def preprocess(self, image: np.ndarray) -> dict:
        """The test pipeline's sample of a (H, W, 3) uint8 BGR frame."""
        if self.pipeline is None:
            raise ValueError('TorchBackend: frames need the config\'s test '
                             'pipeline; pass pipeline=.')
        return self.pipeline(image)

    def labels(self, data: dict, size: ImageSize) -> np.ndarray:
        with torch.no_grad():
            sample = self.segmentor.test_step(pseudo_collate([data]))[0]
        labels = sample.pred_sem_seg.data[0].cpu().numpy()
        return labels.astype(np.uint8 if self.num_classes <= 256 else
                             np.uint16)

    def inference_size(self, size: ImageSize) -> ImageSize:
        inputs = self.preprocess(np.zeros((size[1], size[0], 3), np.uint8))
        return tuple(inputs['inputs'].shape[:0:-1])


class OnnxBackend(InferenceBackend):
    """An fp32 or INT8 graph under onnxruntime.

    Args:
        onnx_file (str | Path): The graph, with a fixed input shape.
        cfg (Config): The config it was exported from.
        device (str): ``'cpu'`` or ``'cuda'`` (onnxruntime-gpu's provider,
            on its default GPU). Default: 'cpu'.
        threads (int): Intra-op threads; 0 lets onnxruntime choose.
            Default: 0.
        **session_options: Further options of
            :func:`~mmseg_affnet.deploy.create_ort_session`.

    Raises:
        ValueError: The file is not a graph of ``tools/export_onnx.py``,
            its classes differ from the config's, or onnxruntime lacks the
            device's provider.
    """

    def __init__(self, onnx_file: Union[str, Path], cfg: Config,
                 device: str = 'cpu', threads: int = 0,
                 **session_options) -> None:
        shape = graph_input_shape(onnx_file)
        super().__init__(cfg, device)
        self.session = create_ort_session(onnx_file, threads, device,
                                          **session_options)
        self.source = str(onnx_file)
        self.input_size = tuple(shape[2:])
        graph = onnx.load(str(onnx_file), load_external_data=False).graph
        if any(node.op_type == 'QuantizeLinear' for node in graph.node):
            self.precision = 'int8'
        self.name = f'onnxruntime {self.precision}'
        graph_classes = self.session.get_outputs()[0].shape[1]
        if isinstance(graph_classes, int) and \
                graph_classes != self.num_classes:
            raise ValueError(
                f'{onnx_file} predicts {graph_classes} classes, but the '
                f'config {self.num_classes}; pass the config the graph was '
                'exported from.')

    def logits(self, inputs: np.ndarray) -> np.ndarray:
        return run_session(self.session, inputs)


class OpenVinoBackend(InferenceBackend):
    """An fp32 ONNX graph or an INT8 OpenVINO IR under OpenVINO (the
    optional ``openvino`` extra, :mod:`mmseg_affnet.deploy.openvino`).

    Args:
        model_file (str | Path): The fp32 graph of ``tools/export_onnx.py``
            (``.onnx``) or the INT8 model of ``tools/quantize.py --runtime
            openvino`` (``.xml``).
        cfg (Config): The config it was exported from.
        device (str): ``'cpu'`` only. Default: 'cpu'.
        threads (int): Inference threads; 0 lets OpenVINO choose.
            Default: 0.

    Raises:
        ImportError: If OpenVINO is not installed (names the extra).
        ValueError: Another device, a graph without a fixed input size, or
            classes other than the config's.
    """

    def __init__(self, model_file: Union[str, Path], cfg: Config,
                 device: str = 'cpu', threads: int = 0) -> None:
        if device != 'cpu':
            raise ValueError(f'The OpenVINO backend runs on the CPU, not '
                             f'{device!r}; pass --device cpu.')
        super().__init__(cfg, device)
        model = read_openvino_model(model_file)
        if model.inputs[0].get_partial_shape().is_dynamic:
            raise ValueError(f'{model_file} has no fixed input size; '
                             'export it with tools/export_onnx.py.')
        self.input_size = tuple(model.inputs[0].get_shape())[2:]
        if any(op.get_type_name() == 'FakeQuantize'
               for op in model.get_ops()):
            self.precision = 'int8'
        self.name = f'openvino {self.precision}'
        self.source = str(model_file)
        graph_classes = model.outputs[0].get_shape()[1]
        if graph_classes != self.num_classes:
            raise ValueError(
                f'{model_file} predicts {graph_classes} classes, but the '
                f'config {self.num_classes}; pass the config the graph was '
                'exported from.')
        self.compiled = compile_openvino(model, threads or None)

    def logits(self, inputs: np.ndarray) -> np.ndarray:
        return self.compiled(inputs)[0]


#: Runtimes of exported graphs by name (:func:`open_graph`).
GRAPH_BACKENDS: Dict[str, Type[InferenceBackend]] = {
    'onnxruntime': OnnxBackend,
    'openvino': OpenVinoBackend,
}


def open_graph(file: Union[str, Path], cfg: Config, device: str = 'cpu',
               threads: int = 0, runtime: str = 'onnxruntime'
               ) -> InferenceBackend:
    """An exported graph under a runtime of :data:`GRAPH_BACKENDS`.

    Args:
        file (str | Path): The graph.
        cfg (Config): The config it was exported from.
        device (str): Where it runs. Default: 'cpu'.
        threads (int): Intra-op threads; 0: the runtime's choice.
            Default: 0.
        runtime (str): A key of :data:`GRAPH_BACKENDS`.
            Default: 'onnxruntime'.

    Returns:
        InferenceBackend: The backend.
    """
    if runtime not in GRAPH_BACKENDS:
        raise ValueError(f'Runtime {runtime!r} is not one of '
                         f'{list(GRAPH_BACKENDS)}.')
    return GRAPH_BACKENDS[runtime](file, cfg, device, threads)


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
