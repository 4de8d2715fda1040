"""A checkpoint hook whose checkpoints resume exactly and load weights-only."""
import logging
from typing import Dict, Optional

from mmengine.dist import all_gather_object, get_dist_info
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmseg.registry import HOOKS

from .checkpoint import from_weights_only_safe, to_weights_only_safe
from .random_state import capture_random_state, restore_random_state


@HOOKS.register_module()
class ResumableCheckpointHook(CheckpointHook):
    """:class:`mmengine.hooks.CheckpointHook` for exact, safe resumption.

    On top of what ``CheckpointHook`` saves, every checkpoint holds the
    random state (Python, numpy, torch and CUDA generators) of every rank
    and the seed of the train sampler; training resumed from it restores
    them, so it draws the same random numbers as an uninterrupted run.
    Validation gets its own copy of the random state, so that evaluating
    does not shift the training stream. The message hub and meta are stored
    as plain data (see :func:`to_weights_only_safe`), so the checkpoint
    loads with ``torch.load(weights_only=True)``, e.g. as the ``load_from``
    of a later training stage.

    Random states of dataloader worker processes cannot be saved; mmengine
    seeds workers from the run's seed, so with ``persistent_workers=False``
    they repeat the same way in a resumed run.

    Args:
        *args: Positional arguments of ``CheckpointHook``.
        **kwargs: Keyword arguments of ``CheckpointHook``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._rank_states: Optional[list] = None
        self._resumed_state: Optional[Dict] = None
        self._state_before_val: Optional[Dict] = None

    def before_train(self, runner) -> None:
        """Restore the random state when training resumes mid-schedule."""
        super().before_train(runner)
        if runner.iter == 0 and runner.epoch == 0:
            return  # a fresh run, possibly with load_from weights
        if self._resumed_state is None:
            print_log(
                'The resumed checkpoint holds no random state (it was not '
                'written by ResumableCheckpointHook); random numbers restart '
                'from the seed.', logger='current', level=logging.WARNING)
            return
        self._restore(runner, self._resumed_state)

    def before_val_epoch(self, runner) -> None:
        """Set the training random state aside while validating."""
        self._state_before_val = capture_random_state()

    def after_val_epoch(self, runner, metrics: Dict) -> None:
        """Put the training random state back, then save a best checkpoint."""
        if self._state_before_val is not None:
            restore_random_state(self._state_before_val)
        super().after_val_epoch(runner, metrics)

    def before_save_checkpoint(self, runner, checkpoint: Dict) -> None:
        """Add the random states and make the checkpoint weights-only safe."""
        sampler = runner.train_dataloader.sampler
        checkpoint['random_state'] = dict(
            ranks=self._rank_states or [capture_random_state()],
            sampler_seed=getattr(sampler, 'seed', None))
        self._rank_states = None
        for key in ('meta', 'message_hub'):
            checkpoint[key] = to_weights_only_safe(checkpoint[key])

    def after_load_checkpoint(self, runner, checkpoint: Dict) -> None:
        """Rebuild the message hub and keep the random state for resuming."""
        if 'message_hub' in checkpoint:
            checkpoint['message_hub'] = from_weights_only_safe(
                checkpoint['message_hub'])
        self._resumed_state = checkpoint.get('random_state')

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        # Every rank is here; only the main one writes the checkpoint.
        self._rank_states = all_gather_object(capture_random_state())
        super()._save_checkpoint_with_step(runner, step, meta)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        self._rank_states = all_gather_object(capture_random_state())
        super()._save_best_checkpoint(runner, metrics)

    @staticmethod
    def _restore(runner, state: Dict) -> None:
        rank, world_size = get_dist_info()
        rank_states = state['ranks']
        if len(rank_states) != world_size:
            print_log(
                f'The checkpoint holds the random states of '
                f'{len(rank_states)} processes but {world_size} run now; '
                f'process {rank} continues from that of process '
                f'{rank % len(rank_states)}.',
                logger='current', level=logging.WARNING)
        restore_random_state(rank_states[rank % len(rank_states)])
        sampler = runner.train_dataloader.sampler
        if state['sampler_seed'] is not None and hasattr(sampler, 'seed'):
            sampler.seed = state['sampler_seed']
        print_log('Restored the random state of the resumed checkpoint.',
                  logger='current')
