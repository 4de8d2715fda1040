"""Experiment suites: the paper's variants times seeds on one recipe, and the
verdicts of its claims.

Every run trains the recipe with one variant's difference (:mod:`.suites`)
and one seed, then scores the last checkpoint on val and counts the model;
the runs are a campaign (:mod:`.campaign`). Two folders:

- ``RESULTS_DIR`` (small, meant to be committed): ``suite.json`` (the
  recipe's digest: results of two recipes never mix), one
  ``<variant>/seed<k>/result.json`` per finished run, and
  ``summary.{md,csv,png}`` regenerated from all of them;
- ``WORK_DIR``: per run its full training config, checkpoints and logs.

A run with a ``result.json`` is skipped; one with checkpoints but no result
resumes. So a suite can be stopped at any point and finished later, also on
another machine from the committed results. Runs go stage by stage and,
within a stage, seed by seed (every variant's seed 0 first), so that a
partial suite already covers every variant of its first stage. The summary
is :mod:`.suite_summary`'s.
"""
import copy
import glob
import json
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config

from ..utils.config import load_config, set_data_root
from ..utils.generated_files import refuse_foreign
from ..utils.io import atomic_write_text, check_output_folder
from .campaign import (CampaignRun, Executor, campaign_processes,
                       pending_runs, train_pending)
from .result_store import (RESULT_FILE, digest, load_result,
                           settings_digest)
from .suite_summary import (MACS_SIZE, SUMMARY_RECORD, summary_paths,
                            write_summary)
from .suites import (SUITES, Variant, run_order, select_variants,
                     variant_model)

SUITE_RECORD = 'suite.json'
def load_experiment_recipe(recipe: str,
                           data_root: Optional[str] = None,
                           cfg_options: Optional[dict] = None,
                           world_size: int = 1) -> Tuple[Config, str]:
    """The recipe config and its digest.

    The digest is the SHA-256 of the recipe's settings with its options as
    sorted JSON (not of mmengine's formatted text, which depends on the
    installed formatter), and of the number of training processes (the
    global batch). It leaves out the data folder, so that a suite can be
    finished on a machine that keeps the data elsewhere, and what does not
    change a result (:data:`~.result_store.UNDIGESTED`: the work dir,
    test-time augmentation).

    Args:
        recipe (str): Config file (``mmseg_affnet::`` allowed).
        data_root (str, optional): Dataset folder of every dataloader.
            Default: None (the recipe's).
        cfg_options (dict, optional): Overrides of the recipe. Default: None.
        world_size (int): Training processes. Default: 1.

    Returns:
        tuple[Config, str]: The recipe and its digest.
    """
    cfg = load_config(recipe, cfg_options)
    recipe_digest = settings_digest(cfg, world_size)
    if data_root is not None:
        set_data_root(cfg, data_root)
    return cfg, recipe_digest


def run_config(recipe: Config, model: dict, seed: int,
               work_dir: str) -> Config:
    """The training config of one run: the recipe, the variant's model, the
    seed.

    Args:
        recipe (Config): From :func:`load_experiment_recipe`.
        model (dict): The variant's model
            (:func:`~.suites.variant_model`).
        seed (int): Seed of the training.
        work_dir (str): The run's work dir.

    Returns:
        Config: A full training config.
    """
    cfg = Config(recipe.to_dict())
    cfg.model = copy.deepcopy(model)
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed)
    cfg.load_from = None
    return cfg


def run_folder(variant: Variant, seed: int) -> str:
    """``<variant>/seed<k>``: the run's folder under both directories."""
    return osp.join(variant.folder, f'seed{seed}')


