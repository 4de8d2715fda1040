"""The work-dir guard of trainings, and the opt-in runner for CPU DDP."""
import glob
import os.path as osp
from typing import Dict, Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.dist import init_dist
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODEL_WRAPPERS, RUNNERS
from mmengine.runner import Runner

from ..utils.io import refuse_existing


def check_work_dir(work_dir: str, resume: bool,
                   load_from: Optional[str] = None) -> None:
    """Refuse trainings that would overwrite checkpoints in ``work_dir``.

    - A new training must not start where one has left checkpoints.
    - A resumed one finds its checkpoint through ``last_checkpoint``;
      without that file mmengine would start over (and overwrite any
      checkpoints there), so a resume needs it (or ``load_from``).
    - A training resumed from a checkpoint elsewhere (``--resume
      --cfg-options load_from=OTHER``) must not write into a work dir that
      holds the checkpoints of another run.

    Args:
        work_dir (str): The work dir of the training.
        resume (bool): Whether the training resumes (``--resume``).
        load_from (str, optional): The checkpoint a resumed training
            continues from, when named explicitly. Default: None.

    Raises:
        FileExistsError: If the training would overwrite checkpoints.
        FileNotFoundError: If a resume names no checkpoint and the work dir
            has no ``last_checkpoint``.
    """
    found = sorted(glob.glob(osp.join(work_dir, '*.pth')))
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not resume:
        refuse_existing(
            found + [pointer],
            f'Work dir {work_dir} holds checkpoints of an earlier training. '
            'Continue it with --resume, or start a new one with another '
            '--work-dir.')
        return
    names = ', '.join(osp.basename(f) for f in found[:5])
    if load_from and found and osp.realpath(
            osp.dirname(osp.abspath(load_from))) != osp.realpath(work_dir):
        raise FileExistsError(
            f'--resume from {load_from} would write into {work_dir}, which '
            f'holds the checkpoints of another training ({names}) and would '
            'overwrite them. Resume into that checkpoint\'s own work dir, or '
            'pass a new --work-dir.')
    if found and not load_from and not osp.exists(pointer):
        raise FileExistsError(
            f'Work dir {work_dir} holds checkpoints ({names}) but no '
            'last_checkpoint file naming the one to resume from, so the '
            'training would start over and overwrite them. Name it: '
            '--resume --cfg-options load_from=CHECKPOINT')
    if not load_from and not osp.exists(pointer):
        raise FileNotFoundError(
            f'--resume: work dir {work_dir} has no last_checkpoint (no '
            'training saved a checkpoint there), so there is nothing to '
            'resume. Drop --resume to start a new training, or pass the '
            '--work-dir of the training to resume.')


def start_process_group(launcher: str) -> None:
    """Join the processes started by ``launcher``, if not done yet.

    With CUDA through mmengine's ``init_dist`` (which also selects this
    process's GPU); without CUDA with the gloo backend (``init_dist`` calls
    ``torch.cuda.set_device``, which a CPU build of torch does not have).

    Args:
        launcher (str): 'pytorch' (torchrun).
    """
    if torch_dist.is_initialized():
        return
    if torch.cuda.is_available():
        init_dist(launcher)
    else:
        torch_dist.init_process_group(backend='gloo')


def end_process_group() -> None:
    """Wait for every process, then end the process group, if one runs.

    For flows that start the group themselves (:func:`start_process_group`)
    and run several runners in it; a runner's own group is ended by
    :class:`mmseg_affnet.engine.DistTeardownHook`.
    """
    if torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()


def select_cpu_distributed_runner(cfg: Config) -> None:
    """Select :class:`CPUDistributedRunner` for a launched run without CUDA.

    mmengine's ``Runner`` cannot start a distributed run on a machine
    without CUDA. When ``cfg.launcher`` is set, CUDA is not available and
    the config names no ``runner_type`` of its own, this sets
    ``runner_type='CPUDistributedRunner'`` (which says so in one log line);
    a config that names a runner keeps it.

    Args:
        cfg (Config): A full config with ``launcher``; changed in place.
    """
    if (cfg.get('launcher', 'none') == 'none' or 'runner_type' in cfg
            or torch.cuda.is_available()):
        return
    cfg.runner_type = CPUDistributedRunner.__name__


@RUNNERS.register_module()
class CPUDistributedRunner(Runner):
    """:class:`mmengine.runner.Runner` that also trains distributed on CPUs.

    Only needed for multi-process training or testing without CUDA (e.g.
    ``tools/dist_train.sh`` on a CPU machine); everything else works with
    mmengine's own ``Runner``. The project's tools select it themselves
    (:func:`select_cpu_distributed_runner`); with mmseg's own tools add
    ``configs/_base_/cpu_distributed_runner.py`` to a config's ``_base_``
    (or ``--cfg-options runner_type=CPUDistributedRunner``). Without CUDA
    it

    - starts the process group with ``gloo`` (mmengine's ``init_dist``
      calls ``torch.cuda.set_device``, which fails without CUDA);
    - wraps the model in DDP without device ids, and turns SyncBN layers,
      which need CUDA, into BatchNorm (statistics per process).

    With CUDA it is mmengine's ``Runner``.
    """

    def setup_env(self, env_cfg: Dict) -> None:
        """Start the process group on CPU with gloo when there is no CUDA."""
        if self.distributed and not torch.cuda.is_available():
            start_process_group(self.launcher)
        super().setup_env(env_cfg)

    def wrap_model(self, model_wrapper_cfg: Optional[Dict],
                   model: torch.nn.Module) -> torch.nn.Module:
        """Wrap for DDP; on CPU, with SyncBN reverted and no device ids."""
        if not self.distributed or torch.cuda.is_available():
            return super().wrap_model(model_wrapper_cfg, model)
        self.logger.info(
            'No CUDA: running with CPUDistributedRunner; processes talk '
            'through gloo, and as SyncBN cannot run on CPU, SyncBatchNorm '
            'layers become BatchNorm layers with per-process statistics.')
        wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=self.cfg.get('find_unused_parameters',
                                                False))
        wrapper_cfg.update(model_wrapper_cfg or {})
        return MODEL_WRAPPERS.build(
            wrapper_cfg,
            default_args=dict(module=revert_sync_batchnorm(model)))
