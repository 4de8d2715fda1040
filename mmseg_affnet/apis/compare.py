"""Standardized comparison: every model trained and scored with one recipe.

The recipe (:mod:`.comparison_recipe`) keeps everything of an AFFNet config
but ``model``; each model is trained with it, scored on val, counted and
timed.

Per model, ``WORK_DIR/<model>/`` holds its full training config
(``<model>.py``, usable with ``tools/train.py``), checkpoints, logs and
``result.json`` (written when it is done: a rerun skips the model; a work
dir with checkpoints but no result resumes). ``WORK_DIR/comparison.{md,csv,
png}`` summarise all results and are replaced only while
``comparison_files.json`` records them as the tool's own. Scoring, counting,
timing and drawing are the package's own (:mod:`mmseg_affnet.deploy`,
:mod:`mmseg_affnet.analysis`); this module is the comparison itself.
"""
import copy
import json
import os.path as osp
import time
from datetime import datetime
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.dist import barrier, get_dist_info
from tqdm import tqdm

from ..analysis import (FLOP_COUNTER, REFERENCE, count_macs,
                        inference_params, median_latencies_ms, torch_call)
from ..analysis.report import (Panel, Point, csv_text, markdown_table,
                               scatter_png)
from ..datasets.makers import generate_demo_dataset
from ..deploy import LogitsAtInputSize, evaluate_checkpoint
from ..engine import (TrainProgressHook, end_process_group, init_segmentor,
                      start_process_group)
from ..utils.config import load_config
from ..utils.io import (atomic_write_text, check_output_folder,
                        refuse_foreign, write_owned)
from .comparison_recipe import (COMPARISON_MODELS, DEFAULT_DATA_ROOTS,
                                EVAL_SIZES, RECIPES, comparison_config,
                                load_recipe, select_comparison_models,
                                write_model_config)
from .runs import run_training

__all__ = [
    'COMPARISON_MODELS', 'DEFAULT_DATA_ROOTS', 'RECIPES', 'comparison_config',
    'load_recipe', 'run_comparison', 'select_comparison_models',
    'write_model_config', 'write_summary'
]

RESULT_FILE = 'result.json'
SUMMARY_NAME = 'comparison'
SUMMARY_RECORD = 'comparison_files.json'
CLASS_IOU_PREFIX = 'IoU.'
CSV_FIELDS = ('model', 'mIoU', 'mIoU_gamma0', 'mIoU_gamma1', 'mIoU_gamma2',
              'aAcc', 'params_m', 'gmacs', 'latency_median_ms',
              'train_seconds', 'config', 'checkpoint')


def train_and_evaluate(name: str, cfg: Config, device: str,
                       launcher: str = 'none',
                       rank: int = 0,
                       size: Optional[Tuple[int, int]] = None
                       ) -> Optional[dict]:
    """Train one model, then score and count it (rank 0).

    Args:
        name (str): Model name.
        cfg (Config): Its training config, already written to
            ``cfg.work_dir/<name>.py``.
        device (str): Device of the evaluation.
        launcher (str): 'none' or 'pytorch'. Default: 'none'.
        rank (int): This process's rank. Default: 0.
        size (tuple[int, int], optional): (H, W) at which GMACs are counted
            (``eval_size`` of the result, also the latency's). Default:
            None, the model's ``data_preprocessor.size``.

    Returns:
        dict | None: The result (see :func:`run_comparison`) on rank 0,
        None on the other ranks.
    """
    work_dir = cfg.work_dir
    cfg = copy.deepcopy(cfg)
    cfg.launcher = launcher
    cfg.resume = osp.exists(osp.join(work_dir, 'last_checkpoint'))
    cfg.custom_hooks.append(
        dict(type=TrainProgressHook.__name__, name=name))
    start = time.time()
    run_training(cfg)
    seconds = time.time() - start
    if rank != 0:
        return None
    with open(osp.join(work_dir, 'last_checkpoint')) as file:
        checkpoint = file.read().strip()
    config = osp.join(work_dir, f'{name}.py')
    metrics = evaluate_checkpoint(config, checkpoint, device)
    size = tuple(size or load_config(config).model.data_preprocessor.size)
    model = init_segmentor(config, checkpoint)
    return dict(
        model=name, config=config, checkpoint=checkpoint,
        train_seconds=seconds, resumed=bool(cfg.resume),
        eval_size=list(size), params_m=inference_params(model) / 1e6,
        gmacs=count_macs(model, size) / 1e9, **metrics)