def check_suite_record(results_dir: str, record: dict) -> None:
    """Refuse a results dir of another recipe; record this one's.

    Args:
        results_dir (str): The suite's results dir.
        record (dict): ``recipe``, ``recipe_sha256`` and ``cfg_options``.

    Raises:
        FileExistsError: If ``suite.json`` names another recipe digest.
    """
    path = osp.join(results_dir, SUITE_RECORD)
    if osp.exists(path):
        try:
            with open(path, encoding='utf-8') as file:
                known = json.load(file)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(
                f'{path} is not the JSON record of a suite ({error}); '
                'restore it (git checkout) or pass another --results-dir.'
            ) from None
        if not isinstance(known, dict):
            raise ValueError(f'{path} is not the JSON record of a suite; '
                             'restore it or pass another --results-dir.')
        if known.get('recipe_sha256') != record['recipe_sha256']:
            raise FileExistsError(
                f'{results_dir} holds results of another recipe '
                f'({known.get("recipe")} with options '
                f'{known.get("cfg_options")}; {SUITE_RECORD} records its '
                'digest): results of two recipes must not mix. Pass another '
                '--results-dir, or the recipe and options of those results.')
        return
    atomic_write_text(path, json.dumps(record, indent=2))


def read_result(path: str, recipe_digest: str,
                variant_digest: Optional[str] = None) -> dict:
    """Read a run's ``result.json`` and check what it was trained with.

    Args:
        path (str): The file.
        recipe_digest (str): The suite's recipe digest.
        variant_digest (str, optional): The variant model's digest; None
            skips that check. Default: None.

    Returns:
        dict: The result.

    Raises:
        ValueError: If the result belongs to another recipe or another
            definition of the variant.
    """
    result = load_result(path)
    if result.get('recipe_sha256') != recipe_digest:
        raise ValueError(
            f'{path} was trained with another recipe than the suite\'s '
            f'{SUITE_RECORD}; move it away, or use another --results-dir.')
    if variant_digest is not None and result.get(
            'variant_sha256') != variant_digest:
        raise ValueError(
            f'{path} was trained with another model for variant '
            f'{result.get("variant")!r} than its config defines now (the '
            'variant config changed since); to retrain it, move away its '
            'results folder and its folder in --work-dir, or use another '
            '--results-dir and --work-dir.')
    return result


def run_experiments(suite: str = 'paper',
                    variants: Optional[Sequence[str]] = None,
                    seeds: int = 3,
                    recipe: Optional[str] = None,
                    data_root: Optional[str] = None,
                    work_dir: str = 'work_dirs/experiments',
                    results_dir: str = 'results/camvid/paper',
                    launcher: str = 'none',
                    cfg_options: Optional[dict] = None,
                    train: bool = True,
                    executor: Optional[Executor] = None) -> Dict[str, str]:
    """Run a suite's missing runs, then summarise every finished one.

    Args:
        suite (str): A key of :data:`SUITES`. Default: 'paper'.
        variants (Sequence[str], optional): Only these variants of the
            suite (and the reference). Default: None (all).
        seeds (int): Seeds 0 .. seeds-1 of every variant. Default: 3.
        recipe (str, optional): The recipe config. Default: the suite's
            (:data:`~.suites.SUITES`).
        data_root (str, optional): Dataset folder. Default: the recipe's.
        work_dir (str): Configs, checkpoints and logs of the runs.
        results_dir (str): ``suite.json``, the ``result.json`` files and
            the summary.
        launcher (str): 'none' or 'pytorch' (every run distributed over
            torchrun's processes, as ``tools/compare.py`` runs). Default:
            'none'.
        cfg_options (dict, optional): Recipe overrides. Default: None.
        train (bool): False only summarises the results there are (no
            training, no data needed). Default: True.
        executor (Executor, optional): Where the runs train
            (:class:`~.campaign.Executor`). Default: None (in this process).

    Returns:
        dict[str, str]: ``md``, ``csv``, ``png`` -> summary path on rank 0
        (empty elsewhere).

    Raises:
        FileNotFoundError: With ``train=False``, if ``results_dir`` holds no
            ``suite.json`` or no finished run (nothing is written then).
        FileExistsError: If ``results_dir`` holds another recipe's results.
        ValueError: If a ``result.json`` was edited, is not a result, or
            belongs to another recipe or variant definition.
    """
    if seeds < 1:
        raise ValueError(f'seeds must be >= 1, got {seeds}.')
    members = select_variants(suite)
    chosen = select_variants(suite, variants)
    recipe = recipe or SUITES[suite].recipe
    if not train:  # refused before the recipe and the models are read
        _check_something_to_summarise(results_dir, suite)
    with campaign_processes(launcher) as (rank, world_size):
        recipe_cfg, recipe_digest = load_experiment_recipe(
            recipe, data_root, cfg_options, world_size)
        models = {v.name: variant_model(recipe_cfg, v) for v in members}
        digests = {name: digest(model) for name, model in models.items()}
        if rank == 0:
            check_output_folder(results_dir, '--results-dir')
            check_suite_record(results_dir, dict(
                recipe=recipe, recipe_sha256=recipe_digest,
                cfg_options=cfg_options or {}, world_size=world_size))
            refuse_foreign(summary_paths(results_dir).values(),
                           osp.join(results_dir, SUMMARY_RECORD))
        if train:
            runs = [
                CampaignRun(
                    f'{variant.folder}_seed{seed}',
                    run_config(recipe_cfg, models[variant.name], seed,
                               osp.join(work_dir, run_folder(variant, seed))),
                    osp.join(results_dir, run_folder(variant, seed),
                             RESULT_FILE),
                    dict(model=variant.name, variant=variant.name, seed=seed,
                         recipe=recipe, recipe_sha256=recipe_digest,
                         variant_config=variant.config,
                         variant_sha256=digests[variant.name],
                         world_size=world_size))
                for variant, seed in run_order(suite, chosen, seeds)
            ]
            pending = pending_runs(runs, lambda path, run: read_result(
                path, recipe_digest, run.record['variant_sha256']))
            # paths of this machine stay out of a result meant to be shared
            train_pending(pending, launcher, rank, MACS_SIZE,
                          f'{suite} runs', ('config', 'checkpoint'),
                          executor)
    if rank != 0:
        return {}
    # the whole suite's results, also when only some variants ran now
    results = collect_results(results_dir, members, recipe_digest, digests)
    if not any(results.values()):
        raise _no_finished_run(results_dir, suite)
    return write_summary(results, members, results_dir, recipe)


