"""Experiment suites: the paper's variants times seeds on one recipe, and the
verdicts of its claims.

Every run trains the recipe with one variant's difference
(:mod:`.experiment_suites`) and one seed, then scores the last checkpoint
on val and counts the model. Two folders:

- ``RESULTS_DIR`` (small, meant to be committed): ``suite.json`` (the
  recipe's digest: results of two recipes never mix), one
  ``<variant>/seed<k>/result.json`` per finished run, and
  ``summary.{md,csv,png}`` regenerated from all of them;
- ``WORK_DIR``: per run its full training config, checkpoints and logs.

A run with a ``result.json`` is skipped; one with checkpoints but no result
resumes. So a suite can be stopped at any point and finished later, also on
another machine from the committed results. Runs go seed by seed (every
variant's seed 0 first), so that a partial suite already covers every
variant.
"""
import copy
import json
import math
import os
import os.path as osp
import re
import textwrap
from datetime import datetime
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.dist import barrier, get_dist_info
from tqdm import tqdm

from ..analysis import FLOP_COUNTER, machine
from ..analysis.claims import (TOO_FEW_SEEDS, VERDICT_RULE, Comparison,
                               claim_verdict, compare, spread)
from ..analysis.report import BarPanel, bars_png, csv_text, markdown_table
from ..engine import end_process_group, start_process_group
from ..utils.config import load_config, set_data_root
from ..utils.io import (atomic_write_text, check_output_folder,
                        refuse_foreign, write_owned)
from .compare import train_and_evaluate
from .comparison_recipe import write_model_config
from .experiment_suites import (CLAIMS, REFERENCE_VARIANT, SUITES, Claim,
                                Variant, run_order, select_variants,
                                variant_model)
from .result_files import digest, load_result, settings_digest, write_result

