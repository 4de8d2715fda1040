"""A campaign: a set of trainings, each scored once and kept as a result.

The comparison (:mod:`.comparison`: models x one recipe) and the experiment
suites (:mod:`.experiment_suite`: variants x seeds on one recipe) are two
campaigns. What they share lives here:

- :func:`campaign_processes`: the process group of a distributed campaign
  (torchrun), started before the runs are built (their digests count the
  processes) and ended before the summaries;
- :func:`pending_runs`: a run with a ``result.json`` is finished (its file
  checked by the campaign's reader, which refuses a result of another
  config); the others are pending;
- :func:`train_pending`: trains each pending run (resuming one whose work
  dir holds ``last_checkpoint``), scores its last checkpoint on rank 0 and
  writes its ``result.json`` through the result store
  (:func:`~.result_store.write_result`: atomic, content-digested, never
  overwritten), stamped with the time and the machine;
- :class:`Executor`: where the runs train. ``inline`` (default): one after
  another in this process (and, with ``--launcher pytorch``, distributed
  over torchrun's processes); ``local``: submitit's local executor, each
  run a process of its own, ``parallel`` at a time with ``threads`` CPU
  threads each; ``slurm``: submitit's Slurm executor, each run a job
  (partition, GPUs and time limit as given), the cluster's scheduler
  deciding how many run at once. submitit is an optional dependency (the
  ``cluster`` extra).

Summaries, their files and documentation blocks are the campaigns' own
(:mod:`.result_store` writes the blocks).
"""
import copy
import os.path as osp
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.dist import barrier, get_dist_info
from tqdm import tqdm

from ..analysis import count_macs, inference_params, machine
from ..deploy import evaluate_checkpoint
from ..engine import (TrainProgressHook, end_process_group, init_segmentor,
                      start_process_group)
from ..apis.train import run_training
from .comparison_recipe import model_input_size, write_model_config
from .result_store import write_result

__all__ = ['CampaignRun', 'Executor', 'add_executor_arguments',
           'campaign_processes', 'executor_from_args', 'pending_runs',
           'train_and_evaluate', 'train_pending']

EXECUTORS = ('inline', 'local', 'slurm')


@dataclass
class Executor:
    """Where a campaign's pending runs train.

    Attributes:
        kind (str): ``'inline'``, ``'local'`` or ``'slurm'`` (see the module
            docstring).
        folder (str): submitit's folder of the jobs' pickles and logs.
        parallel (int): ``local``: runs at a time.
        threads (int, optional): ``local`` and ``slurm``: CPU threads of a
            run (``torch.set_num_threads``); None keeps torch's default.
        partition (str, optional): ``slurm``: the partition.
        gpus (int): ``slurm``: GPUs of a job (a run uses one process).
        timeout_min (int): ``slurm`` and ``local``: time limit of a run.
    """
    kind: str = 'inline'
    folder: str = 'work_dirs/submitit'
    parallel: int = 1
    threads: Optional[int] = None
    partition: Optional[str] = None
    gpus: int = 1
    timeout_min: int = 24 * 60

    def __post_init__(self):
        if self.kind not in EXECUTORS:
            raise ValueError(f'Unknown executor {self.kind!r}; choose one of '
                             f'{list(EXECUTORS)}.')
        if self.parallel < 1 or self.gpus < 0 or self.timeout_min < 1 or (
                self.threads is not None and self.threads < 1):
            raise ValueError('parallel, timeout_min and threads must be >= 1 '
                             f'and gpus >= 0, got {self}.')


@dataclass
class CampaignRun:
    """One training of a campaign.

    Attributes:
        name (str): Its name (progress bar, config file ``<name>.py`` in
            its work dir), e.g. ``'AFFNet'`` or ``'ce_seed1'``.
        cfg (Config): Its full training config; ``cfg.work_dir`` is its
            work dir.
        result_path (str): Its ``result.json``.
        record (dict): What the campaign records in the result beside the
            scores (seed, digests, ...), in this order.
    """
    name: str
    cfg: Config
    result_path: str
    record: dict = field(default_factory=dict)