def _no_finished_run(results_dir: str, suite: str) -> FileNotFoundError:
    return FileNotFoundError(
        f'{results_dir} holds no finished run (no '
        f'<variant>/seed<k>/{RESULT_FILE}) of suite {suite!r}; run the '
        'suite without --summary-only to train them.')


def _check_something_to_summarise(results_dir: str, suite: str) -> None:
    """Refuse a summary of a folder without a suite record or without any
    result file (which results count is checked once they are read)."""
    if not osp.isfile(osp.join(results_dir, SUITE_RECORD)):
        raise FileNotFoundError(
            f'{results_dir} holds no {SUITE_RECORD}, so no results of a '
            'suite to summarise; pass the --results-dir of a suite, or '
            'run the suite without --summary-only to train it.')
    if not glob.glob(osp.join(glob.escape(results_dir), '*', 'seed*',
                              RESULT_FILE)):
        raise _no_finished_run(results_dir, suite)


def collect_results(results_dir: str, variants: Sequence[Variant],
                    recipe_digest: str,
                    digests: Dict[str, str]) -> Dict[str, List[dict]]:
    """Every finished run of ``variants`` under ``results_dir``.

    Only folders named ``seed<k>`` count; every result must belong to the
    suite's recipe and to the variant as defined now (:func:`read_result`).

    Args:
        results_dir (str): The suite's results dir.
        variants (Sequence[Variant]): The variants to collect.
        recipe_digest (str): The suite's recipe digest.
        digests (dict[str, str]): Variant name -> its model's digest.

    Returns:
        dict[str, list[dict]]: Variant name -> its results, by seed.
    """
    collected = {}
    for variant in variants:
        folder = osp.join(results_dir, variant.folder)
        seeds = sorted(
            int(match.group(1)) for match in (
                re.fullmatch(r'seed(0|[1-9][0-9]*)', name)
                for name in (os.listdir(folder) if osp.isdir(folder) else []))
            if match and osp.exists(osp.join(folder, match.group(0),
                                             RESULT_FILE)))
        collected[variant.name] = [
            read_result(osp.join(folder, f'seed{seed}', RESULT_FILE),
                        recipe_digest, digests[variant.name])
            for seed in seeds
        ]
    return collected


__all__ = [
    'collect_results', 'load_experiment_recipe', 'run_config',
    'run_experiments'
]
