"""mmengine Runner with safe checkpoint loading, data checks and CPU DDP."""
import glob
import os
import os.path as osp
from typing import Callable, Dict, Optional, Union

import torch
import torch.distributed as torch_dist
from mmengine.dist import master_only
from mmengine.model import is_model_wrapper, revert_sync_batchnorm
from mmengine.registry import MODEL_WRAPPERS, RUNNERS
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model

from ..datasets import check_dataset_layout
from .checkpoint import is_within, load_checkpoint_file


def check_work_dir(work_dir: str, resume: bool) -> None:
    """Refuse trainings that would overwrite checkpoints in ``work_dir``.

    A new training must not start where one has left checkpoints. A resumed
    one finds its checkpoint through ``last_checkpoint``; without that file
    mmengine would start over and overwrite the checkpoints.

    Args:
        work_dir (str): The work dir of the training.
        resume (bool): Whether the training resumes (``--resume``).

    Raises:
        FileExistsError: If the training would overwrite checkpoints.
    """
    found = sorted(glob.glob(osp.join(work_dir, '*.pth')))
    has_pointer = osp.exists(osp.join(work_dir, 'last_checkpoint'))
    names = ', '.join(osp.basename(f) for f in found[:5])
    if not resume and (found or has_pointer):
        raise FileExistsError(
            f'Work dir {work_dir} already holds checkpoints of an earlier '
            f'training ({names or "last_checkpoint"}); a new training would '
            'overwrite them. Continue it with --resume, or start a new one '
            'with another --work-dir.')
    if resume and found and not has_pointer:
        raise FileExistsError(
            f'Work dir {work_dir} holds checkpoints ({names}) but no '
            'last_checkpoint file naming the one to resume from, so the '
            'training would start over and overwrite them. Name it: '
            '--resume --cfg-options load_from=CHECKPOINT')


@RUNNERS.register_module()
class AFFNetRunner(Runner):
    """:class:`mmengine.runner.Runner` that protects data and checkpoints.

    Select it with ``runner_type = 'AFFNetRunner'`` in a config. Compared
    with ``Runner`` it

    - loads checkpoints under its own ``work_dir`` (symlinks resolved), i.e.
      its own, whole, and any other file (``load_from``, a checkpoint given
      to ``tools/test.py`` from elsewhere) with ``weights_only=True``;
    - writes checkpoints atomically (to ``NAME.part``, then renames), so a
      run killed while saving leaves no truncated ``NAME``;
    - checks the dataset folders before building dataloaders
      (:func:`check_dataset_layout`);
    - runs distributed on CPU: ``gloo`` instead of ``nccl``, and SyncBN
      layers, which need CUDA, become BatchNorm (statistics per process);
    - names its visualizer after the experiment, so that several runners
      in one process (``tools/compare_demo.py``) each log to their own
      work dir instead of sharing the first one's visualizer.
    """

    def build_visualizer(self, visualizer=None):
        """``Runner.build_visualizer`` with ``name=experiment_name``."""
        if isinstance(visualizer, dict):
            visualizer = dict(visualizer, name=self.experiment_name)
        return super().build_visualizer(visualizer)

    def setup_env(self, env_cfg: Dict) -> None:
        """Start the process group on CPU with gloo when there is no CUDA."""
        if self.distributed and not torch.cuda.is_available() and \
                not torch_dist.is_initialized():
            torch_dist.init_process_group(backend='gloo')
        super().setup_env(env_cfg)

    def wrap_model(self, model_wrapper_cfg: Optional[Dict],
                   model: torch.nn.Module) -> torch.nn.Module:
        """Wrap for DDP; on CPU, with SyncBN reverted and no device ids."""
        if not self.distributed or torch.cuda.is_available():
            return super().wrap_model(model_wrapper_cfg, model)
        self.logger.info(
            'Distributed training without CUDA: processes talk through gloo, '
            'and as SyncBN cannot run on CPU, SyncBatchNorm layers become '
            'BatchNorm layers with per-process statistics.')
        wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=self.cfg.get('find_unused_parameters',
                                                False))
        wrapper_cfg.update(model_wrapper_cfg or {})
        return MODEL_WRAPPERS.build(
            wrapper_cfg,
            default_args=dict(module=revert_sync_batchnorm(model)))

    def train(self) -> torch.nn.Module:
        """Check the train and val data, then train (see ``Runner.train``)."""
        self._check_data('train_dataloader', 'val_dataloader')
        return super().train()

    def val(self) -> dict:
        """Check the val data, then validate (see ``Runner.val``)."""
        self._check_data('val_dataloader')
        return super().val()

    def test(self) -> dict:
        """Check the test data, then test (see ``Runner.test``)."""
        self._check_data('test_dataloader')
        return super().test()

    def load_checkpoint(self,
                        filename: str,
                        map_location: Union[str, Callable] = 'cpu',
                        strict: bool = False,
                        revise_keys=((r'^module\.', ''), )) -> dict:
        """Load a checkpoint, whole only if it lies in this run's work dir.

        Args:
            filename (str): Local path or URL of the checkpoint.
            map_location (str | Callable): As in :func:`torch.load`.
                Default: 'cpu'.
            strict (bool): Whether the model's and the checkpoint's keys must
                match. Default: False.
            revise_keys (Sequence[tuple]): (pattern, replacement) pairs
                applied to the state-dict keys. Default: strip a leading
                ``module.``.

        Returns:
            dict: The checkpoint.
        """
        trusted = '://' not in filename and is_within(filename,
                                                      self.work_dir)
        checkpoint = load_checkpoint_file(filename, map_location, trusted)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(
            self.model) else self.model
        checkpoint = _load_checkpoint_to_model(
            model, checkpoint, strict, revise_keys=revise_keys)
        self._has_loaded = True
        how = 'whole (own work dir)' if trusted else 'weights only'
        self.logger.info(f'Load checkpoint from {filename}, {how}')
        return checkpoint

    @master_only
    def save_checkpoint(self, out_dir: str, filename: str, *args,
                        **kwargs) -> None:
        """``Runner.save_checkpoint``, atomic for a local ``out_dir``."""
        if '://' in str(out_dir):
            super().save_checkpoint(out_dir, filename, *args, **kwargs)
            return
        partial_name = f'{filename}.part'
        super().save_checkpoint(out_dir, partial_name, *args, **kwargs)
        os.replace(
            osp.join(out_dir, partial_name), osp.join(out_dir, filename))

    def _check_data(self, *dataloader_keys: str) -> None:
        for key in dataloader_keys:
            dataloader_cfg = self.cfg.get(key)
            if isinstance(dataloader_cfg, dict):
                check_dataset_layout(dataloader_cfg['dataset'], key)