def measure_latency(results: Sequence[dict], threads: int, warmup: int,
                    iters: int) -> Dict[str, float]:
    """Median CPU latency of every result's model, measured interleaved.

    Args:
        results (Sequence[dict]): Results with ``model``, ``config``,
            ``checkpoint`` and ``eval_size``.
        threads (int): PyTorch CPU threads.
        warmup (int): Untimed rounds.
        iters (int): Timed rounds.

    Returns:
        dict[str, float]: Model -> median latency in ms of
        :class:`LogitsAtInputSize` at batch 1 and ``eval_size``.
    """
    calls = [
        torch_call(r['model'], 'eager',
                   LogitsAtInputSize(init_segmentor(r['config'],
                                                    r['checkpoint'])),
                   torch.randn(1, 3, *r['eval_size'])) for r in results
    ]
    return dict(zip((r['model'] for r in results),
                    median_latencies_ms(calls, threads, warmup, iters)))


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


def summary_paths(work_dir: str) -> Dict[str, str]:
    """The summary files of a comparison work dir.

    Args:
        work_dir (str): The comparison's work dir.

    Returns:
        dict[str, str]: ``md``, ``csv``, ``png`` -> path.
    """
    return {ext: osp.join(work_dir, f'{SUMMARY_NAME}.{ext}')
            for ext in ('md', 'csv', 'png')}


def check_summary_files(work_dir: str) -> None:
    """Refuse a work dir whose summary files the tool did not write.

    Args:
        work_dir (str): The comparison's work dir.

    Raises:
        FileExistsError: If ``comparison.{md,csv,png}`` exists but is not
            recorded in ``comparison_files.json`` with its current content
            (a user's file, or one edited since).
    """
    refuse_foreign(summary_paths(work_dir).values(),
                   osp.join(work_dir, SUMMARY_RECORD))


def write_summary(rows: Sequence[dict], work_dir: str,
                  header: str) -> Dict[str, str]:
    """Write the Markdown table, the CSV and the plot of ``rows``.

    They summarise the work dir's ``result.json`` files and are rewritten
    (atomically) by every run that adds a result, but only while they are
    the files the tool wrote (:func:`mmseg_affnet.utils.write_owned`): a
    user's file of the same name, or a summary edited since, is refused.
    The results themselves are never overwritten.

    Args:
        rows (Sequence[dict]): Results with ``latency_median_ms``.
        work_dir (str): The comparison's work dir.
        header (str): Settings printed above the table.

    Returns:
        dict[str, str]: ``md``, ``csv``, ``png`` -> path.

    Raises:
        FileExistsError: If a summary file is not the tool's own.
    """
    paths = summary_paths(work_dir)
    check_summary_files(work_dir)
    record = osp.join(work_dir, SUMMARY_RECORD)
    contents = {
        'md': summary_table(rows, header).encode(),
        'csv': summary_csv(rows).encode(),
        'png': summary_plot(rows, header.splitlines()[0]),
    }
    for ext, data in contents.items():
        write_owned(paths[ext], data, record)
    return paths