@contextmanager
def campaign_processes(launcher: str) -> Iterator[Tuple[int, int]]:
    """The process group of a campaign, if it runs distributed.

    Args:
        launcher (str): 'none' (one process) or 'pytorch' (started by
            torchrun: every training distributed over the processes).

    Yields:
        tuple[int, int]: This process's rank and the number of processes.
    """
    if launcher != 'none':
        start_process_group(launcher)
    try:
        yield get_dist_info()
    finally:
        end_process_group()


def pending_runs(runs: Sequence[CampaignRun],
                 read_result: Callable[[str, CampaignRun], dict]
                 ) -> List[CampaignRun]:
    """The runs without a result; the results there are, checked.

    Args:
        runs (Sequence[CampaignRun]): The campaign's runs, in order.
        read_result (Callable[[str, CampaignRun], dict]): Reads an existing
            ``result.json`` of a run and raises if it belongs to another
            config.

    Returns:
        list[CampaignRun]: The runs to train, in order.
    """
    pending = []
    for run in runs:
        if osp.exists(run.result_path):
            read_result(run.result_path, run)
        else:
            pending.append(run)
    return pending


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
            (:func:`~.comparison_recipe.model_input_size`). Default: None,
            the model's ``data_preprocessor.size``.

    Returns:
        dict | None: On rank 0: ``model``, ``config``, ``checkpoint``,
        ``train_seconds``, ``resumed``, ``eval_size``, ``params_m``,
        ``gmacs`` and the val metrics; None on the other ranks.
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


def record_run(run: CampaignRun,
               launcher: str = 'none',
               rank: int = 0,
               eval_size: Optional[Tuple[int, int]] = None,
               machine_specific: Sequence[str] = (),
               threads: Optional[int] = None) -> None:
    """Train, score and record one run (the body of every executor).

    Its config is written to its work dir (rank 0) before it trains, so
    that it can also be trained alone with ``tools/train.py``.

    Args:
        run (CampaignRun): The run.
        launcher (str): 'none' or 'pytorch'. Default: 'none'.
        rank (int): This process's rank (only rank 0 writes). Default: 0.
        eval_size (tuple[int, int], optional): (H, W) at which GMACs are
            counted (:func:`train_and_evaluate`). Default: None.
        machine_specific (Sequence[str]): Result keys left out of the
            written result (paths of this machine). Default: ().
        threads (int, optional): CPU threads of this process. Default: None
            (torch's default).
    """
    if threads is not None:
        torch.set_num_threads(threads)
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if rank == 0:
        write_model_config(run.cfg, osp.join(run.cfg.work_dir,
                                             f'{run.name}.py'))
    barrier()
    result = train_and_evaluate(run.name, run.cfg, device, launcher, rank,
                                eval_size)
    if result is None:
        return
    for key in machine_specific:
        result.pop(key)
    result.update(run.record)
    result.update(finished=datetime.now().isoformat(timespec='seconds'),
                  machine=machine())
    write_result(run.result_path, result)


def _submitit_executor(executor: Executor):
    """submitit's executor for ``executor`` (``local`` or ``slurm``)."""
    try:
        import submitit
    except ImportError:
        raise ImportError(
            f'--executor {executor.kind} needs submitit, which is not '
            "installed: pip install 'mmseg-affnet[cluster]' (or pip install "
            'submitit), or use --executor inline.') from None
    if executor.kind == 'local':
        jobs = submitit.LocalExecutor(folder=executor.folder)
        jobs.update_parameters(timeout_min=executor.timeout_min)
    else:
        jobs = submitit.AutoExecutor(folder=executor.folder,
                                     cluster='slurm')
        jobs.update_parameters(
            timeout_min=executor.timeout_min, gpus_per_node=executor.gpus,
            tasks_per_node=1, nodes=1,
            **({'slurm_partition': executor.partition}
               if executor.partition else {}))
    return jobs


