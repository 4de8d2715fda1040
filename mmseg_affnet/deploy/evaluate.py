"""Val-set accuracy of an exported graph, with the metric PyTorch uses.

:func:`evaluate_logits` runs any logits function (an onnxruntime session
of an fp32 or INT8 graph, or the PyTorch model itself) over a config's val
dataloader and scores it with the config's ``val_evaluator`` (for AFFNet
configs ``GammaGroupIoUMetric``: mIoU and the OWFL gamma groups). Inputs
are normalised by the model's data preprocessor and the logits are turned
into label maps by the segmentor's own ``postprocess_result`` (unpadding,
resizing to the original image size, argmax), so the numbers are those
``tools/test.py`` reports for the same weights.
"""
import os.path as osp
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from mmengine.runner import Runner
from prettytable import PrettyTable, TableStyle
from tqdm import tqdm

from ..engine.segmentor import init_segmentor
from ..evaluation import GammaGroupIoUMetric
from ..utils.config import load_config
from .logits import LogitsAtInputSize
from .onnx import create_ort_session, export_onnx, run_session
from .quantize import graph_input_shape

LogitsFunction = Callable[[np.ndarray], np.ndarray]


def process_val_set(config: Union[str, Path, Config],
                    logits_fn: LogitsFunction,
                    max_images: Optional[int] = None
                    ) -> Tuple[Evaluator, int]:
    """Feed a logits function's predictions on a config's val set to its
    evaluator: the one val loop of the deploy and comparison paths.

    Images are read with the config's ``val_dataloader`` at batch size 1,
    normalised by the model's ``data_preprocessor`` and post-processed by
    the segmentor's ``postprocess_result`` (resizing to the original image
    size), exactly as ``tools/test.py`` scores a model in ``whole`` mode.

    Args:
        config (str | Path | Config): The model's config (``mmseg::``
            allowed); its ``val_dataloader`` and ``val_evaluator`` are used.
        logits_fn (Callable[[np.ndarray], np.ndarray]): Maps a normalised
            float32 batch (1, 3, H, W) to logits (1, num_classes, H, W).
        max_images (int, optional): Stop after this many images (for quick
            checks); None scores the whole val set. Default: None.

    Returns:
        tuple[Evaluator, int]: The evaluator, its metrics' ``results``
        filled but not yet evaluated, and the number of images processed.
    """
    cfg = load_config(config)
    segmentor = init_segmentor(cfg)  # its preprocessor and postprocessing
    dataloader_cfg = cfg.val_dataloader.copy()
    dataloader_cfg.update(batch_size=1, num_workers=0,
                          persistent_workers=False)
    dataloader = Runner.build_dataloader(dataloader_cfg)
    evaluator = Evaluator(cfg.val_evaluator)
    evaluator.dataset_meta = dataloader.dataset.metainfo
    total = len(dataloader)
    if max_images is not None:
        total = min(total, max_images)
    for index, batch in enumerate(
            tqdm(dataloader, total=total, desc='val images', unit='img')):
        if index == total:
            break
        with torch.no_grad():
            data = segmentor.data_preprocessor(batch, False)
        logits = torch.from_numpy(
            logits_fn(data['inputs'].numpy().astype(np.float32)))
        samples = segmentor.postprocess_result(logits, data['data_samples'])
        evaluator.process(data_samples=samples, data_batch=batch)
    return evaluator, total


def evaluate_logits(config: Union[str, Path, Config],
                    logits_fn: LogitsFunction,
                    max_images: Optional[int] = None) -> Dict[str, float]:
    """Score a logits function on a config's val set.

    Args:
        config (str | Path | Config): See :func:`process_val_set`.
        logits_fn (Callable[[np.ndarray], np.ndarray]): See
            :func:`process_val_set`.
        max_images (int, optional): See :func:`process_val_set`.

    Returns:
        dict[str, float]: The evaluator's metrics, e.g. ``mIoU``, ``aAcc``,
        ``mIoU_gamma{g}``.
    """
    evaluator, total = process_val_set(config, logits_fn, max_images)
    return evaluator.evaluate(total)


def onnx_logits_fn(onnx_file: Union[str, Path],
                   threads: int = 0) -> LogitsFunction:
    """A logits function of an exported graph under onnxruntime.

    Args:
        onnx_file (str | Path): fp32 or INT8 graph with a fixed input shape.
        threads (int): onnxruntime intra-op threads (0: its choice).
            Default: 0.

    Returns:
        Callable[[np.ndarray], np.ndarray]: The function; it raises a
        ValueError naming the fix for an input of another size.
    """
    shape = graph_input_shape(onnx_file)
    session = create_ort_session(onnx_file, threads)

    def logits_fn(inputs: np.ndarray) -> np.ndarray:
        if inputs.shape[2:] != shape[2:]:
            raise ValueError(
                f'{onnx_file} takes {shape[2]}x{shape[3]} inputs, but the '
                f'val pipeline gives {inputs.shape[2]}x{inputs.shape[3]}; '
                f'export the graph with --shape {inputs.shape[2]} '
                f'{inputs.shape[3]}.')
        return run_session(session, inputs)

    return logits_fn


