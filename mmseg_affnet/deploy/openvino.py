"""OpenVINO: the inference runtime built for x86 CPUs, and NNCF's INT8
post-training quantization of the exported graph.

An optional backend (``pip install -e '.[openvino]'``: ``openvino`` and
``nncf``); without it every entry point fails with one line naming the
extra. OpenVINO reads the fp32 ONNX graph of
:func:`mmseg_affnet.deploy.export_segmentor` directly; the INT8 model is an
OpenVINO IR pair (``NAME.xml`` + ``NAME.bin``) written by
:func:`quantize_openvino`, calibrated on the same images as the
onnxruntime path (:class:`mmseg_affnet.deploy.CalibrationImages`).
"""
import functools
import logging
import os
import os.path as osp
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Iterable, Optional, Sequence, Union

import numpy as np

from ..utils.io import refuse_existing, refuse_inputs

PathLike = Union[str, Path]
EXTRA_HINT = ("install the optional backend with pip install -e "
              "'.[openvino]' (openvino and nncf)")
#: OpenVINO operation types NNCF leaves in float32, as the onnxruntime
#: path leaves ONNX's AveragePool and Resize
#: (:data:`mmseg_affnet.deploy.quantize.FP32_OP_TYPES`): the pyramid
#: pooling's average pools and every bilinear upsampling.
FP32_OV_TYPES = ('AvgPool', 'Interpolate')


def import_openvino() -> ModuleType:
    """The ``openvino`` module, or an error naming the extra.

    Raises:
        ImportError: If OpenVINO is not installed.
    """
    try:
        import openvino
    except ImportError:
        raise ImportError(f'OpenVINO is not installed: {EXTRA_HINT}.') \
            from None
    return openvino


def openvino_core():
    """The process's one ``openvino.Core``, as OpenVINO recommends.

    One ``Core`` also means one alternate signal stack. OpenVINO's CPU
    plugin gives the calling thread an alternate signal stack per ``Core``
    and, when that ``Core``'s compiled model goes, puts back the one it
    found. With a ``Core`` per call, two models freed in the order they
    were made left the first one's freed stack registered, and the next
    Ctrl+C (any signal with a Python handler) killed the process with a
    segmentation fault (seen on a Sapphire Rapids Xeon; tested by
    ``test_freed_models_leave_no_dangling_signal_stack``).

    Raises:
        ImportError: If OpenVINO is not installed.
    """
    return _core_of(import_openvino())


@functools.lru_cache(maxsize=None)
def _core_of(openvino: ModuleType):
    return openvino.Core()


def _import_nncf() -> ModuleType:
    try:
        import nncf
    except ImportError:
        raise ImportError('NNCF (OpenVINO\'s quantizer) is not installed: '
                          f'{EXTRA_HINT}.') from None
    return nncf


def read_openvino_model(model_file: PathLike):
    """Read an ONNX graph or an OpenVINO IR (``.xml``).

    Args:
        model_file (str | Path): ``.onnx`` or ``.xml``.

    Returns:
        openvino.Model: The model, not compiled.

    Raises:
        ImportError: If OpenVINO is not installed.
        FileNotFoundError: If ``model_file`` does not exist.
    """
    core = openvino_core()
    if not osp.isfile(model_file):
        raise FileNotFoundError(f'Model file {model_file} does not exist; '
                                'export it with tools/export_onnx.py.')
    return core.read_model(os.fspath(model_file))


def compile_openvino(model, threads: Optional[int] = None,
                     device: str = 'CPU'):
    """Compile a model for latency (batch 1), in the graph's own
    precision.

    OpenVINO's CPU plugin runs a float32 graph in bfloat16 by default on
    CPUs with AMX or AVX-512 BF16 (on a Sapphire Rapids Xeon the fp32
    graph's logits came out rounded to bfloat16, up to 0.065 from
    onnxruntime's); ``INFERENCE_PRECISION_HINT`` ``f32`` keeps float32
    there, so that fp32 means fp32 on every CPU and the INT8 model's
    float32 operations (:data:`FP32_OV_TYPES`) stay float32.

    Args:
        model (str | Path | openvino.Model): ``.onnx`` (fp32), ``.xml``
            (e.g. the INT8 model of :func:`quantize_openvino`) or a model
            of :func:`read_openvino_model`.
        threads (int, optional): Inference threads; None lets OpenVINO
            choose. Default: None.
        device (str): OpenVINO device. Default: 'CPU'.

    Returns:
        openvino.CompiledModel: Called with a float32 array (1, 3, H, W),
        it returns the logits (1, num_classes, H, W) as its output 0.

    Raises:
        ImportError: If OpenVINO is not installed.
        FileNotFoundError: If a model file does not exist.
    """
    if isinstance(model, (str, os.PathLike)):
        model = read_openvino_model(model)
    config = {'PERFORMANCE_HINT': 'LATENCY',
              'INFERENCE_PRECISION_HINT': 'f32'}
    if threads:
        config['INFERENCE_NUM_THREADS'] = int(threads)
    return openvino_core().compile_model(model, device, config)


