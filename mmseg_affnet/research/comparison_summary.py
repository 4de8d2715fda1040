"""The summary of a comparison: the table, CSV and plot of every model's
result with its CPU latency, and ``latency.json``, the latencies measured
interleaved.

All of them are replaced only while ``comparison_files.json`` records them
as the tool's own (:func:`mmseg_affnet.utils.write_owned`).
"""
import json
import os.path as osp
from datetime import datetime
from typing import Dict, List, Optional, Sequence, Tuple

from ..analysis import FLOP_COUNTER, REFERENCE, machine
from ..analysis.report import (Panel, Point, csv_text, markdown_table,
                               scatter_png)
from ..utils.generated_files import refuse_foreign, write_owned
from .comparison_recipe import RECIPES

LATENCY_FILE = 'latency.json'
SUMMARY_NAME = 'comparison'
SUMMARY_RECORD = 'comparison_files.json'
CLASS_IOU_PREFIX = 'IoU.'
CSV_FIELDS = ('model', 'mIoU', 'mIoU_gamma0', 'mIoU_gamma1', 'mIoU_gamma2',
              'aAcc', 'params_m', 'gmacs', 'latency_median_ms',
              'train_seconds', 'config', 'checkpoint')


def summary_table(rows: Sequence[dict], header: str) -> str:
    """The comparison as a Markdown table under ``header``.

    Args:
        rows (Sequence[dict]): Results with ``latency_median_ms``.
        header (str): Lines above the table.

    Returns:
        str: Markdown text.
    """
    table = markdown_table(
        ['Model', 'mIoU (%)', 'mIoU γ=0', 'mIoU γ=1', 'mIoU γ=2',
         'Params (M)', 'GMACs', 'CPU latency (ms)', 'Train time (min)'],
        ([r['model'], f"{r['mIoU']:.2f}", f"{r['mIoU_gamma0']:.2f}",
          f"{r['mIoU_gamma1']:.2f}", f"{r['mIoU_gamma2']:.2f}",
          f"{r['params_m']:.3f}", f"{r['gmacs']:.3f}",
          f"{r['latency_median_ms']:.1f}", f"{r['train_seconds'] / 60:.1f}"]
         for r in rows),
        left=['Model'])
    return f'{header}\n\n{table}\n'


def summary_csv(rows: Sequence[dict]) -> str:
    """The comparison as CSV: one row per model, then ``IoU.<class>``
    columns."""
    classes = list(rows[0]['class_iou']) if rows else []
    return csv_text(
        [*CSV_FIELDS, *(CLASS_IOU_PREFIX + c for c in classes)],
        ([r.get(field) for field in CSV_FIELDS] +
         [r['class_iou'].get(c) for c in classes] for r in rows),
        lineterminator='\n')


def summary_plot(rows: Sequence[dict], title: str) -> bytes:
    """Val mIoU against CPU latency, marker area ~ parameters, as PNG."""
    points = [
        Point(r['latency_median_ms'], r['mIoU'],
              f"{r['model']} ({r['params_m']:.2f} M)",
              size=200 * max(r['params_m'], 0.05),
              color='tab:red' if r['model'] == REFERENCE else 'tab:blue')
        for r in rows
    ]
    return scatter_png([
        Panel(points, title, 'median CPU latency (ms)',
              'val mIoU (%)  (marker area ~ parameters)',
              xlim=(0, 1.3 * max(r['latency_median_ms'] for r in rows)),
              ylim=(0, min(100, 1.15 * max(r['mIoU'] for r in rows) + 1)),
              title_size=9)
    ], alpha=0.5, label_offset=(6, 4))


def summary_paths(results_dir: str) -> Dict[str, str]:
    """The summary files of a comparison's results dir.

    Args:
        results_dir (str): The comparison's results dir.

    Returns:
        dict[str, str]: ``md``, ``csv``, ``png`` -> path.
    """
    return {ext: osp.join(results_dir, f'{SUMMARY_NAME}.{ext}')
            for ext in ('md', 'csv', 'png')}


def check_summary_files(results_dir: str) -> None:
    """Refuse a results dir whose summary or latency files the tool did not
    write.

    Args:
        results_dir (str): The comparison's results dir.

    Raises:
        FileExistsError: If ``comparison.{md,csv,png}`` or ``latency.json``
            exists but is not recorded in ``comparison_files.json`` with its
            current content (a user's file, or one edited since).
    """
    refuse_foreign([*summary_paths(results_dir).values(),
                    osp.join(results_dir, LATENCY_FILE)],
                   osp.join(results_dir, SUMMARY_RECORD))


def write_latency(results_dir: str, latency: Dict[str, float],
                  settings: dict) -> dict:
    """Write ``latency.json``: the latencies and how they were measured.

    Args:
        results_dir (str): The comparison's results dir.
        latency (dict[str, float]): Model -> median latency (ms).
        settings (dict): ``threads``, ``warmup``, ``iters`` and ``size``.

    Returns:
        dict: The record written.
    """
    record = dict(latency_ms=latency, **settings,
                  measured=datetime.now().isoformat(timespec='seconds'),
                  machine=machine())
    write_owned(osp.join(results_dir, LATENCY_FILE),
                json.dumps(record, indent=2).encode(),
                osp.join(results_dir, SUMMARY_RECORD))
    return record