def train_pending(runs: Sequence[CampaignRun],
                  launcher: str,
                  rank: int,
                  eval_size: Optional[Tuple[int, int]] = None,
                  description: str = 'runs',
                  machine_specific: Sequence[str] = (),
                  executor: Optional[Executor] = None) -> None:
    """Train, score and record every run of ``runs`` (the pending ones).

    Args:
        runs (Sequence[CampaignRun]): From :func:`pending_runs`.
        launcher (str): 'none' or 'pytorch'.
        rank (int): This process's rank (only rank 0 writes).
        eval_size (tuple[int, int], optional): (H, W) at which GMACs are
            counted (:func:`train_and_evaluate`). Default: None.
        description (str): Progress bar label. Default: 'runs'.
        machine_specific (Sequence[str]): Result keys left out of the
            written result (paths of this machine). Default: ().
        executor (Executor, optional): Where the runs train. Default: None
            (``inline``).

    Raises:
        ValueError: For ``local`` or ``slurm`` with ``launcher='pytorch'``
            (each job is a training process of its own).
        RuntimeError: If a job failed; every failed run is named with its
            log, and the results of the others are kept.
    """
    executor = executor or Executor()
    if executor.kind == 'inline':
        for run in tqdm(runs, desc=description, unit='run',
                        disable=rank != 0):
            record_run(run, launcher, rank, eval_size, machine_specific)
        return
    if launcher != 'none':
        raise ValueError(f'--executor {executor.kind} starts one process per '
                         'run: use --launcher none.')
    jobs = _submitit_executor(executor)
    batch = len(runs) if executor.kind == 'slurm' else executor.parallel
    failed = []
    with tqdm(total=len(runs), desc=description, unit='run') as progress:
        for start in range(0, len(runs), batch):
            submitted = [(run, jobs.submit(record_run, run, 'none', 0,
                                           eval_size, machine_specific,
                                           executor.threads))
                         for run in runs[start:start + batch]]
            for run, job in submitted:
                try:
                    job.result()
                except Exception as error:  # the job's own traceback: log
                    failed.append(f'{run.name} ({type(error).__name__}; log: '
                                  f'{job.paths.stderr})')
                progress.update()
    if failed:
        raise RuntimeError(f'{len(failed)} of {len(runs)} runs failed: '
                           f'{"; ".join(failed)}. The finished runs kept '
                           'their results; a rerun trains only the others.')


def add_executor_arguments(parser) -> None:
    """Add ``--executor`` and its settings to a campaign tool's parser.

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
    """
    group = parser.add_argument_group('executor (where the runs train)')
    group.add_argument(
        '--executor', choices=EXECUTORS, default='inline',
        help='inline: one after another in this process (default); local: '
        'each run a process of its own, --parallel at a time (submitit); '
        'slurm: each run a Slurm job (submitit)')
    group.add_argument('--parallel', type=int, default=1,
                       help='local: runs at a time (default: 1)')
    group.add_argument('--run-threads', type=int,
                       help='local, slurm: CPU threads of each run')
    group.add_argument('--partition', help='slurm: the partition')
    group.add_argument('--gpus', type=int, default=1,
                       help='slurm: GPUs of each job (default: 1)')
    group.add_argument('--timeout-min', type=int, default=24 * 60,
                       help='local, slurm: time limit of a run in minutes '
                       '(default: 1440)')
    group.add_argument('--jobs-dir', default='work_dirs/submitit',
                       help="local, slurm: submitit's folder of the jobs' "
                       'logs (default: work_dirs/submitit)')


def executor_from_args(args) -> Executor:
    """The :class:`Executor` of a tool's parsed arguments."""
    return Executor(args.executor, args.jobs_dir, args.parallel,
                    args.run_threads, args.partition, args.gpus,
                    args.timeout_min)
