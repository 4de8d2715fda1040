"""Standardized comparison: every model trained and scored with one recipe.

The recipe is an AFFNet config (the demo config on the synthetic data, or the
paper's fine-only experiment config on Cityscapes). For every model the
recipe's dataset, pipelines, optimizer, schedule, runtime and hooks are kept
and only ``model`` is replaced, by the model dict of the model's own config
(mmseg's shipped config for the zoo models) with:

- the recipe's data preprocessor (normalisation and batch size);
- no pretrained weights (every model starts from its own initialisation);
- ignore-safe class-weighted CE where a config sets a CE ``class_weight``
  (:func:`mmseg_affnet.models.losses.use_ignore_safe_class_weighted_ce`;
  mmseg 1.2.2's CE fails on ignored pixels with one).

Each model keeps its own losses (auxiliary heads, OHEM, boundary losses) as
its config defines them; they are part of the architecture's training
signal. To every training the same two things are added:

- :class:`mmseg_affnet.engine.PreciseBNHook`, so that every model is
  evaluated with BN statistics of its final weights (see the README for the
  Fast-SCNN measurement that made this necessary);
- ``GenerateEdge`` before ``PackSegInputs`` in the train pipeline: PIDNet's
  boundary loss needs the edge map, the other models ignore it.

Layout of a comparison work dir::

    WORK_DIR/<model>/<model>.py       the full training config (usable with
                                      tools/train.py and dist_train.sh)
    WORK_DIR/<model>/...              its checkpoints and logs
    WORK_DIR/<model>/result.json      written when the model is done
    WORK_DIR/comparison.{md,csv,png}  the summary of all result.json files
    WORK_DIR/comparison_files.json    the record of the summary files the
                                      tool wrote (only those are replaced)

A model whose ``result.json`` exists is not trained again; a model whose work
dir holds checkpoints but no result resumes its training from
``last_checkpoint``.
"""
import copy
import csv
import io
import json
import os.path as osp
import time
from datetime import datetime
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.dist import barrier, get_dist_info
from mmengine.hooks import Hook
from mmseg.evaluation import IoUMetric
from mmseg.registry import HOOKS
from prettytable import PrettyTable, TableStyle
from tqdm import tqdm

from ..analysis import (FLOP_COUNTER, MODEL_ZOO, REFERENCE, count_macs,
                        inference_params, time_interleaved, torch_call)
from ..analysis.zoo import REPO_ROOT
from ..datasets.synthetic import generate_demo_dataset
from ..deploy import LogitsAtInputSize, process_val_set, torch_logits_fn
from ..engine.precise_bn import PreciseBNHook
from ..engine.runner import start_process_group
from ..models.losses import use_ignore_safe_class_weighted_ce
from ..utils.io import (atomic_write_text, check_output_folder,
                        refuse_foreign, write_owned)
from ..engine.segmentor import init_segmentor
from ..utils.config import load_config, without_pretrained
from .runs import run_training

#: Every model the comparison knows: the benchmark's zoo and SPSSNet. AFFNet
#: is the model of the fine-only experiment config (from scratch), the
#: AFFNet row of the paper's tables.
COMPARISON_MODELS: Dict[str, str] = {
    **MODEL_ZOO,
    REFERENCE: osp.join(REPO_ROOT, 'configs',
                        'affnet_fine-only_cityscapes.py'),
    'SPSSNet': osp.join(REPO_ROOT, 'configs', 'comparisons',
                        'spssnet_cityscapes.py'),
}
#: The recipe of each dataset: an AFFNet config whose everything-but-model
#: every model shares.
RECIPES: Dict[str, str] = {
    'demo': osp.join(REPO_ROOT, 'configs', 'affnet_demo.py'),
    'cityscapes': osp.join(REPO_ROOT, 'configs',
                           'affnet_fine-only_cityscapes.py'),
}
#: What the comparison changes in a recipe. Demo: 10 epochs instead of the
#: demo's 15, so that all nine models train in about 30 minutes on a 2-core
#: CPU (measured: one training iteration of every model, batch 8 at 128x256,
#: takes 5.1 s together, from 0.26 s for SPSSNet to 1.04 s for BiSeNetV2).
RECIPE_OPTIONS: Dict[str, dict] = {
    'demo': {
        'train_cfg.max_epochs': 10,
        'train_cfg.val_interval': 10,
        'param_scheduler.0.end': 10,
        'default_hooks.checkpoint.interval': 10,
    },
    'cityscapes': {},
}
DEFAULT_DATA_ROOTS = {'demo': 'data/demo_cityscapes',
                      'cityscapes': 'data/cityscapes'}
