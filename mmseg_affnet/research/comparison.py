"""Standardized comparison: every model trained and scored with one recipe.

The recipe (:mod:`.comparison_recipe`) keeps everything of an AFFNet config
but ``model``; each model is trained with it, scored on val, counted and
timed. The trainings are a campaign (:mod:`.campaign`), one run per model.

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
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.dist import barrier

from ..analysis import median_latencies_ms, torch_call
from ..datasets.makers import generate_demo_dataset
from ..deploy import LogitsAtInputSize
from ..engine import init_segmentor
from ..utils.config import set_data_root
from ..utils.io import check_output_folder
from .campaign import (CampaignRun, Executor, campaign_processes,
                       pending_runs, train_pending)
from .comparison_recipe import (COMPARISON_MODELS, DEFAULT_DATA_ROOTS,
                                EVAL_SIZES, RECIPES, TEST_SIZE_DIVISORS,
                                comparison_config, load_recipe,
                                model_input_size, select_comparison_models)
from .comparison_summary import (check_summary_files, read_latency,
                                 summary_header, write_latency, write_summary)
from .result_store import RESULT_FILE, load_result, settings_digest

__all__ = [
    'COMPARISON_MODELS', 'DEFAULT_DATA_ROOTS', 'RECIPES', 'comparison_config',
    'load_recipe', 'run_comparison', 'select_comparison_models'
]

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
    test-time augmentation (:func:`~.result_store.settings_digest`).

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
                   train: bool = True,
                   executor: Optional[Executor] = None
                   ) -> Tuple[List[dict], Dict[str, str]]:
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
        executor (Executor, optional): Where the trainings run
            (:class:`~.campaign.Executor`). Default: None (in this process).

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
    with campaign_processes(launcher) as (rank, world_size):
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
            pending = pending_runs(
                [CampaignRun(name, cfg, result_paths[name], dict(
                    seed=seed, world_size=world_size,
                    config_sha256=result_digest(cfg, world_size)))
                 for name, cfg in model_cfgs.items()],
                lambda path, run: read_result(path, run.cfg))
            if pending and dataset == 'demo' and rank == 0:
                generate_demo_dataset(data_root, seed=seed,
                                      **recipe.demo_dataset)
            barrier()  # the data is written before any rank trains
            train_pending(pending, launcher, rank, EVAL_SIZES.get(dataset),
                          'models', executor=executor)
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
