"""Static INT8 quantization of an exported segmentor with onnxruntime.

The recipe onnxruntime recommends for CNNs on x86 CPUs:

1. ``quant_pre_process``: shape inference and onnxruntime's graph
   optimisation, which folds every BatchNormalization into its Conv;
2. ``quantize_static`` in QDQ format: uint8 activations and per-channel
   int8 weights (the U8S8 pair that runs on AVX-512 VNNI / AVX-VNNI dot
   products), activation ranges calibrated on real images.

Calibration images come from a config's dataset, through the config's val
pipeline and the model's own data preprocessor
(:class:`CalibrationImages`), or from any iterable of arrays (e.g. for
tests). The quantized graph has the same input (``inputs``) and output
(``logits``) as the fp32 one.
"""
import itertools
import os.path as osp
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence, Tuple, Union

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, MODELS
from onnxruntime.quantization import (CalibrationDataReader,
                                      CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)
from onnxruntime.quantization.registry import QDQRegistry
from onnxruntime.quantization.shape_inference import quant_pre_process
from tqdm import tqdm

from ..engine.segmentor import init_segmentor
from ..models.utils import check_input_size
from ..utils.config import load_config
from ..utils.io import require_file
from ..utils.io import atomic_write_bytes, refuse_existing, refuse_inputs
from .onnx import INPUT_NAME, _path_of, export_onnx
from .openvino import import_openvino, ir_weights_file, quantize_openvino

PathLike = Union[str, Path]
# Not Entropy: in onnxruntime 1.32 its KL search has a single candidate, so
# it equals MinMax (docs/user_guides/deployment.md, "INT8 accuracy on the
# demo model").
CALIBRATION_METHODS = {
    'minmax': CalibrationMethod.MinMax,
    'percentile': CalibrationMethod.Percentile,
}
DEFAULT_METHOD = 'minmax'
# Left in fp32: quantized, they run slower or no faster and add Q/DQ nodes
# (docs/user_guides/deployment.md).
FP32_OP_TYPES = ('AveragePool', 'Resize')
DEFAULT_OP_TYPES = tuple(sorted(set(QDQRegistry) - set(FP32_OP_TYPES)))


def graph_input_shape(onnx_file: PathLike) -> Tuple[int, int, int, int]:
    """The fixed (N, C, H, W) input shape of an exported graph.

    Args:
        onnx_file (str | Path): ONNX file from
            :func:`mmseg_affnet.deploy.export_onnx`.

    Returns:
        tuple[int, int, int, int]: The shape of its ``inputs``.

    Raises:
        FileNotFoundError: If the file does not exist.
        IsADirectoryError: If it is a folder.
        ValueError: If it is not an ONNX model, or has no fixed 4-D
            ``inputs``.
    """
    model = _read_onnx(str(onnx_file))
    for graph_input in model.graph.input:
        if graph_input.name == INPUT_NAME:
            dims = graph_input.type.tensor_type.shape.dim
            shape = tuple(dim.dim_value for dim in dims)
            if len(shape) == 4 and all(shape):
                return shape
    raise ValueError(
        f'{onnx_file} has no input {INPUT_NAME!r} of a fixed 4-D shape; '
        'pass a graph exported with tools/export_onnx.py.')


def _read_onnx(path: str) -> onnx.ModelProto:
    require_file(path, f'ONNX file {path}',
                 '; pass the .onnx file written by tools/export_onnx.py.',
                 '; export one with tools/export_onnx.py.')
    try:
        return onnx.load(path, load_external_data=False)
    except Exception as error:  # protobuf's DecodeError and kin
        raise ValueError(
            f'{path} is not an ONNX model ({type(error).__name__}: '
            f'{str(error).strip() or "it does not parse"}); pass the .onnx '
            'file written by tools/export_onnx.py.') from None