RESULT_FILE = 'result.json'
SUMMARY_NAME = 'comparison'
SUMMARY_RECORD = 'comparison_files.json'
CLASS_IOU_PREFIX = 'IoU.'
CSV_FIELDS = ('model', 'mIoU', 'mIoU_gamma0', 'mIoU_gamma1', 'mIoU_gamma2',
              'aAcc', 'params_m', 'gmacs', 'latency_median_ms',
              'train_seconds', 'config', 'checkpoint')


def select_comparison_models(names: Sequence[str]) -> Dict[str, str]:
    """Model name -> config of each of ``names``.

    Args:
        names (Sequence[str]): Names of :data:`COMPARISON_MODELS`.

    Returns:
        dict[str, str]: In the given order, AFFNet first if it is chosen.

    Raises:
        ValueError: For unknown or repeated names.
    """
    unknown = [name for name in names if name not in COMPARISON_MODELS]
    if unknown:
        raise ValueError(f'Unknown models {unknown}; choose from '
                         f'{list(COMPARISON_MODELS)}.')
    if len(set(names)) != len(names):
        raise ValueError(f'Models are named twice in {list(names)}.')
    ordered = sorted(names, key=lambda name: name != REFERENCE)
    return {name: COMPARISON_MODELS[name] for name in ordered}


def load_recipe(dataset: str, data_root: str,
                cfg_options: Optional[dict] = None) -> Config:
    """The recipe config of ``dataset``, pointed at ``data_root``.

    Args:
        dataset (str): A key of :data:`RECIPES`.
        data_root (str): Dataset folder of every dataloader.
        cfg_options (dict, optional): Overrides for every model, applied
            after :data:`RECIPE_OPTIONS`, e.g. ``{'train_cfg.max_epochs':
            1}``. Default: None.

    Returns:
        Config: The recipe.
    """
    if dataset not in RECIPES:
        raise ValueError(f'Unknown dataset {dataset!r}; choose from '
                         f'{list(RECIPES)}.')
    recipe = load_config(RECIPES[dataset])
    recipe.merge_from_dict(RECIPE_OPTIONS[dataset])
    if cfg_options:
        recipe.merge_from_dict(cfg_options)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        recipe[loader].dataset.data_root = data_root
    return recipe


def comparison_config(recipe: Config, model_config: str, work_dir: str,
                      seed: int = 0,
                      precise_bn_samples: int = 200) -> Config:
    """The recipe with the model of ``model_config``.

    Args:
        recipe (Config): From :func:`load_recipe`.
        model_config (str): Config whose ``model`` is trained (``mmseg::``
            allowed).
        work_dir (str): The model's work dir.
        seed (int): Seed of the training. Default: 0.
        precise_bn_samples (int): Training images that
            :class:`PreciseBNHook` averages BN statistics over. Default: 200.

    Returns:
        Config: A full training config.

    Raises:
        ValueError: If the model's decode head predicts another number of
            classes than the recipe's dataset has.
    """
    cfg = copy.deepcopy(recipe)
    model = without_pretrained(load_config(model_config).model.to_dict())
    model = use_ignore_safe_class_weighted_ce(model)
    model['data_preprocessor'] = recipe.model.data_preprocessor.to_dict()
    num_classes = recipe.model.decode_head.num_classes
    head = model['decode_head']
    if head.get('num_classes', num_classes) != num_classes:
        raise ValueError(
            f'{model_config} predicts {head["num_classes"]} classes, the '
            f'recipe\'s dataset has {num_classes}; compare models of the '
            'same dataset.')
    cfg.model = model
    pipeline = cfg.train_dataloader.dataset.pipeline
    if not any(step['type'] == 'GenerateEdge' for step in pipeline):
        pipeline.insert(
            [step['type'] for step in pipeline].index('PackSegInputs'),
            dict(type='GenerateEdge', edge_width=4))
    hooks = [hook for hook in cfg.get('custom_hooks', [])
             if hook['type'] != PreciseBNHook.__name__]
    cfg.custom_hooks = hooks + [
        dict(type=PreciseBNHook.__name__, num_samples=precise_bn_samples)
    ]
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed)
    cfg.load_from = None
    return cfg