RESULT_FILE = 'result.json'
SUITE_RECORD = 'suite.json'
SUMMARY_NAME = 'summary'
SUMMARY_RECORD = 'summary_files.json'
#: (H, W) at which GMACs are counted: the paper's and the benchmark's size.
MACS_SIZE = (512, 1024)
METRICS = ('mIoU', 'mIoU_gamma0', 'mIoU_gamma1', 'mIoU_gamma2', 'aAcc')
METRIC_LABELS = {
    'mIoU': 'val mIoU', 'mIoU_gamma0': 'val mIoU γ=0',
    'mIoU_gamma1': 'val mIoU γ=1', 'mIoU_gamma2': 'val mIoU γ=2',
    'aAcc': 'val aAcc'
}


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
    change a result (:data:`~.result_files.UNDIGESTED`: the work dir,
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
            (:func:`~.experiment_suites.variant_model`).
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
                    train: bool = True) -> Dict[str, str]:
    """Run a suite's missing runs, then summarise every finished one.

    Args:
        suite (str): A key of :data:`SUITES`. Default: 'paper'.
        variants (Sequence[str], optional): Only these variants of the
            suite (and the reference). Default: None (all).
        seeds (int): Seeds 0 .. seeds-1 of every variant. Default: 3.
        recipe (str, optional): The recipe config. Default: the suite's
            (:data:`~.experiment_suites.SUITES`).
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
    if launcher != 'none':
        start_process_group(launcher)
    rank, world_size = get_dist_info()
    recipe_cfg, recipe_digest = load_experiment_recipe(
        recipe, data_root, cfg_options, world_size)
    models = {v.name: variant_model(recipe_cfg, v) for v in members}
    digests = {name: digest(model) for name, model in models.items()}
    if not train and not osp.isfile(osp.join(results_dir, SUITE_RECORD)):
        raise FileNotFoundError(
            f'{results_dir} holds no {SUITE_RECORD}, so no results of a '
            'suite to summarise; pass the --results-dir of a suite, or run '
            'the suite without --summary-only to train it.')
    if rank == 0:
        check_output_folder(results_dir, '--results-dir')
        check_suite_record(results_dir, dict(
            recipe=recipe, recipe_sha256=recipe_digest,
            cfg_options=cfg_options or {}, world_size=world_size))
        refuse_foreign(summary_paths(results_dir).values(),
                       osp.join(results_dir, SUMMARY_RECORD))
    if train:
        todo = []
        for variant, seed in run_order(suite, chosen, seeds):
            path = osp.join(results_dir, run_folder(variant, seed),
                            RESULT_FILE)
            if osp.exists(path):
                read_result(path, recipe_digest, digests[variant.name])
            else:
                todo.append((variant, seed))
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
        for variant, seed in tqdm(todo, desc=f'{suite} runs', unit='run',
                                  disable=rank != 0):
            folder = run_folder(variant, seed)
            name = f'{variant.folder}_seed{seed}'
            cfg = run_config(recipe_cfg, models[variant.name], seed,
                             osp.join(work_dir, folder))
            if rank == 0:
                write_model_config(cfg, osp.join(cfg.work_dir, f'{name}.py'))
            barrier()
            result = train_and_evaluate(name, cfg, device, launcher, rank,
                                        MACS_SIZE)
            if result is None:
                continue
            for path_key in ('config', 'checkpoint'):  # machine-specific
                result.pop(path_key)
            result.update(
                model=variant.name, variant=variant.name, seed=seed,
                recipe=recipe, recipe_sha256=recipe_digest,
                variant_config=variant.config,
                variant_sha256=digests[variant.name], world_size=world_size,
                finished=datetime.now().isoformat(timespec='seconds'),
                machine=machine())
            write_result(osp.join(results_dir, folder, RESULT_FILE), result)
    end_process_group()
    if rank != 0:
        return {}
    # the whole suite's results, also when only some variants ran now
    results = collect_results(results_dir, members, recipe_digest, digests)
    if not any(results.values()):
        raise FileNotFoundError(
            f'{results_dir} holds no finished run (no '
            f'<variant>/seed<k>/{RESULT_FILE}) of suite {suite!r}; run the '
            'suite without --summary-only to train them.')
    return write_summary(results, members, results_dir, recipe)


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


def claim_rows(claim: Claim,
               results: Dict[str, List[dict]]) -> Tuple[List[dict], str]:
    """The comparisons of one claim and its verdict.

    Only the claim's variants that are members of the suite (keys of
    ``results``) are compared.

    Args:
        claim (Claim): The claim.
        results (dict[str, list[dict]]): From :func:`collect_results`.

    Returns:
        tuple[list[dict], str]: One row per compared variant with results
        (``variant``, ``n``, ``mean``, ``std`` and the
        :class:`~mmseg_affnet.analysis.claims.Comparison` under
        ``comparison``) and the claim's verdict, which is ``incomplete (k of
        n variants)`` while a compared member has no result; empty and
        ``''`` when the reference or every compared member lacks results.
    """
    reference = _values(results, REFERENCE_VARIANT, claim.metric)
    members = [name for name in claim.others if name in results]
    rows = []
    for name in members:
        values = _values(results, name, claim.metric)
        if not reference or not values:
            continue
        stats = spread(values)
        rows.append(dict(
            variant=name, n=stats.count, mean=stats.mean, std=stats.std,
            comparison=compare(reference, values, claim.claimed_size)))
    if not rows:
        return [], ''
    if len(rows) < len(members):
        return rows, (f'incomplete ({len(rows)} of {len(members)} '
                      'variants)')
    return rows, claim_verdict([(row['variant'], row['comparison'].verdict)
                                for row in rows])


def _difference_text(comparison: Comparison) -> str:
    """``d [low, high]``, or ``d`` alone where no interval exists."""
    low, high = comparison.interval
    if math.isnan(low):
        return f'{comparison.difference:+.2f}'
    return f'{comparison.difference:+.2f} [{low:+.2f}, {high:+.2f}]'


def _verdict_text(comparison: Comparison) -> str:
    """The verdict; for a size claim with the direction's beside it."""
    if comparison.size is None or comparison.size == TOO_FEW_SEEDS:
        return comparison.verdict
    return f'{comparison.size} (direction: {comparison.direction})'


