"""Training runs, as ``tools/train.py``, the demo and the research
campaigns start them (:func:`run_training`), on a runner of the config's
type (:func:`build_runner`)."""
import errno
import os
import os.path as osp
import uuid
from contextlib import nullcontext

from mmengine.config import Config
from mmengine.runner import Runner
from mmseg.registry import RUNNERS

from ..datasets import check_dataset_layout
from ..engine.checkpoint_hook import check_resume_before_building
from ..engine.runner import check_work_dir, select_cpu_distributed_runner
from ..utils.cli import Interrupted, was_interrupted
from ..utils.io import folder_lock


def build_runner(cfg: Config) -> Runner:
    """Build the config's ``runner_type`` if it names one, else a Runner.

    The visualizer gets a name of its own (a random one): mmengine keeps one
    visualizer instance per name in a process, so the second runner of a
    process (the comparison flow, tests) would otherwise log into the first
    one's dirs.

    Without CUDA, a launched (distributed) run whose config names no runner
    gets :class:`mmseg_affnet.engine.CPUDistributedRunner`
    (:func:`mmseg_affnet.engine.runner.select_cpu_distributed_runner`).

    Args:
        cfg (Config): A full training/testing config.

    Returns:
        Runner: The runner.
    """
    select_cpu_distributed_runner(cfg)
    if isinstance(cfg.get('visualizer'), dict):
        cfg.visualizer.name = f'visualizer_{uuid.uuid4().hex}'
    return RUNNERS.build(cfg) if 'runner_type' in cfg \
        else Runner.from_cfg(cfg)


def check_dataloaders(cfg: Config, *names: str) -> None:
    """Check the dataset folders of ``cfg``'s dataloaders ``names``.

    mmengine builds the datasets when the runner builds a loop, before any
    hook runs, and a missing folder then ends in a bare listing error; this
    names the folder, the expected layout and the tool that writes it.

    Args:
        cfg (Config): The config.
        *names (str): Dataloader keys, e.g. ``'train_dataloader'``.
    """
    for name in names:
        loader_cfg = cfg.get(name)
        if loader_cfg:
            check_dataset_layout(loader_cfg['dataset'], name)


def run_training(cfg: Config) -> Runner:
    """Train ``cfg`` after checking its work dir and data folders.

    A resume is checked against the checkpoint's config before the runner
    is built, so a refused resume writes nothing into the work dir. The
    work dir is held (:func:`mmseg_affnet.utils.io.folder_lock`) while the
    training runs: a second training there is refused at once. A Ctrl+C
    (:class:`mmseg_affnet.utils.cli.Interrupted`) or a failed checkpoint
    write ends with the last checkpoint and how to resume from it.

    Args:
        cfg (Config): A training config with ``work_dir`` and ``resume``
            set (``load_from`` is what a resumed training continues from,
            when named).

    Returns:
        Runner: The runner after training.

    Raises:
        FileExistsError: If the training would overwrite checkpoints
            (:func:`mmseg_affnet.engine.check_work_dir`).
        FileNotFoundError: If ``resume`` is set and there is nothing to
            resume.
        BlockingIOError: If another training runs in the work dir.
        ValueError: If a resume would continue another config's training.
        Interrupted: On Ctrl+C.
    """
    # Every process of a distributed run shares the work dir; rank 0 holds
    # it (the others start only with it).
    held = folder_lock(
        cfg.work_dir, 'Wait for that training to end, or train in another '
        '--work-dir.') if int(os.environ.get('RANK', '0')) == 0 \
        else nullcontext()
    with held:
        resume = cfg.get('resume', False)
        check_work_dir(cfg.work_dir, resume,
                       cfg.get('load_from') if resume else None)
        check_dataloaders(cfg, 'train_dataloader', 'val_dataloader')
        if resume:
            check_resume_before_building(cfg)
        try:
            runner = build_runner(cfg)
            runner.train()
        except BaseException as error:  # noqa: B902 - said how to resume
            if was_interrupted(error):
                raise Interrupted(
                    f'interrupted; {_resume_hint(cfg.work_dir)}') from error
            if isinstance(error, OSError) and error.errno in WRITE_ERRNOS:
                hint = _resume_hint(cfg.work_dir)
                raise type(error)(
                    f'{error} {hint[:1].upper()}{hint[1:]}') from error
            raise
    return runner


#: A disk that is full, or a file over the size limit (``ulimit -f``).
WRITE_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def _resume_hint(work_dir: str) -> str:
    """Where a stopped training in ``work_dir`` can resume from."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return (f'no checkpoint was saved in {work_dir} yet; start the '
                'training again (the same command, without --resume).')
    with open(pointer) as file:
        last = file.read().strip()
    return (f'the last checkpoint is {last}; resume with --resume (the same '
            f'config and --work-dir {work_dir}).')