def write_model_config(cfg: Config, path: str) -> None:
    """Write ``cfg`` to ``path``, or check that the file there is the same.

    Args:
        cfg (Config): The model's training config.
        path (str): ``WORK_DIR/<model>/<model>.py``.

    Raises:
        FileExistsError: If ``path`` holds another config: the work dir
            belongs to a comparison with another recipe.
    """
    text = cfg.pretty_text
    if osp.exists(path):
        with open(path) as file:
            if file.read() != text:
                raise FileExistsError(
                    f'{path} holds another config than this comparison '
                    'would train (other models, recipe, options or data '
                    'root); results of two recipes must not mix. Pass '
                    'another --work-dir, or the options of the earlier run.')
        return
    atomic_write_text(path, text)


@HOOKS.register_module()
class ComparisonProgressHook(Hook):
    """A progress bar over the training iterations of one model (rank 0).

    Added by :func:`train_and_evaluate` to the in-process training only; the
    model configs the comparison writes do not name it.

    Args:
        name (str): The model name shown on the bar.
    """

    def __init__(self, name: str):
        self.name = name
        self.bar: Optional[tqdm] = None

    def before_train(self, runner) -> None:
        self.bar = tqdm(total=runner.max_iters, initial=runner.iter,
                        desc=f'training {self.name}', unit='it',
                        disable=runner.rank != 0)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self.bar.update(1)

    def after_train(self, runner) -> None:
        self.bar.close()


def class_iou(results: List[tuple], class_names: Sequence[str]
              ) -> Dict[str, float]:
    """Per-class IoU (percent) from the results of an ``IoUMetric``.

    Args:
        results (list[tuple]): Per-image ``(area_intersect, area_union,
            area_pred_label, area_label)`` of ``IoUMetric.process``.
        class_names (Sequence[str]): The dataset's classes.

    Returns:
        dict[str, float]: Class name -> IoU in percent (NaN for a class
        absent from the labels and the predictions).
    """
    areas = [sum(area) for area in zip(*results)]
    ious = IoUMetric.total_area_to_metrics(*areas, ['mIoU'])['IoU']
    return {
        name: float(np.round(iou * 100, 2))
        for name, iou in zip(class_names, np.asarray(ious, dtype=float))
    }


def evaluate_checkpoint(config: str, checkpoint: str,
                        device: str = 'cpu') -> Dict[str, object]:
    """Val metrics of a checkpoint, with the IoU of every class.

    The val dataloader and ``val_evaluator`` of ``config`` score the model
    as ``tools/test.py`` would (one process), through the deploy path's val
    loop (:func:`mmseg_affnet.deploy.process_val_set`).

    Args:
        config (str): The model's training config.
        checkpoint (str): Its checkpoint.
        device (str): Device of the model. Default: 'cpu'.

    Returns:
        dict: The evaluator's metrics (``mIoU``, ``aAcc``,
        ``mIoU_gamma{g}``, ...) and ``class_iou`` (class -> IoU %).
    """
    cfg = load_config(config)
    evaluator, total = process_val_set(
        cfg, torch_logits_fn(init_segmentor(cfg, checkpoint, device)))
    metric = next(m for m in evaluator.metrics if isinstance(m, IoUMetric))
    per_class = class_iou(metric.results, evaluator.dataset_meta['classes'])
    metrics = {  # IoUMetric's values are rounded float32 percentages
        key: round(float(value), 2)
        for key, value in evaluator.evaluate(total).items()
    }
    return dict(metrics, class_iou=per_class)


def train_and_evaluate(name: str, cfg: Config, device: str,
                       launcher: str = 'none',
                       rank: int = 0) -> Optional[dict]:
    """Train one model, then score and count it (rank 0).

    Args:
        name (str): Model name.
        cfg (Config): Its training config, already written to
            ``cfg.work_dir/<name>.py``.
        device (str): Device of the evaluation.
        launcher (str): 'none' or 'pytorch'. Default: 'none'.

    Returns:
        dict | None: The result (see :func:`run_comparison`) on rank 0,
        None on the other ranks.
    """
    work_dir = cfg.work_dir
    cfg = copy.deepcopy(cfg)
    cfg.launcher = launcher
    cfg.resume = osp.exists(osp.join(work_dir, 'last_checkpoint'))
    cfg.custom_hooks.append(
        dict(type=ComparisonProgressHook.__name__, name=name))
    start = time.time()
    run_training(cfg)
    seconds = time.time() - start
    if rank != 0:
        return None
    with open(osp.join(work_dir, 'last_checkpoint')) as file:
        checkpoint = file.read().strip()
    config = osp.join(work_dir, f'{name}.py')
    metrics = evaluate_checkpoint(config, checkpoint, device)
    size = tuple(load_config(config).model.data_preprocessor.size)
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
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        calls = [
            torch_call(
                r['model'], 'eager',
                LogitsAtInputSize(init_segmentor(r['config'],
                                                 r['checkpoint'])),
                torch.randn(1, 3, *r['eval_size'])) for r in results
        ]
        with tqdm(total=len(calls) * (warmup + iters),
                  desc='latency calls') as progress:
            times = time_interleaved(calls, warmup, iters, progress)
    finally:
        torch.set_num_threads(previous)
    return {
        r['model']: float(np.median(t)) * 1e3
        for r, t in zip(results, times)
    }