def _values(results: Dict[str, List[dict]], variant: str,
            key: str) -> List[float]:
    """``key`` of every run of ``variant``."""
    return [result[key] for result in results.get(variant, [])]


def _mean_std(values: Sequence[float]) -> str:
    stats = spread(values)
    return (f'{stats.mean:.2f}' if stats.count < 2 else
            f'{stats.mean:.2f} ± {stats.std:.2f}')


def summary_markdown(results: Dict[str, List[dict]],
                     variants: Sequence[Variant], recipe: str) -> str:
    """The verdicts, one table per claim and the variants' table.

    Args:
        results (dict[str, list[dict]]): From :func:`collect_results`.
        variants (Sequence[Variant]): The suite's variants, in order.
        recipe (str): The recipe's path, for the header.

    Returns:
        str: Markdown text.
    """
    finished = [r for runs in results.values() for r in runs]
    hours = sum(r['train_seconds'] for r in finished) / 3600
    machines = sorted({
        f"{r['machine']['cpu']} x{r['machine']['cpu_count']}"
        + (f" + {r['machine']['cuda_device']}"
           if r['machine']['cuda_device'] else '') for r in finished
    })
    dates = sorted(r['finished'][:10] for r in finished)
    lines = [
        f'Recipe: `{recipe}`; {len(finished)} finished runs '
        f'({dates[0] if dates else "-"} to {dates[-1] if dates else "-"}), '
        f'{hours:.1f} h of training on {", ".join(machines) or "-"}. '
        'mIoU: val, last checkpoint, mean ± sample std over seeds. '
        f'{VERDICT_RULE}', '', '**Verdicts**', ''
    ]
    tables = []
    for claim in CLAIMS:
        rows, verdict = claim_rows(claim, results)
        if not rows:
            continue
        lines.append(f'- {claim.title}: **{verdict}**. {claim.statement}')
        reference = _values(results, REFERENCE_VARIANT, claim.metric)
        table = markdown_table(
            ['Variant', 'Seeds', METRIC_LABELS[claim.metric],
             f'{REFERENCE_VARIANT} - variant [95 % CI]', 'p', 'Verdict'],
            [[REFERENCE_VARIANT, len(reference), _mean_std(reference), '',
              '', '']] + [[
                  row['variant'], row['n'],
                  _mean_std(_values(results, row['variant'], claim.metric)),
                  _difference_text(row['comparison']),
                  _p_text(row['comparison'].p_value),
                  _verdict_text(row['comparison'])
              ] for row in rows],
            left=['Variant', 'Verdict'])
        size = (f' (claimed: more than {claim.claimed_size:g} points)'
                if claim.claimed_size else '')
        tables.append(f'#### {claim.title}{size}\n\n{table}\n')
    variant_table = markdown_table(
        ['Variant', 'What it changes', 'Seeds', 'mIoU', 'mIoU γ=0',
         'mIoU γ=1', 'mIoU γ=2', 'Params (M)', 'GMACs',
         'Train time (min)'],
        ([v.name, v.description, len(results[v.name]),
          *(_mean_std(_values(results, v.name, m)) for m in METRICS[:4]),
          f"{results[v.name][0]['params_m']:.3f}",
          f"{results[v.name][0]['gmacs']:.2f}",
          f"{spread(_values(results, v.name, 'train_seconds')).mean / 60:.1f}"]
         for v in variants if results.get(v.name)),
        left=['Variant', 'What it changes'])
    return '\n'.join([
        *lines, '', *tables, '#### Every variant', '',
        f'GMACs at 1x3x{MACS_SIZE[0]}x{MACS_SIZE[1]} ({FLOP_COUNTER}); '
        'params: inference.', '', variant_table, ''
    ])


def _number(value: float) -> str:
    """A statistic as CSV text; empty where it does not exist (nan)."""
    return '' if math.isnan(value) else f'{value:.4f}'