def read_latency(results_dir: str, models: Sequence[str]) -> dict:
    """Read ``latency.json``; it must hold every model of ``models``.

    Args:
        results_dir (str): The comparison's results dir.
        models (Sequence[str]): The models to be summarised.

    Returns:
        dict: The record (see :func:`write_latency`).

    Raises:
        FileNotFoundError: If the file or a model's latency is missing.
    """
    path = osp.join(results_dir, LATENCY_FILE)
    record = {}
    if osp.exists(path):
        with open(path) as file:
            record = json.load(file)
    missing = [m for m in models if m not in record.get('latency_ms', {})]
    if missing:
        raise FileNotFoundError(
            f'{path} holds no CPU latency of {missing}; run the comparison '
            'without --summary-only (it times every model with a result, '
            'no training needed for finished ones).')
    return record


def _models_by_size(sizes: Dict[str, Tuple[int, int]]
                    ) -> Dict[Tuple[int, int], List[str]]:
    """Group models by the input size they pad to.

    Args:
        sizes (dict[str, tuple[int, int]]): Model -> padded (H, W).

    Returns:
        dict[tuple[int, int], list[str]]: (H, W) -> the models, in the
        order of ``sizes``.
    """
    groups: Dict[Tuple[int, int], List[str]] = {}
    for name, hw in sizes.items():
        groups.setdefault(tuple(hw), []).append(name)
    return groups


def summary_header(dataset: str, seed: int, precise_bn_samples: int,
                   latency: dict, missing: Sequence[str] = (),
                   padded: Optional[Dict[str, Tuple[int, int]]] = None
                   ) -> str:
    """The settings printed above the comparison's table.

    Args:
        dataset (str): A key of :data:`RECIPES`.
        seed (int): Seed of every training.
        precise_bn_samples (int): See :func:`comparison_config`.
        latency (dict): From :func:`write_latency`.
        missing (Sequence[str]): Models of the comparison without a result
            yet; a partial table names them. Default: ().
        padded (dict[str, tuple[int, int]], optional): Model -> (H, W) it
            pads the images to (:func:`model_input_size`), for the models
            that pad. Default: None.

    Returns:
        str: Lines of text; the first is the title.
    """
    size = 'x'.join(str(v) for v in latency['size'])
    timed = latency['measured'][:16].replace('T', ' ')
    cpu = latency['machine']
    lines = [
        f'{dataset} comparison, one recipe ({osp.basename(RECIPES[dataset])}'
        f', seed {seed}), timed {timed}',
        f'mIoU: val set, last checkpoint, BN statistics recomputed on '
        f'{precise_bn_samples} training images (PreciseBNHook). '
        f'γ groups: OWFL focusing groups (0 rare, 2 frequent classes). '
        f'Params: inference (auxiliary heads excluded). GMACs at '
        f'1x3x{size}: {FLOP_COUNTER}. CPU latency: {latency["threads"]} '
        f'threads ({cpu["cpu"]}, {cpu["cpu_count"]} cores), batch 1, '
        f'1x3x{size}, logits at input size, median of {latency["iters"]} '
        f'interleaved calls. Train time: wall time of training with its '
        f'validations.'
    ]
    for hw, names in _models_by_size(padded or {}).items():
        lines.append(
            f'Input padded to {"x".join(map(str, hw))} by the model\'s test '
            f'size divisor (the padding is cropped from the logits; GMACs and '
            f'latency at that size): {", ".join(names)}.')
    if missing:
        lines.append(
            f'Partial: no result yet for {", ".join(missing)}; a run of the '
            f'comparison without --summary-only trains '
            f'{"them" if len(missing) > 1 else "it"} (finished models are '
            f'skipped) and times every model again, interleaved.')
    return '\n'.join(lines)


def write_summary(rows: Sequence[dict], results_dir: str,
                  header: str) -> Dict[str, str]:
    """Write the Markdown table, the CSV and the plot of ``rows``.

    They summarise the results dir's ``result.json`` files and are rewritten
    (atomically) by every run that adds a result, but only while they are
    the files the tool wrote (:func:`mmseg_affnet.utils.write_owned`): a
    user's file of the same name, or a summary edited since, is refused.
    The results themselves are never overwritten.

    Args:
        rows (Sequence[dict]): Results with ``latency_median_ms``.
        results_dir (str): The comparison's results dir.
        header (str): Settings printed above the table.

    Returns:
        dict[str, str]: ``md``, ``csv``, ``png`` -> path.

    Raises:
        FileExistsError: If a summary file is not the tool's own.
    """
    paths = summary_paths(results_dir)
    check_summary_files(results_dir)
    record = osp.join(results_dir, SUMMARY_RECORD)
    contents = {
        'md': summary_table(rows, header).encode(),
        'csv': summary_csv(rows).encode(),
        'png': summary_plot(rows, header.splitlines()[0]),
    }
    for ext, data in contents.items():
        write_owned(paths[ext], data, record)
    return paths


__all__ = ['check_summary_files', 'read_latency', 'summary_header',
           'write_latency', 'write_summary']