def evaluate_onnx(config: Union[str, Path, Config],
                  onnx_file: Union[str, Path],
                  threads: int = 0,
                  max_images: Optional[int] = None) -> Dict[str, float]:
    """Score an fp32 or INT8 ONNX graph on a config's val set.

    Args:
        config (str | Path | Config): The model's config.
        onnx_file (str | Path): The graph; its input size must be the size
            the val pipeline gives.
        threads (int): onnxruntime intra-op threads. Default: 0.
        max_images (int, optional): See :func:`evaluate_logits`.

    Returns:
        dict[str, float]: The evaluator's metrics.
    """
    return evaluate_logits(config, onnx_logits_fn(onnx_file, threads),
                           max_images)


def torch_logits_fn(segmentor: torch.nn.Module) -> LogitsFunction:
    """A logits function of a PyTorch segmentor (eval mode).

    Args:
        segmentor (nn.Module): An mmseg segmentor.

    Returns:
        Callable[[np.ndarray], np.ndarray]: :class:`LogitsAtInputSize` of it,
        run on the segmentor's device.
    """
    model = LogitsAtInputSize(segmentor).eval()
    device = next(segmentor.parameters()).device

    def logits_fn(inputs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(inputs).to(device)).cpu().numpy()

    return logits_fn


def evaluate_checkpoint(config: Union[str, Path, Config],
                        checkpoint: Optional[str],
                        device: str = 'cpu',
                        max_images: Optional[int] = None
                        ) -> Dict[str, object]:
    """Val metrics of a PyTorch checkpoint, with the IoU of every class.

    Scored as ``tools/test.py`` scores it in one process, through
    :func:`process_val_set`; the IoU of each class is the one the config's
    :class:`~mmseg_affnet.evaluation.GammaGroupIoUMetric` computes.

    Args:
        config (str | Path | Config): The model's config; its
            ``val_evaluator`` must hold a ``GammaGroupIoUMetric``.
        checkpoint (str, optional): Its checkpoint (None: random weights).
        device (str): Device of the model. Default: 'cpu'.
        max_images (int, optional): See :func:`process_val_set`.

    Returns:
        dict: The evaluator's metrics (``mIoU``, ``aAcc``, ``mIoU_gamma{g}``,
        ... rounded to 2 decimals, as ``IoUMetric`` rounds them) and
        ``class_iou`` (class -> IoU in percent).

    Raises:
        ValueError: If the evaluator has no ``GammaGroupIoUMetric``.
    """
    cfg = load_config(config)
    evaluator, total = process_val_set(
        cfg, torch_logits_fn(init_segmentor(cfg, checkpoint, device)),
        max_images)
    metric = next((m for m in evaluator.metrics
                   if isinstance(m, GammaGroupIoUMetric)), None)
    if metric is None:
        raise ValueError(
            f'{config}: the val_evaluator has no GammaGroupIoUMetric, whose '
            'IoU of every class is reported; add one to val_evaluator.')
    metrics = {  # IoUMetric's values are rounded float32 percentages
        key: round(float(value), 2)
        for key, value in evaluator.evaluate(total).items()
    }
    return dict(metrics, class_iou=dict(metric.class_iou))


def compare_accuracy(config: Union[str, Path, Config],
                     checkpoint: Optional[str],
                     int8_file: Union[str, Path],
                     tmp_dir: str,
                     threads: int = 0,
                     max_images: Optional[int] = None,
                     cfg_options: Optional[dict] = None
                     ) -> Dict[str, Dict[str, float]]:
    """Val metrics of PyTorch, its fp32 ONNX export and an INT8 graph.

    The fp32 graph is exported into ``tmp_dir`` at the INT8 graph's input
    size, so all three see the same inputs.

    Args:
        config (str | Path | Config): The model's config.
        checkpoint (str, optional): Its checkpoint (None: random weights).
        int8_file (str | Path): The quantized graph.
        tmp_dir (str): Folder for the fp32 export.
        threads (int): onnxruntime intra-op threads. Default: 0.
        max_images (int, optional): See :func:`evaluate_logits`.
        cfg_options (dict, optional): Overrides merged into the config
            (mmseg's ``--cfg-options``). Default: None.

    Returns:
        dict[str, dict[str, float]]: ``'pytorch'``, ``'onnxruntime-fp32'``
        and ``'onnxruntime-int8'`` -> the evaluator's metrics.
    """
    cfg = load_config(config, cfg_options)
    segmentor = init_segmentor(cfg, checkpoint)
    shape = graph_input_shape(int8_file)
    fp32_file = osp.join(tmp_dir, 'fp32.onnx')
    export_onnx(segmentor, torch.randn(*shape), fp32_file)
    return {
        'pytorch': evaluate_logits(cfg, torch_logits_fn(segmentor),
                                   max_images),
        'onnxruntime-fp32': evaluate_onnx(cfg, fp32_file, threads,
                                          max_images),
        'onnxruntime-int8': evaluate_onnx(cfg, int8_file, threads,
                                          max_images),
    }


def accuracy_table(results: Dict[str, Dict[str, float]]) -> str:
    """A Markdown table of :func:`compare_accuracy`'s metrics.

    Args:
        results (dict[str, dict[str, float]]): Runtime -> metrics.

    Returns:
        str: One row per runtime, one column per metric (percent).
    """
    keys = sorted({key for metrics in results.values() for key in metrics},
                  key=lambda key: (not key.startswith('mIoU'), key))
    table = PrettyTable(['runtime'] + keys)
    table.set_style(TableStyle.MARKDOWN)
    for runtime, metrics in results.items():
        table.add_row([runtime] + [f'{metrics.get(key, float("nan")):.2f}'
                                   for key in keys])
    return table.get_string()