def markdown_table(rows: Sequence[dict], header: str) -> str:
    """The comparison as a Markdown table under ``header``.

    Args:
        rows (Sequence[dict]): Results with ``latency_median_ms``.
        header (str): Lines above the table.

    Returns:
        str: Markdown text.
    """
    table = PrettyTable([
        'Model', 'mIoU (%)', 'mIoU γ=0', 'mIoU γ=1', 'mIoU γ=2',
        'Params (M)', 'GMACs', 'CPU latency (ms)', 'Train time (min)'
    ])
    table.set_style(TableStyle.MARKDOWN)
    table.align = 'r'
    table.align['Model'] = 'l'
    for r in rows:
        table.add_row([
            r['model'], f"{r['mIoU']:.2f}", f"{r['mIoU_gamma0']:.2f}",
            f"{r['mIoU_gamma1']:.2f}", f"{r['mIoU_gamma2']:.2f}",
            f"{r['params_m']:.3f}", f"{r['gmacs']:.3f}",
            f"{r['latency_median_ms']:.1f}",
            f"{r['train_seconds'] / 60:.1f}"
        ])
    return f'{header}\n\n{table.get_string()}\n'


def csv_text(rows: Sequence[dict]) -> str:
    """The comparison as CSV: one row per model, per-class IoU columns.

    Args:
        rows (Sequence[dict]): Results with ``latency_median_ms``.

    Returns:
        str: CSV text; the class columns are ``IoU.<class>``.
    """
    classes = list(rows[0]['class_iou']) if rows else []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\n')
    writer.writerow([*CSV_FIELDS, *(CLASS_IOU_PREFIX + c for c in classes)])
    for r in rows:
        writer.writerow([r.get(field) for field in CSV_FIELDS] +
                        [r['class_iou'].get(c) for c in classes])
    return buffer.getvalue()


def plot_miou_vs_latency(rows: Sequence[dict], title: str) -> bytes:
    """Scatter plot of val mIoU against CPU latency; marker area ~ params.

    Args:
        rows (Sequence[dict]): Results with ``latency_median_ms``.
        title (str): Plot title.

    Returns:
        bytes: The plot as PNG.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 5))
    for r in rows:
        axes.scatter(r['latency_median_ms'], r['mIoU'],
                     s=200 * max(r['params_m'], 0.05), alpha=0.5,
                     color='tab:red' if r['model'] == REFERENCE else
                     'tab:blue')
        axes.annotate(f"{r['model']} ({r['params_m']:.2f} M)",
                      (r['latency_median_ms'], r['mIoU']),
                      textcoords='offset points', xytext=(6, 4), fontsize=8)
    axes.set_xlim(0, 1.3 * max(r['latency_median_ms'] for r in rows))
    axes.set_ylim(0, min(100, 1.15 * max(r['mIoU'] for r in rows) + 1))
    axes.set_xlabel('median CPU latency (ms)')
    axes.set_ylabel('val mIoU (%)  (marker area ~ parameters)')
    axes.set_title(title, fontsize=9)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format='png', dpi=120)
    plt.close(figure)
    return buffer.getvalue()


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
        'md': markdown_table(rows, header).encode(),
        'csv': csv_text(rows).encode(),
        'png': plot_miou_vs_latency(rows, header.splitlines()[0]),
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
        dataset (str): 'demo' (synthetic data, generated if absent) or
            'cityscapes'. Default: 'demo'.
        data_root (str, optional): Dataset folder. Default: ``data/
            demo_cityscapes`` or ``data/cityscapes``.
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
                                    launcher, rank)
        if result is not None:
            atomic_write_text(osp.join(work_dir, name, RESULT_FILE),
                              json.dumps(result, indent=2))
    if torch_dist.is_initialized():  # e.g. when no model was left to train
        barrier()
        torch_dist.destroy_process_group()
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
