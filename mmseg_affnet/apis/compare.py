"""Standardized comparison: every model trained and scored with one recipe.

The recipe (:mod:`.comparison_recipe`) keeps everything of an AFFNet config
but ``model``; each model is trained with it, scored on val, counted and
timed.

Per model, ``WORK_DIR/<model>/`` holds its full training config
(``<model>.py``, usable with ``tools/train.py``), checkpoints and logs, and
``RESULTS_DIR/<model>/result.json`` its result (written when it is done,
with the digest of the config it was trained with: a rerun skips the
model, and a result of another config is refused; a work dir with
checkpoints but no result resumes). ``RESULTS_DIR`` (default: the work dir)
also holds ``latency.json`` (the CPU latencies, measured interleaved) and
``comparison.{md,csv,png}``, which summarise all results; all three are
replaced only while ``comparison_files.json`` records them as the tool's
own. A results dir apart from the work dir is small enough to commit: the
summary regenerates from it alone (``train=False``). Scoring, counting,
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
                        inference_params, machine, median_latencies_ms,
                        torch_call)
from ..analysis.report import (Panel, Point, csv_text, markdown_table,
                               scatter_png)
from ..datasets.makers import generate_demo_dataset
from ..deploy import LogitsAtInputSize, evaluate_checkpoint
from ..engine import (TrainProgressHook, end_process_group, init_segmentor,
                      start_process_group)
from ..utils.config import set_data_root
from ..utils.io import check_output_folder, refuse_foreign, write_owned
from .comparison_recipe import (COMPARISON_MODELS, DEFAULT_DATA_ROOTS,
                                EVAL_SIZES, RECIPES, TEST_SIZE_DIVISORS,
                                comparison_config, load_recipe,
                                model_input_size, select_comparison_models,
                                write_model_config)
from .result_files import load_result, settings_digest, write_result
from .runs import run_training

__all__ = [
    'COMPARISON_MODELS', 'DEFAULT_DATA_ROOTS', 'RECIPES', 'comparison_config',
    'load_recipe', 'run_comparison', 'select_comparison_models',
    'write_model_config', 'write_summary'
]

RESULT_FILE = 'result.json'
LATENCY_FILE = 'latency.json'
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
        size (tuple[int, int], optional): (H, W) of the images at which
            GMACs are counted (``eval_size`` of the result, also the
            latency's), padded as the model pads them at test
            (:func:`model_input_size`). Default: None, the model's
            ``data_preprocessor.size``.

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
    size = tuple(size or cfg.model.data_preprocessor.size)
    model = init_segmentor(config, checkpoint)
    return dict(
        model=name, config=config, checkpoint=checkpoint,
        train_seconds=seconds, resumed=bool(cfg.resume),
        eval_size=list(size), params_m=inference_params(model) / 1e6,
        gmacs=count_macs(model, model_input_size(cfg, size)) / 1e9,
        **metrics)


def measure_latency(configs: Dict[str, Config], size: Tuple[int, int],
                    threads: int, warmup: int,
                    iters: int) -> Dict[str, float]:
    """Median CPU latency of every model, measured interleaved.

    The models keep their initial weights: the latency does not depend on
    them, and so it can be measured for results trained elsewhere.

    Args:
        configs (dict[str, Config]): Model name -> its training config.
        size (tuple[int, int]): (H, W) of the image; a model that pads its
            test input runs at the padded size (:func:`model_input_size`).
        threads (int): PyTorch CPU threads.
        warmup (int): Untimed rounds.
        iters (int): Timed rounds.

    Returns:
        dict[str, float]: Model -> median latency in ms of
        :class:`LogitsAtInputSize` at batch 1.
    """
    calls = [
        torch_call(name, 'eager', LogitsAtInputSize(init_segmentor(cfg)),
                   torch.randn(1, 3, *model_input_size(cfg, size)))
        for name, cfg in configs.items()
    ]
    return dict(zip(configs, median_latencies_ms(calls, threads, warmup,
                                                 iters)))


def result_digest(cfg: Config, world_size: int) -> str:
    """Digest of a model's training config, recorded in its result.

    The dataloaders' data folders are left out (results can be summarised
    on a machine that keeps the data elsewhere), as are the work dir and
    test-time augmentation (:func:`~.result_files.settings_digest`).

    Args:
        cfg (Config): From :func:`comparison_config`.
        world_size (int): Training processes.

    Returns:
        str: Hex digest.
    """
    settings = Config(cfg.to_dict())
    set_data_root(settings, None)
    return settings_digest(settings, world_size)


def read_result(path: str, cfg: Config) -> dict:
    """Read a model's ``result.json`` and check what it was trained with.

    Args:
        path (str): The file.
        cfg (Config): The config this comparison trains the model with.

    Returns:
        dict: The result.

    Raises:
        ValueError: If the result was trained with another config (another
            recipe, options, seed or model definition).
    """
    result = load_result(path)
    if result.get('config_sha256') != result_digest(
            cfg, result.get('world_size', 1)):
        raise ValueError(
            f'{path} was trained with another config than this comparison '
            f'trains {result.get("model")} with (another recipe, options, '
            'seed or model definition, or a result written before results '
            'recorded their config digest); move it away to train it '
            'again, or pass another --results-dir.')
    return result


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
                   iters: int = 20,
                   results_dir: Optional[str] = None,
                   train: bool = True) -> Tuple[List[dict], Dict[str, str]]:
    """Train, score and time ``models`` with one recipe; summarise them.

    1. For every model without a ``result.json`` in ``results_dir``: write
       its config, train it (resuming an interrupted training), then on
       rank 0 score its last checkpoint on the val set and count its
       parameters and GMACs at the recipe's image size, and write
       ``result.json`` atomically, with the digest of its config
       (:func:`result_digest`): a result of another config is refused.
    2. On rank 0: time every model's CPU latency interleaved (``latency.
       json``) and write ``comparison.{md,csv,png}``.

    With ``train=False`` nothing is trained or timed: the summary is
    written from the results and ``latency.json`` in ``results_dir`` (no
    data or checkpoints needed), for the models that have a result.

    With ``launcher='pytorch'`` (started by torchrun, e.g.
    ``tools/torchrun_local.sh N compare.py --launcher pytorch``) every
    training runs distributed over the processes; scoring, counting and
    timing run on rank 0.

    Args:
        models (Sequence[str]): Names of :data:`COMPARISON_MODELS`.
        work_dir (str): Configs, checkpoints and logs of the trainings.
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
        results_dir (str, optional): ``<model>/result.json``,
            ``latency.json`` and the summary. Default: None (``work_dir``).
        train (bool): False only summarises the results there are.
            Default: True.

    Returns:
        tuple[list[dict], dict[str, str]]: One result per model (on rank 0;
        empty elsewhere) with ``mIoU``, ``mIoU_gamma{g}``, ``aAcc``,
        ``class_iou``, ``params_m``, ``gmacs``, ``latency_median_ms``,
        ``train_seconds``, ``config``, ``checkpoint``; and the summary
        paths (empty elsewhere).

    Raises:
        FileNotFoundError: With ``train=False``, if no model has a result,
            or ``latency.json`` lacks one of them.
    """
    configs = select_comparison_models(models)
    results_dir = results_dir or work_dir
    if train:
        check_output_folder(work_dir)
    check_output_folder(results_dir, '--results-dir')
    data_root = data_root or DEFAULT_DATA_ROOTS[dataset]
    recipe = load_recipe(dataset, data_root, cfg_options)
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if launcher != 'none':
        start_process_group(launcher)
    rank, world_size = get_dist_info()
    if rank == 0:  # before hours of training, not after
        check_summary_files(results_dir)
    model_cfgs = {
        name: comparison_config(recipe, config, osp.join(work_dir, name),
                                seed, precise_bn_samples,
                                TEST_SIZE_DIVISORS.get(name))
        for name, config in configs.items()
    }
    result_paths = {name: osp.join(results_dir, name, RESULT_FILE)
                    for name in configs}
    if train:
        todo = []
        for name, cfg in model_cfgs.items():
            if rank == 0:
                write_model_config(cfg, osp.join(work_dir, name,
                                                 f'{name}.py'))
            if osp.exists(result_paths[name]):
                read_result(result_paths[name], cfg)
            else:
                todo.append(name)
        if todo and dataset == 'demo' and rank == 0:
            generate_demo_dataset(data_root, seed=seed,
                                  **recipe.demo_dataset)
        barrier()  # the data and configs are written before any rank trains
        for name in tqdm(todo, desc='models', unit='model',
                         disable=rank != 0):
            result = train_and_evaluate(name, model_cfgs[name], device,
                                        launcher, rank,
                                        EVAL_SIZES.get(dataset))
            if result is not None:
                result.update(
                    seed=seed, world_size=world_size,
                    config_sha256=result_digest(model_cfgs[name],
                                                world_size),
                    finished=datetime.now().isoformat(timespec='seconds'),
                    machine=machine())
                write_result(result_paths[name], result)
    end_process_group()
    if rank != 0:
        return [], {}
    results = [read_result(result_paths[name], model_cfgs[name])
               for name in configs if osp.exists(result_paths[name])]
    if not results:
        raise FileNotFoundError(
            f'{results_dir} holds no result.json of {list(configs)}; run '
            'the comparison without --summary-only to train them.')
    if train:
        size = tuple(results[0]['eval_size'])
        latency = write_latency(
            results_dir,
            measure_latency({r['model']: model_cfgs[r['model']]
                             for r in results}, size, threads, warmup,
                            iters),
            dict(threads=threads, warmup=warmup, iters=iters,
                 size=list(size)))
    else:
        latency = read_latency(results_dir, [r['model'] for r in results])
    rows = [dict(r, latency_median_ms=latency['latency_ms'][r['model']])
            for r in results]
    size = tuple(latency['size'])
    input_sizes = {r['model']: model_input_size(model_cfgs[r['model']], size)
                   for r in results}
    header = summary_header(
        dataset, seed, precise_bn_samples, latency,
        [name for name in configs if not osp.exists(result_paths[name])],
        {name: hw for name, hw in input_sizes.items() if hw != size})
    return rows, write_summary(rows, results_dir, header)