def _p_text(p_value: float) -> str:
    """A p-value for tables: 3 significant digits, empty if undefined."""
    if math.isnan(p_value):
        return ''
    return '< 0.001' if p_value < 0.001 else f'{p_value:.3f}'


def summary_csv(results: Dict[str, List[dict]]) -> str:
    """One row per claim and compared variant, reference rows included."""
    rows = []
    for claim in CLAIMS:
        compared, verdict = claim_rows(claim, results)
        if not compared:
            continue
        reference = spread(_values(results, REFERENCE_VARIANT, claim.metric))
        rows.append([
            claim.key, claim.metric, REFERENCE_VARIANT, reference.count,
            f'{reference.mean:.4f}',
            _number(reference.std if reference.count >= 2 else math.nan),
            *[''] * 9, verdict
        ])
        for row in compared:
            comparison = row['comparison']
            rows.append([
                claim.key, claim.metric, row['variant'], row['n'],
                f"{row['mean']:.4f}",
                _number(row['std'] if row['n'] >= 2 else math.nan),
                f'{comparison.difference:.4f}',
                _number(comparison.standard_error),
                _number(comparison.dof), _number(comparison.interval[0]),
                _number(comparison.interval[1]),
                _number(comparison.p_value), comparison.direction,
                comparison.size or '', comparison.verdict, verdict
            ])
    return csv_text([
        'claim', 'metric', 'variant', 'seeds', 'mean', 'std',
        'difference_to_reference', 'standard_error', 'welch_dof', 'ci95_low',
        'ci95_high', 'p_value', 'direction', 'size_verdict', 'verdict',
        'claim_verdict'
    ], rows, lineterminator='\n')


def summary_plot(results: Dict[str, List[dict]]) -> Optional[bytes]:
    """One panel per claim: mean ± std bars, the reference in red."""
    panels = []
    for claim in CLAIMS:
        compared, verdict = claim_rows(claim, results)
        if not compared:
            continue
        names = [REFERENCE_VARIANT] + [row['variant'] for row in compared]
        stats = [spread(_values(results, name, claim.metric))
                 for name in names]
        panels.append(BarPanel(
            names, [s.mean for s in stats], [s.std for s in stats],
            '\n'.join([claim.title, *textwrap.wrap(verdict, 48)]),
            f'{METRIC_LABELS[claim.metric]} (%)',
            ['tab:red'] + ['tab:blue'] * len(compared)))
    return bars_png(panels) if panels else None


def summary_paths(results_dir: str) -> Dict[str, str]:
    """``md``, ``csv``, ``png`` -> the summary files of a results dir."""
    return {ext: osp.join(results_dir, f'{SUMMARY_NAME}.{ext}')
            for ext in ('md', 'csv', 'png')}


def write_summary(results: Dict[str, List[dict]],
                  variants: Sequence[Variant], results_dir: str,
                  recipe: str) -> Dict[str, str]:
    """Write ``summary.{md,csv,png}`` (only files the tool wrote itself are
    replaced; no plot before a claim has results).

    Args:
        results (dict[str, list[dict]]): From :func:`collect_results`.
        variants (Sequence[Variant]): The suite's variants.
        results_dir (str): The suite's results dir.
        recipe (str): The recipe's path, for the header.

    Returns:
        dict[str, str]: ``md``, ``csv`` (and ``png``) -> path.
    """
    paths = summary_paths(results_dir)
    record = osp.join(results_dir, SUMMARY_RECORD)
    contents = {
        'md': summary_markdown(results, variants, recipe).encode(),
        'csv': summary_csv(results).encode(),
        'png': summary_plot(results),
    }
    written = {}
    for ext, data in contents.items():
        if data is not None:
            write_owned(paths[ext], data, record)
            written[ext] = paths[ext]
    return written


__all__ = [
    'SUITES', 'collect_results', 'claim_rows', 'load_experiment_recipe',
    'run_config', 'run_experiments', 'summary_markdown', 'write_summary'
]