class CalibrationImages:
    """Images of a config's dataset, normalised exactly as the model does.

    ``num_images`` images evenly spaced over the split's dataset are loaded
    with the config's val pipeline (deterministic: no random crops, flips
    or colour jitter) and the model's ``data_preprocessor`` (mean/std,
    BGR->RGB), then resized bilinearly to the graph's input size if their
    size differs. The dataset is built (and checked) on construction; the
    images are loaded while iterating.

    Args:
        cfg (Config): The model's config.
        shape (tuple[int, int]): Graph input height and width.
        num_images (int): Images to yield (all if the dataset is smaller).
        split (str): ``'train'`` or ``'val'``: whose dataloader's dataset
            the images come from. Default: 'train'.

    Raises:
        ValueError: If the dataset holds no images, or ``split`` or
            ``num_images`` is invalid.

    Yields:
        np.ndarray: float32 array of shape (1, 3, H, W).
    """

    def __init__(self,
                 cfg: Config,
                 shape: Tuple[int, int],
                 num_images: int,
                 split: str = 'train'):
        if split not in ('train', 'val'):
            raise ValueError(
                f"split must be 'train' or 'val', got {split!r}.")
        if num_images < 1:
            raise ValueError(f'num_images must be >= 1, got {num_images}.')
        init_default_scope(cfg.get('default_scope', 'mmseg'))
        dataset_cfg = cfg[f'{split}_dataloader'].dataset.copy()
        dataset_cfg.pipeline = cfg.val_dataloader.dataset.pipeline
        # Not serialised: mmengine's serialisation fails on an empty list
        # before the emptiness check below, and only a few samples are read.
        dataset_cfg.serialize_data = False
        try:
            self.dataset = DATASETS.build(dataset_cfg)
        except FileNotFoundError as error:
            raise ValueError(self._no_images(split, dataset_cfg) +
                             f' ({error})') from None
        if len(self.dataset) == 0:
            raise ValueError(self._no_images(split, dataset_cfg))
        self.preprocessor = MODELS.build(cfg.model.data_preprocessor)
        self.shape = tuple(shape)
        self.indices = np.unique(
            np.linspace(0,
                        len(self.dataset) - 1,
                        num_images).round().astype(int))

    @staticmethod
    def _no_images(split: str, dataset_cfg: Config) -> str:
        return (f'The {split} dataset of the config (data_root '
                f'{dataset_cfg.get("data_root")!r}, data_prefix '
                f'{dataset_cfg.get("data_prefix")}) holds no images; point '
                'data_root at the dataset or calibrate on the other split.')

    def __len__(self) -> int:
        return len(self.indices)

    def input_size(self) -> Tuple[int, int]:
        """(H, W) of the first image as the pipeline and the preprocessor
        give it, before any resizing to the graph's size."""
        with torch.no_grad():
            inputs = self.preprocessor(
                pseudo_collate([self.dataset[int(self.indices[0])]]),
                False)['inputs']
        return tuple(inputs.shape[2:])

    def __iter__(self) -> Iterator[np.ndarray]:
        for index in self.indices:
            with torch.no_grad():
                inputs = self.preprocessor(
                    pseudo_collate([self.dataset[int(index)]]),
                    False)['inputs']
            if tuple(inputs.shape[2:]) != self.shape:
                inputs = F.interpolate(
                    inputs, size=self.shape, mode='bilinear',
                    align_corners=False)
            yield inputs.numpy().astype(np.float32)


class _ArrayReader(CalibrationDataReader):
    """onnxruntime calibration reader over arrays, with a progress bar."""

    def __init__(self, arrays: Iterable[np.ndarray], total: Optional[int]):
        self.arrays = iter(arrays)
        self.progress = tqdm(total=total, desc='calibration images',
                             unit='img')
        self.count = 0

    def get_next(self) -> Optional[dict]:
        array = next(self.arrays, None)
        if array is None:
            self.progress.close()
            return None
        self.progress.update(1)
        self.count += 1
        return {INPUT_NAME: array}


