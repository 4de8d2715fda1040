"""Precise BN: BatchNorm running statistics recomputed on training batches.

During training, a BatchNorm layer keeps an exponential moving average of
its batch statistics (``momentum``: weight of the newest batch). With a small
momentum (mmseg's Fast-SCNN config uses 0.01) and weights that still change
quickly, that average lags far behind the network it is used with at
evaluation time, and eval-mode BN normalises with statistics of an older
network. Precise BN (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021;
fvcore's ``update_bn_stats``) replaces them, just before they are used, by
the plain average of the batch statistics of the current weights over a
number of training batches.
"""
import itertools
import logging
import math
from typing import Dict, Iterable, List, Optional

import torch
import torch.nn as nn
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
from mmseg.registry import HOOKS
from torch.nn.modules.batchnorm import _BatchNorm

from .random_state import capture_random_state, restore_random_state


def training_bn_layers(model: nn.Module) -> List[_BatchNorm]:
    """The BatchNorm layers that training updates.

    Layers in eval mode while ``model`` is in train mode (frozen BN, e.g. a
    backbone's ``norm_eval``) and layers without running statistics are left
    out: training never changes their statistics, so neither does precise BN.

    Args:
        model (nn.Module): A model in train mode.

    Returns:
        list[_BatchNorm]: The layers (BatchNorm1d/2d/3d, SyncBatchNorm).
    """
    return [
        module for module in model.modules()
        if isinstance(module, _BatchNorm) and module.training
        and module.track_running_stats
    ]


@torch.no_grad()
def recompute_bn_statistics(model: nn.Module,
                            batches: Iterable[dict]) -> Dict[str, int]:
    """Set every training BN layer's running statistics to batch averages.

    Runs ``model`` in train mode in ``'loss'`` mode (so the auxiliary heads'
    layers are updated too) on each batch, without gradients, and sets each
    layer's ``running_mean`` and ``running_var`` to the mean over its calls
    of the batch mean and of the (unbiased) batch variance: what BN's
    running average converges to on these batches once the weights stop
    changing, without its lag. In a distributed run the averages are then
    averaged over the ranks, so every rank holds the same statistics.
    Momentum and ``num_batches_tracked`` are restored, layers that no batch
    reached keep their statistics, and the model's train/eval mode is
    restored. Nothing else of the model changes.

    Args:
        model (nn.Module): An mmengine ``BaseModel`` (with a
            ``data_preprocessor``), possibly wrapped by DDP.
        batches (Iterable[dict]): Training batches as the dataloader yields
            them (``inputs``, ``data_samples``). Every rank must pass the
            same number of batches.

    Returns:
        dict[str, int]: ``layers``: BN layers recomputed, ``batches``:
        batches run on this rank.
    """
    module = model.module if is_model_wrapper(model) else model
    was_training = module.training
    module.train()
    layers = training_bn_layers(module)
    saved = [(bn.momentum, bn.num_batches_tracked.clone()) for bn in layers]
    sums = [[torch.zeros_like(bn.running_mean),
             torch.zeros_like(bn.running_var), 0] for bn in layers]

    def accumulate(index: int):

        def hook(bn: _BatchNorm, inputs, output) -> None:
            # momentum 1: the running statistics are this call's batch ones
            sums[index][0] += bn.running_mean
            sums[index][1] += bn.running_var
            sums[index][2] += 1

        return hook

    handles = []
    for index, bn in enumerate(layers):
        bn.momentum = 1.0
        handles.append(bn.register_forward_hook(accumulate(index)))
    num_batches = 0
    try:
        for batch in batches:
            data = module.data_preprocessor(batch, True)
            module(**data, mode='loss')
            num_batches += 1
    finally:
        for handle in handles:
            handle.remove()
        for bn, (momentum, tracked), (mean_sum, var_sum, calls) in zip(
                layers, saved, sums):
            bn.momentum = momentum
            bn.num_batches_tracked.copy_(tracked)
            if calls:
                bn.running_mean.copy_(mean_sum / calls)
                bn.running_var.copy_(var_sum / calls)
        module.train(was_training)
    if get_world_size() > 1:
        for bn in layers:
            all_reduce(bn.running_mean, op='mean')
            all_reduce(bn.running_var, op='mean')
    return dict(layers=sum(calls > 0 for _, _, calls in sums),
                batches=num_batches)