def ir_weights_file(xml_file: PathLike) -> str:
    """The ``.bin`` of an OpenVINO IR ``NAME.xml``.

    Raises:
        ValueError: If ``xml_file`` does not end in ``.xml``.
    """
    xml_file = os.fspath(xml_file)
    if not xml_file.endswith('.xml'):
        raise ValueError(f'OpenVINO model {xml_file} must end in .xml (its '
                         'weights go to the .bin beside it).')
    return xml_file[:-len('.xml')] + '.bin'


def quantize_openvino(fp32_file: PathLike, out_file: PathLike,
                      calibration: Iterable[np.ndarray],
                      fp32_types: Sequence[str] = FP32_OV_TYPES) -> int:
    """Write an INT8 OpenVINO IR of an fp32 ONNX graph (NNCF post-training
    quantization).

    NNCF's ``performance`` preset (symmetric int8 weights and activations)
    calibrates on ``calibration``; the operation types ``fp32_types`` stay
    in float32. The IR pair is written into a temporary folder beside
    ``out_file`` and renamed into place, ``.bin`` first, so a reader never
    sees an ``.xml`` without its weights; existing files are refused before
    any work.

    Args:
        fp32_file (str | Path): fp32 graph of
            :func:`mmseg_affnet.deploy.export_segmentor`.
        out_file (str | Path): ``NAME.xml`` to write (``NAME.bin`` beside
            it); neither may exist.
        calibration (Iterable[np.ndarray]): float32 inputs (1, 3, H, W)
            normalised as the model expects, e.g.
            :class:`mmseg_affnet.deploy.CalibrationImages`.
        fp32_types (Sequence[str]): OpenVINO operation types kept in
            float32. Default: :data:`FP32_OV_TYPES`.

    Returns:
        int: Number of calibration images used.

    Raises:
        ImportError: If OpenVINO or NNCF is not installed.
        ValueError: If ``out_file`` does not end in ``.xml`` or
            ``calibration`` is empty.
        FileExistsError: If ``out_file`` or its ``.bin`` exists.
    """
    out_file = os.fspath(out_file)
    weights_file = ir_weights_file(out_file)
    refuse_inputs([out_file, weights_file], [fp32_file], 'Pass another --out.')
    refuse_existing([out_file, weights_file],
                    'pass another --out or move the files away.')
    ov, nncf = import_openvino(), _import_nncf()
    arrays = list(calibration)
    if not arrays:
        raise ValueError('No calibration images: the calibration iterable '
                         'is empty.')
    model = read_openvino_model(fp32_file)
    # NNCF logs every node it leaves unquantized; its progress bar stays.
    nncf_log = logging.getLogger('nncf')
    level = nncf_log.level
    nncf_log.setLevel(logging.WARNING)
    try:
        quantized = nncf.quantize(
            model,
            nncf.Dataset(arrays),
            preset=nncf.QuantizationPreset.PERFORMANCE,
            subset_size=len(arrays),
            ignored_scope=nncf.IgnoredScope(types=list(fp32_types),
                                            validate=False))
    finally:
        nncf_log.setLevel(level)
    folder = osp.dirname(osp.abspath(out_file))
    with tempfile.TemporaryDirectory(dir=folder) as tmp_dir:
        tmp_xml = osp.join(tmp_dir, 'model.xml')
        ov.save_model(quantized, tmp_xml, compress_to_fp16=False)
        os.replace(osp.join(tmp_dir, 'model.bin'), weights_file)
        os.replace(tmp_xml, out_file)
    return len(arrays)