def quantize_onnx(fp32_file: PathLike,
                  out_file: PathLike,
                  calibration: Iterable[np.ndarray],
                  method: str = DEFAULT_METHOD,
                  nodes_to_exclude: Sequence[str] = (),
                  op_types_to_quantize: Optional[Sequence[str]] = None
                  ) -> int:
    """Write a statically quantized INT8 (QDQ) version of an fp32 graph.

    Pre-processes the graph (``quant_pre_process``: BN folding and shape
    inference), calibrates activation ranges on ``calibration`` and
    quantizes: uint8 activations, per-channel symmetric int8 weights, QDQ
    format. The output is written atomically; an existing file is refused
    before any work.

    MinMax is the default calibration: on the demo model (100 train images,
    every operator quantized) it changed val mIoU by -0.03 points (49.00 ->
    48.97) against -0.24 for Percentile (99.999th, symmetric), and it needs
    no histogram of every activation tensor. Keeping the CBAM sigmoid gates
    or the classifier in fp32 cannot recover more than those 0.03 points,
    so they are quantized; only :data:`FP32_OP_TYPES` stay fp32, for speed
    (with them: 49.11).

    Args:
        fp32_file (str | Path): fp32 graph from
            :func:`mmseg_affnet.deploy.export_onnx`.
        out_file (str | Path): INT8 ONNX file to write; must not exist.
        calibration (Iterable[np.ndarray]): float32 inputs of the graph's
            shape (1, 3, H, W), normalised as the model expects, e.g.
            :class:`CalibrationImages`; its ``len``, if it has one, sizes
            the progress bar.
        method (str): Calibration method: ``'minmax'`` or
            ``'percentile'`` (99.999th). Default: 'minmax'.
        nodes_to_exclude (Sequence[str]): Names of nodes kept in fp32 (as
            in the pre-processed graph). Default: ().
        op_types_to_quantize (Sequence[str], optional): Only quantize these
            operator types; None quantizes :data:`DEFAULT_OP_TYPES` (every
            type onnxruntime's QDQ quantizer supports but
            :data:`FP32_OP_TYPES`). Default: None.

    Returns:
        int: Number of calibration images used.

    Raises:
        FileExistsError: If ``out_file`` exists.
        FileNotFoundError: If ``fp32_file`` does not exist.
        ValueError: If ``method`` is unknown or ``calibration`` is empty.
    """
    refuse_inputs([out_file], [fp32_file], 'Pass another --out.')
    refuse_existing([out_file], 'pass another --out or move the file away.')
    graph_input_shape(fp32_file)  # an ONNX file, with the graph's input
    if method not in CALIBRATION_METHODS:
        raise ValueError(f'Calibration method {method!r} is not one of '
                         f'{list(CALIBRATION_METHODS)}.')
    arrays = iter(calibration)
    first = next(arrays, None)
    if first is None:
        raise ValueError('No calibration images: the calibration iterable '
                         'is empty.')
    total = len(calibration) if hasattr(calibration, '__len__') else None
    reader = _ArrayReader(itertools.chain([first], arrays), total)
    with tempfile.TemporaryDirectory() as tmp_dir:
        prepared = osp.join(tmp_dir, 'prepared.onnx')
        quantized = osp.join(tmp_dir, 'int8.onnx')
        # The graph's shapes are static, so ONNX's own shape inference
        # covers it; onnxruntime's symbolic one fails on the exporter's
        # Resize nodes.
        quant_pre_process(str(fp32_file), prepared, skip_symbolic_shape=True)
        quantize_static(
            prepared,
            quantized,
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CALIBRATION_METHODS[method],
            nodes_to_exclude=list(nodes_to_exclude),
            op_types_to_quantize=list(op_types_to_quantize
                                      or DEFAULT_OP_TYPES),
            extra_options=dict(CalibPercentile=99.999))
        with open(quantized, 'rb') as file:
            atomic_write_bytes(out_file, file.read())
    return reader.count


