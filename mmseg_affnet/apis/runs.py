"""Training and testing runs, as the tools and the demo start them."""
import errno
import os
import os.path as osp
import uuid
from contextlib import nullcontext
from typing import Optional

from mmengine.config import Config
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmseg.registry import RUNNERS

from ..datasets import check_dataset_layout
from ..engine.checkpoint import load_weights
from ..engine.checkpoint_hook import check_resume_before_building
from ..engine.runner import check_work_dir, select_cpu_distributed_runner
from ..utils.cli import Interrupted, was_interrupted
from ..utils.io import folder_lock, refuse_existing


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


def run_test(cfg: Config,
             checkpoint: str,
             out_dir: Optional[str] = None,
             show_dir: Optional[str] = None,
             tta: bool = False) -> dict:
    """Evaluate (or format) the test split of ``cfg`` with ``checkpoint``.

    The checkpoint is loaded strictly and weights-only
    (:func:`mmseg_affnet.engine.load_weights`): a checkpoint of another
    model is an error, not a randomly initialised head. Output folders that
    already hold files are refused.

    Args:
        cfg (Config): A config with ``test_dataloader``, ``test_evaluator``
            and ``work_dir``.
        checkpoint (str): The checkpoint file.
        out_dir (str, optional): Folder for the predicted label maps (PNG);
            overrides ``test_evaluator.output_dir``. Default: None.
        show_dir (str, optional): Folder for every test image painted with
            its prediction. Default: None.
        tta (bool): Test-time augmentation as mmseg's ``tools/test.py
            --tta`` runs it: the config's ``tta_pipeline`` reads the test
            images and its ``tta_model`` (``SegTTAModel``) averages the class
            probabilities of the augmented views. Default: False.

    Returns:
        dict: The metrics.

    Raises:
        ValueError: If ``tta`` is asked for and the config has no
            ``tta_model`` or ``tta_pipeline``.
    """
    if tta:
        if cfg.get('tta_model') is None or cfg.get('tta_pipeline') is None:
            raise ValueError(
                'Test-time augmentation needs tta_model and tta_pipeline in '
                "the config (e.g. configs/camvid/affnet_camvid_cpu.py's); add "
                'them, or test without --tta.')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if out_dir is not None:
        cfg.test_evaluator.output_dir = out_dir
        cfg.test_evaluator.keep_results = True
    if show_dir is not None:
        if 'visualization' not in cfg.default_hooks:
            raise ValueError('--show-dir needs default_hooks.visualization '
                             "(dict(type='SegVisualizationHook')).")
        cfg.default_hooks.visualization.draw = True
        cfg.default_hooks.visualization.interval = 1  # every image
        cfg.visualizer.save_dir = show_dir
    outputs = [cfg.test_evaluator.get('output_dir'), show_dir]
    refuse_existing(
        [folder for folder in outputs if folder and _has_files(folder)],
        'Pass an empty or new folder to --out / --show-dir.')
    check_dataloaders(cfg, 'test_dataloader')
    cfg.load_from, cfg.resume = None, False
    runner = build_runner(cfg)
    model = runner.model.module if is_model_wrapper(
        runner.model) else runner.model
    load_weights(model.module if tta else model, checkpoint)
    return runner.test()


def _has_files(folder: str) -> bool:
    return osp.isdir(folder) and any(os.scandir(folder)) or osp.isfile(folder)
