"""Val-set accuracy of a model or an exported graph, with the metric
PyTorch uses.

:func:`process_val_set` runs any :class:`~.backends.InferenceBackend` (the
PyTorch segmentor, an onnxruntime session of an fp32 or INT8 graph) over a
config's val dataloader and scores it with the config's ``val_evaluator``
(for AFFNet configs ``GammaGroupIoUMetric``: mIoU and the OWFL gamma
groups). Inputs are normalised by the model's data preprocessor and the
logits are turned into label maps by the segmentor's own
``postprocess_result`` (unpadding, resizing to the original image size,
argmax), so the numbers are those ``tools/test.py`` reports for the same
weights. The caller builds the segmentor once and passes it.
"""
import os.path as osp
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from mmengine.runner import Runner
from prettytable import PrettyTable, TableStyle
from tqdm import tqdm

from ..engine.segmentor import init_segmentor
from ..evaluation import GammaGroupIoUMetric
from ..utils.config import load_config
from .backends import InferenceBackend, TorchBackend, open_graph
from .onnx import export_onnx


def process_val_set(segmentor: nn.Module,
                    backend: InferenceBackend,
                    max_images: Optional[int] = None
                    ) -> Tuple[Evaluator, int]:
    """Feed a backend's predictions on the val set to the evaluator: the
    one val loop of the deploy and comparison paths.

    Images are read with the config's ``val_dataloader`` at batch size 1,
    normalised by the segmentor's ``data_preprocessor`` and
    post-processed by its ``postprocess_result`` (resizing to the original
    image size), exactly as ``tools/test.py`` scores a model in ``whole``
    mode.

    Args:
        segmentor (nn.Module): A segmentor from :func:`init_segmentor`; its
            ``cfg`` gives ``val_dataloader`` and ``val_evaluator``, its
            data preprocessor and post-processing are used (its weights are
            not: ``backend`` gives the logits).
        backend (InferenceBackend): Maps a normalised float32 batch
            (1, 3, H, W) to logits (1, num_classes, H, W).
        max_images (int, optional): Stop after this many images (for quick
            checks); None scores the whole val set. Default: None.

    Returns:
        tuple[Evaluator, int]: The evaluator, its metrics' ``results``
        filled but not yet evaluated, and the number of images processed.

    Raises:
        ValueError: If the val pipeline gives inputs of another size than
            the backend's fixed :attr:`~.backends.InferenceBackend.input_size`.
    """
    cfg = segmentor.cfg
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
        inputs = data['inputs'].cpu().numpy().astype(np.float32)
        size = inputs.shape[2:]
        if backend.input_size not in (None, size):
            raise ValueError(
                f'{backend.source} takes {backend.input_size[0]}x'
                f'{backend.input_size[1]} inputs, but the val pipeline gives '
                f'{size[0]}x{size[1]}; export the graph with --shape '
                f'{size[0]} {size[1]}.')
        logits = torch.from_numpy(backend.logits(inputs))
        samples = segmentor.postprocess_result(
            logits, [sample.cpu() for sample in data['data_samples']])
        evaluator.process(data_samples=samples, data_batch=batch)
    return evaluator, total


def evaluate_backend(segmentor: nn.Module,
                     backend: InferenceBackend,
                     max_images: Optional[int] = None) -> Dict[str, float]:
    """Score a backend on the val set of a segmentor's config.

    Args:
        segmentor (nn.Module): See :func:`process_val_set`.
        backend (InferenceBackend): See :func:`process_val_set`.
        max_images (int, optional): See :func:`process_val_set`.

    Returns:
        dict[str, float]: The evaluator's metrics, e.g. ``mIoU``, ``aAcc``,
        ``mIoU_gamma{g}``.
    """
    evaluator, total = process_val_set(segmentor, backend, max_images)
    return evaluator.evaluate(total)


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
        max_images (int, optional): See :func:`process_val_set`.

    Returns:
        dict[str, float]: The evaluator's metrics.
    """
    cfg = load_config(config)
    backend = open_graph(onnx_file, cfg, threads=threads)
    # random weights: only its preprocessor and post-processing are used
    return evaluate_backend(init_segmentor(cfg), backend, max_images)


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
    segmentor = init_segmentor(load_config(config), checkpoint, device)
    evaluator, total = process_val_set(segmentor, TorchBackend(segmentor),
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
                     cfg_options: Optional[dict] = None,
                     runtime: str = 'onnxruntime'
                     ) -> Dict[str, Dict[str, float]]:
    """Val metrics of PyTorch, its fp32 ONNX export and an INT8 graph,
    the two graphs under one runtime.

    One segmentor is built: it runs as the PyTorch backend, is exported
    (into ``tmp_dir``, at the INT8 graph's input size, so that all three
    see the same inputs) and preprocesses and post-processes every
    backend's val images.

    Args:
        config (str | Path | Config): The model's config.
        checkpoint (str, optional): Its checkpoint (None: random weights).
        int8_file (str | Path): The quantized graph (an ONNX file, or an
            OpenVINO ``.xml`` with ``runtime='openvino'``).
        tmp_dir (str): Folder for the fp32 export.
        threads (int): The runtime's threads (0: its choice). Default: 0.
        max_images (int, optional): See :func:`process_val_set`.
        cfg_options (dict, optional): Overrides merged into the config
            (mmseg's ``--cfg-options``). Default: None.
        runtime (str): The graphs' runtime, a key of
            :data:`mmseg_affnet.deploy.backends.GRAPH_BACKENDS`.
            Default: 'onnxruntime'.

    Returns:
        dict[str, dict[str, float]]: ``'pytorch'``, ``'<runtime>-fp32'``
        and ``'<runtime>-int8'`` -> the evaluator's metrics.
    """
    cfg = load_config(config, cfg_options)
    int8 = open_graph(int8_file, cfg, threads=threads, runtime=runtime)
    segmentor = init_segmentor(cfg, checkpoint)
    fp32_file = osp.join(tmp_dir, 'fp32.onnx')
    export_onnx(segmentor, torch.randn(1, 3, *int8.input_size), fp32_file)
    backends = {
        'pytorch': TorchBackend(segmentor),
        f'{runtime}-fp32': open_graph(fp32_file, cfg, threads=threads,
                                      runtime=runtime),
        f'{runtime}-int8': int8,
    }
    return {runtime: evaluate_backend(segmentor, backend, max_images)
            for runtime, backend in backends.items()}


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