def quantize_segmentor(config: PathLike,
                       out_file: PathLike,
                       checkpoint: Optional[str] = None,
                       shape: Optional[Tuple[int, int]] = None,
                       fp32_file: Optional[PathLike] = None,
                       num_images: int = 100,
                       split: str = 'train',
                       method: str = DEFAULT_METHOD,
                       opset: int = 18,
                       nodes_to_exclude: Sequence[str] = (),
                       op_types_to_quantize: Optional[Sequence[str]] = None,
                       cfg_options: Optional[dict] = None,
                       for_eval: bool = False,
                       runtime: str = 'onnxruntime') -> int:
    """INT8 model of a config's segmentor, calibrated on its own images.

    Either exports the segmentor (config + checkpoint, at ``shape``) first,
    or quantizes an existing fp32 graph (``fp32_file``, whose input shape is
    used). Calibration images come from the config's ``split`` dataset
    (:class:`CalibrationImages`); everything is checked before the export.

    Args:
        config (str | Path): The model's config (``mmseg::`` allowed).
        out_file (str | Path): INT8 ONNX file to write; must not exist.
        checkpoint (str, optional): Checkpoint to export; None keeps random
            weights (for timing only). Not with ``fp32_file``.
        shape (tuple[int, int], optional): Input height and width of the
            export; required unless ``fp32_file`` is given.
        fp32_file (str | Path, optional): An fp32 graph to quantize instead
            of exporting one.
        num_images (int): Calibration images. Default: 100.
        split (str): ``'train'`` or ``'val'``. Default: 'train'.
        method (str): See :func:`quantize_onnx`. Default: 'minmax'.
        opset (int): ONNX opset of the export. Default: 18.
        nodes_to_exclude (Sequence[str]): See :func:`quantize_onnx`.
        op_types_to_quantize (Sequence[str], optional): See
            :func:`quantize_onnx`.
        cfg_options (dict, optional): Overrides merged into the config
            (mmseg's ``--cfg-options``), e.g. another ``data_root`` of the
            calibration images. Default: None.
        for_eval (bool): The graph will be scored on the val set
            (:func:`mmseg_affnet.deploy.compare_accuracy`), which needs the
            val pipeline's input size: check ``shape`` against it before
            anything is written. Default: False.
        runtime (str): ``'onnxruntime'`` (an INT8 QDQ ONNX graph,
            :func:`quantize_onnx`) or ``'openvino'`` (an INT8 OpenVINO IR
            ``NAME.xml`` + ``NAME.bin`` by NNCF,
            :func:`mmseg_affnet.deploy.openvino.quantize_openvino`; its own
            calibration, so ``method``, ``nodes_to_exclude`` and
            ``op_types_to_quantize`` are onnxruntime's only).
            Default: 'onnxruntime'.

    Returns:
        int: Number of calibration images used.

    Raises:
        ValueError: If an argument is invalid, ``out_file`` is one of the
            inputs, or (``for_eval``) ``shape`` is not the size of the val
            pipeline's inputs.
        FileExistsError: If ``out_file`` exists.
    """
    refuse_inputs([out_file], [fp32_file, checkpoint, _path_of(config)],
                  'Pass another --out.')
    refuse_existing([out_file], 'pass another --out or move the file away.')
    _check_runtime(runtime, out_file, method, nodes_to_exclude,
                   op_types_to_quantize)
    if (shape is None) == (fp32_file is None):
        raise ValueError('Give either the input shape of the export or an '
                         'fp32 ONNX file, not both or neither.')
    if fp32_file is not None and checkpoint is not None:
        raise ValueError(f'A checkpoint ({checkpoint}) cannot be applied to '
                         f'the existing graph {fp32_file}; leave one out.')
    if fp32_file is not None:
        shape = graph_input_shape(fp32_file)[2:]
    else:
        check_input_size(shape)
    cfg = load_config(config, cfg_options)
    if for_eval:
        check_val_input_size(cfg, shape)
    calibration = CalibrationImages(cfg, shape, num_images, split)

    def quantize(fp32: PathLike) -> int:
        if runtime == 'openvino':
            return quantize_openvino(fp32, out_file, calibration)
        return quantize_onnx(fp32, out_file, calibration, method,
                             nodes_to_exclude, op_types_to_quantize)

    if fp32_file is not None:
        return quantize(fp32_file)
    segmentor = init_segmentor(cfg, checkpoint)
    with tempfile.TemporaryDirectory() as tmp_dir:
        exported = osp.join(tmp_dir, 'fp32.onnx')
        export_onnx(segmentor, torch.randn(1, 3, *shape), exported, opset)
        return quantize(exported)


def _check_runtime(runtime: str, out_file: PathLike, method: str,
                   nodes_to_exclude: Sequence[str],
                   op_types_to_quantize: Optional[Sequence[str]]) -> None:
    if runtime == 'onnxruntime':
        return
    if runtime != 'openvino':
        raise ValueError(f"Runtime {runtime!r} is not 'onnxruntime' or "
                         "'openvino'.")
    if method != DEFAULT_METHOD or nodes_to_exclude or op_types_to_quantize:
        raise ValueError('--method, nodes to exclude and operator types '
                         'are onnxruntime\'s; OpenVINO (NNCF) calibrates '
                         'its own way. Leave them out.')
    ir_weights_file(out_file)
    import_openvino()


def check_val_input_size(cfg: Config, shape: Tuple[int, int]) -> None:
    """Raise unless a graph of input ``shape`` can be scored on the val set.

    The val pipeline and the model's preprocessor fix the size of the val
    inputs (:func:`mmseg_affnet.deploy.process_val_set` feeds them as they
    are); a graph of another size cannot take them.

    Args:
        cfg (Config): The model's config.
        shape (tuple[int, int]): The graph's input height and width.

    Raises:
        ValueError: If the first val image's input size is not ``shape``;
            the message names the ``--shape`` to pass.
    """
    size = CalibrationImages(cfg, shape, 1, 'val').input_size()
    if tuple(size) != tuple(shape):
        raise ValueError(
            f'--eval scores the graph on the val set, whose pipeline gives '
            f'{size[0]}x{size[1]} inputs, but --shape is '
            f'{shape[0]} {shape[1]}; nothing was written. Pass --shape '
            f'{size[0]} {size[1]}, or leave out --eval.')