def run_comparison(models: Sequence[str],
                   work_dir: str,
                   dataset: str = 'demo',
                   data_root: Optional[str] = None,
                   seed: int = 0,
                   launcher: str = 'none',
                   cfg_options: Optional[dict] = None,
                   precise_bn_samples: int = 200,
                   threads: int = 2,
                   warmup: int = 5,
                   iters: int = 20) -> Tuple[List[dict], Dict[str, str]]:
    """Train, score and time ``models`` with one recipe; summarise them.

    1. For every model without a ``result.json``: write its config, train
       it (resuming an interrupted training), then on rank 0 score its last
       checkpoint on the val set and count its parameters and GMACs at the
       recipe's image size, and write ``result.json`` atomically.
    2. On rank 0: time every model's CPU latency interleaved and write
       ``comparison.{md,csv,png}``.

    With ``launcher='pytorch'`` (started by torchrun, e.g.
    ``tools/torchrun_local.sh N compare.py --launcher pytorch``) every
    training runs distributed over the processes; scoring, counting and
    timing run on rank 0.

    Args:
        models (Sequence[str]): Names of :data:`COMPARISON_MODELS`.
        work_dir (str): The comparison's work dir.
        dataset (str): 'demo' (synthetic data, generated if absent),
            'cityscapes' or 'camvid'. Default: 'demo'.
        data_root (str, optional): Dataset folder. Default: ``data/
            demo_cityscapes``, ``data/cityscapes`` or ``data/camvid``.
        seed (int): Seed of the data generation and of every training.
            Default: 0.
        launcher (str): 'none' or 'pytorch'. Default: 'none'.
        cfg_options (dict, optional): Recipe overrides for every model.
            Default: None.
        precise_bn_samples (int): See :func:`comparison_config`.
            Default: 200.
        threads (int): CPU threads of the latency measurement. Default: 2.
        warmup (int): Untimed latency rounds. Default: 5.
        iters (int): Timed latency rounds. Default: 20.

    Returns:
        tuple[list[dict], dict[str, str]]: One result per model (on rank 0;
        empty elsewhere) with ``mIoU``, ``mIoU_gamma{g}``, ``aAcc``,
        ``class_iou``, ``params_m``, ``gmacs``, ``latency_median_ms``,
        ``train_seconds``, ``config``, ``checkpoint``; and the summary
        paths (empty elsewhere).
    """
    configs = select_comparison_models(models)
    check_output_folder(work_dir)
    data_root = data_root or DEFAULT_DATA_ROOTS[dataset]
    recipe = load_recipe(dataset, data_root, cfg_options)
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if launcher != 'none':
        start_process_group(launcher)
    rank = get_dist_info()[0]
    if rank == 0:  # before hours of training, not after
        check_summary_files(work_dir)
    model_cfgs = {}
    for name, config in configs.items():
        cfg = comparison_config(recipe, config, osp.join(work_dir, name),
                                seed, precise_bn_samples)
        if rank == 0:
            write_model_config(cfg, osp.join(work_dir, name, f'{name}.py'))
        model_cfgs[name] = cfg
    todo = [name for name in configs
            if not osp.exists(osp.join(work_dir, name, RESULT_FILE))]
    if todo and dataset == 'demo' and rank == 0:
        generate_demo_dataset(data_root, seed=seed, **recipe.demo_dataset)
    barrier()  # the data and configs are written before any rank trains
    for name in tqdm(todo, desc='models', unit='model', disable=rank != 0):
        result = train_and_evaluate(name, model_cfgs[name], device,
                                    launcher, rank, EVAL_SIZES.get(dataset))
        if result is not None:
            atomic_write_text(osp.join(work_dir, name, RESULT_FILE),
                              json.dumps(result, indent=2))
    end_process_group()
    if rank != 0:
        return [], {}
    results = []
    for name in configs:
        with open(osp.join(work_dir, name, RESULT_FILE)) as file:
            results.append(json.load(file))
    latency = measure_latency(results, threads, warmup, iters)
    rows = [dict(r, latency_median_ms=latency[r['model']]) for r in results]
    size = 'x'.join(str(v) for v in results[0]['eval_size'])
    header = (
        f'{dataset} comparison, one recipe ({osp.basename(RECIPES[dataset])}'
        f', seed {seed}), {datetime.now():%Y-%m-%d %H:%M}\n'
        f'mIoU: val set, last checkpoint, BN statistics recomputed on '
        f'{precise_bn_samples} training images (PreciseBNHook). '
        f'γ groups: OWFL focusing groups (0 rare, 2 frequent classes). '
        f'Params: inference (auxiliary heads excluded). GMACs at '
        f'1x3x{size}: {FLOP_COUNTER}. CPU latency: {threads} threads, '
        f'batch 1, 1x3x{size}, logits at input size, median of {iters} '
        f'interleaved calls. Train time: wall time of training with its '
        f'validations.')
    return rows, write_summary(rows, work_dir, header)