@HOOKS.register_module()
class PreciseBNHook(Hook):
    """Recompute BN running statistics before every validation of training.

    After each training epoch (or iteration, for iteration-based loops)
    that the train loop follows with a validation, and after the last one,
    the running statistics of every BN layer that training updates are
    recomputed by :func:`recompute_bn_statistics` on ``num_samples``
    training images (the train dataloader's pipeline, batch size and
    sampler; over all ranks together). The hook runs before the checkpoint
    hook, so the saved checkpoint holds the statistics that were evaluated.

    The random generators are saved before and restored after, so that the
    augmentations it draws do not shift the training's random stream and a
    resumed training continues exactly as an uninterrupted one. Training
    itself is unaffected: train-mode BN normalises with batch statistics and
    never reads the running ones.

    The batches come from a dataloader built from the config's
    ``train_dataloader`` with ``persistent_workers=False`` (so that the
    training loader's iterator is never reset), its sampler set to the
    current epoch. Under DDP each rank runs its share of the batches and the
    statistics are averaged over the ranks (SyncBN layers already see the
    global batch). ``dynamic_intervals`` of the train loop are not followed.

    Args:
        num_samples (int): Training images to average over, over all ranks
            together; rounded up to whole batches. Default: 200.
    """

    priority = 'ABOVE_NORMAL'  # before CheckpointHook (VERY_LOW)

    def __init__(self, num_samples: int = 200):
        if num_samples < 1:
            raise ValueError(f'PreciseBNHook needs num_samples >= 1, got '
                             f'{num_samples}.')
        self.num_samples = num_samples
        self._dataloader: Optional[torch.utils.data.DataLoader] = None

    def after_train_epoch(self, runner) -> None:
        """Recompute the statistics if this epoch ends in a validation."""
        loop = runner.train_loop
        if isinstance(loop, EpochBasedTrainLoop) and self._val_follows(
                runner, runner.epoch + 1, loop.max_epochs):
            self.recompute(runner)

    def after_train_iter(self, runner, batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        """Recompute the statistics if this iteration ends in a validation.
        """
        loop = runner.train_loop
        if isinstance(loop, IterBasedTrainLoop) and self._val_follows(
                runner, runner.iter + 1, loop.max_iters):
            self.recompute(runner)

    @staticmethod
    def _val_follows(runner, count: int, maximum: int) -> bool:
        """Whether the train loop validates (or ends) after step ``count``.

        The same test as mmengine's ``EpochBasedTrainLoop`` and
        ``IterBasedTrainLoop`` (``dynamic_intervals`` are not followed).
        """
        if count == maximum:
            return True
        loop = runner.train_loop
        return (runner.val_loop is not None and count >= loop.val_begin
                and count % loop.val_interval == 0)

    def recompute(self, runner) -> None:
        """Recompute the statistics of ``runner.model`` now.

        Args:
            runner (Runner): The training runner.
        """
        loader = self._train_batches(runner)
        batch_size = loader.batch_size or 1
        num_batches = math.ceil(self.num_samples /
                                (batch_size * get_world_size()))
        state = capture_random_state()
        try:
            done = recompute_bn_statistics(
                runner.model, _take(loader, num_batches))
        finally:
            restore_random_state(state)
        print_log(
            f'PreciseBN: running statistics of {done["layers"]} BN layers '
            f'recomputed on {done["batches"]} batches of {batch_size} '
            f'training images per rank x {get_world_size()} rank(s).',
            logger='current', level=logging.INFO)

    def _train_batches(self, runner) -> torch.utils.data.DataLoader:
        """The hook's own training dataloader, set to the current epoch.

        Built once from the config's ``train_dataloader``; a runner built
        without a config (from objects) lends its own train dataloader.
        """
        if self._dataloader is None:
            cfg = runner.cfg.get('train_dataloader')
            if isinstance(cfg, dict):
                cfg = dict(cfg, persistent_workers=False)
                randomness = runner.cfg.get('randomness') or {}
                self._dataloader = runner.build_dataloader(
                    cfg, seed=runner.seed,
                    diff_rank_seed=randomness.get('diff_rank_seed', False))
            else:
                self._dataloader = runner.train_dataloader
            if len(self._dataloader) == 0:
                raise ValueError('PreciseBNHook: the train dataloader yields '
                                 'no batches; check train_dataloader.')
        sampler = self._dataloader.sampler
        if hasattr(sampler, 'set_epoch'):
            sampler.set_epoch(runner.epoch)
        return self._dataloader


def _take(loader: torch.utils.data.DataLoader, count: int) -> Iterable:
    """``count`` batches of ``loader``, starting over when it runs out."""
    return itertools.islice(
        itertools.chain.from_iterable(itertools.repeat(loader)), count)
