"""The summary of an experiment suite: the verdict of every claim, one
table per claim (mean ± std, the difference with its 95 % interval, p) and
the variants' table, as Markdown, CSV and a bar plot.

Written from the suite's results (:func:`~.experiment_suite.collect_results`)
into its results dir; only files the tool wrote itself are replaced.
"""
import math
import os.path as osp
import textwrap
from typing import Dict, List, Optional, Sequence, Tuple

from ..analysis import FLOP_COUNTER
from ..analysis.report import BarPanel, bars_png, csv_text, markdown_table
from ..utils.generated_files import write_owned
from .seed_statistics import (TOO_FEW_SEEDS, VERDICT_RULE, Comparison,
                              claim_verdict, compare_seeds, spread)
from .suites import CLAIMS, REFERENCE_VARIANT, Claim, Variant

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
        :class:`~.seed_statistics.Comparison` under
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
            comparison=compare_seeds(reference, values, claim.claimed_size)))
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


__all__ = ['MACS_SIZE', 'claim_rows', 'summary_csv', 'summary_markdown',
           'summary_paths', 'write_summary']
