"""A checkpoint hook that never loses a checkpoint and resumes exactly.

mmengine 0.10.7's ``CheckpointHook`` deletes the oldest kept checkpoint and
the previous best checkpoint *before* it writes the new one, and writes in
place: a run killed while saving is left with no checkpoint, or with a
truncated one. This hook overrides the two saving methods of
``CheckpointHook`` (``_save_checkpoint_with_step`` and
``_save_best_checkpoint``, private methods of mmengine; this module is the
only place that relies on them) so that each save writes ``NAME.part``,
renames it onto ``NAME``, updates ``last_checkpoint`` atomically, and only
then deletes what is outdated. The delete-first order is mmengine's since
open-mmlab/mmengine#1168 (which reworked the keep logic for ``save_best``);
no upstream issue about it was found. The overrides can go once mmengine
saves before it deletes and writes atomically; re-check on each mmengine
upgrade (the tests in ``tests/test_resume.py`` kill a save and fail if
anything is lost).

mmengine's train loops save a checkpoint before they validate and resume
after it, so a kill during a validation skipped it for good. Whether a
validation follows a checkpoint is recorded with it, by the rule of
``EpochBasedTrainLoop.run``/``IterBasedTrainLoop.run`` (``val_begin``,
``val_interval`` and its dynamic intervals, the last epoch); re-check that
rule on each mmengine upgrade too.
"""
import bisect
import glob
import logging
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mmengine.dist import all_gather_object, get_dist_info, is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import (EpochBasedTrainLoop, IterBasedTrainLoop,
                             find_latest_checkpoint)
from mmseg.registry import HOOKS

from ..utils.io import PART_SUFFIX, atomic_path, atomic_write_text
from .checkpoint import (from_weights_only_safe, load_checkpoint,
                         same_model_as, to_weights_only_safe,
                         weight_mismatch)
from .resume_config import check_resumed_config
from .random_state import capture_random_state, restore_random_state

# Message-hub key: the epoch (or iteration) whose checkpoint is saved and
# whose validation has not completed yet; None once it has.
PENDING_VALIDATION = 'pending_validation'


@HOOKS.register_module()
class ResumableCheckpointHook(CheckpointHook):
    """:class:`mmengine.hooks.CheckpointHook` for safe saving and exact,
    weights-only resumption.

    Compared with ``CheckpointHook``:

    - **Nothing is lost on a kill.** A checkpoint is written to
      ``NAME.part`` and renamed onto ``NAME``; ``last_checkpoint`` is
      replaced atomically; only then are outdated checkpoints (beyond
      ``max_keep_ckpts``) and the previous best checkpoint deleted. Stale
      ``.part`` files of a killed save are removed when training resumes.
    - **Best-score bookkeeping survives a kill.** On resume, a
      ``best_*.pth`` written after the resumed checkpoint (the run was
      killed between saving a new best and recording it) is found, its score
      restored, and the older best it replaces deleted.
    - **Exact resumption.** Every checkpoint holds the random state
      (Python, numpy, torch and CUDA generators) of every rank and the seed
      of the train sampler; training resumed from it restores them.
      Validation gets its own copy of the random state, so evaluating does
      not shift the training stream. Random states of dataloader worker
      processes cannot be saved: with ``persistent_workers=False`` mmengine
      reseeds them every epoch from the run's seed, so they repeat exactly.
    - **Weights-only loadable.** The message hub and meta are stored as plain
      data (:func:`to_weights_only_safe`), so every checkpoint loads with
      ``torch.load(weights_only=True)``, the only way this project loads.
    - **A validation cut short by a kill runs again.** A checkpoint saved
      before a validation records it as pending; once the validation has
      completed, the checkpoint is saved again (if saving a best
      checkpoint has not already) without that record. A training resumed
      from a checkpoint whose validation is pending validates first, also
      when no epoch is left to train, so the best checkpoint follows the
      scores.
    - **A checkpoint of another model is refused on resume** with a message
      naming the mismatched keys and the run that wrote it (instead of a
      crash inside the optimizer).
    - **So is a checkpoint of another config.** The resumed training's
      config is compared with the one the checkpoint was written by
      (``meta['cfg']``, read without running it); a difference outside
      :data:`mmseg_affnet.engine.resume_config.RESUME_ACCEPTS` (more epochs,
      another validation interval, logging, workers, ...) is refused,
      naming the settings, before anything is loaded or deleted.

    Args:
        *args: Positional arguments of ``CheckpointHook``.
        resume_accepts (Sequence[str]): More settings a resume may change,
            as fnmatch patterns of dotted config keys, e.g.
            ``['*.data_root']`` after moving the data. Default: ().
        **kwargs: Keyword arguments of ``CheckpointHook``.
    """

    def __init__(self, *args, resume_accepts: Sequence[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.resume_accepts = tuple(resume_accepts)
        self._rank_states: Optional[list] = None
        self._resumed_state: Optional[Dict] = None
        self._state_before_val: Optional[Dict] = None
        self._saves = 0

    def before_train(self, runner) -> None:
        """Recover from a killed save, restore the resumed random state and
        run a validation that the kill cut short."""
        super().before_train(runner)
        if runner.iter == 0 and runner.epoch == 0:
            return  # a fresh run, possibly with load_from weights
        if is_main_process():
            self._remove_partial_files()
        if self.save_best:
            self._adopt_unrecorded_best(runner)
        if self._resumed_state is None:
            print_log(
                'The resumed checkpoint holds no random state (it was not '
                'written by ResumableCheckpointHook); random numbers restart '
                'from the seed.', logger='current', level=logging.WARNING)
        else:
            self._restore(runner, self._resumed_state)
        step = runner.epoch if self.by_epoch else runner.iter
        resumed = self.file_backend.join_path(self.out_dir,
                                              self.filename_tmpl.format(step))
        if self.last_ckpt is None and self.file_backend.isfile(resumed):
            self.last_ckpt = resumed  # saved again after a validation
        if runner.message_hub.get_info(PENDING_VALIDATION) == step and \
                runner.val_loop is not None:
            print_log(
                f'The validation after {"epoch" if self.by_epoch else "iter"}'
                f' {step} did not complete before the run stopped; '
                'validating again.', logger='current')
            runner.val_loop.run()

    def after_train_epoch(self, runner) -> None:
        """Record whether a validation follows, then save (by epoch)."""
        if self.by_epoch:
            self._record_pending_validation(runner, runner.epoch + 1)
        super().after_train_epoch(runner)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        """Record whether a validation follows, then save (by iteration)."""
        if not self.by_epoch:
            self._record_pending_validation(runner, runner.iter + 1)
        super().after_train_iter(runner, batch_idx, data_batch, outputs)

    def before_val_epoch(self, runner) -> None:
        """Set the training random state aside while validating."""
        self._state_before_val = capture_random_state()

    def after_val_epoch(self, runner, metrics: Dict) -> None:
        """Put the training random state back, save a best checkpoint, and
        record in the validated checkpoint that its validation completed."""
        if self._state_before_val is not None:
            restore_random_state(self._state_before_val)
        pending = runner.message_hub.get_info(PENDING_VALIDATION)
        runner.message_hub.update_info(PENDING_VALIDATION, None)
        saves = self._saves
        super().after_val_epoch(runner, metrics)
        validated = None if pending is None else self.file_backend.join_path(
            self.out_dir, self.filename_tmpl.format(pending))
        if validated and self._saves == saves and self.last_ckpt == validated:
            self._save_checkpoint_with_step(
                runner, pending, dict(epoch=runner.epoch, iter=runner.iter))

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
        """Check a resumed checkpoint fits model and config, rebuild its
        message hub and keep its random state."""
        if runner.cfg.get('resume', False):
            model = runner.model.module if is_model_wrapper(
                runner.model) else runner.model
            problem = weight_mismatch(model, checkpoint, 'to resume from')
            if problem:
                raise ValueError(
                    f'{problem} --resume continues a training of the same '
                    'config; to start a new training from these weights, '
                    'drop --resume and set load_from.')
            self._check_resumed_config(runner, checkpoint)
        if 'message_hub' in checkpoint:
            checkpoint['message_hub'] = from_weights_only_safe(
                checkpoint['message_hub'])
        self._resumed_state = checkpoint.get('random_state')

    def _check_resumed_config(self, runner, checkpoint: Dict) -> None:
        filename = runner.cfg.get('load_from') or find_latest_checkpoint(
            runner.work_dir) or 'to resume from'
        check_resumed_config(checkpoint, runner.cfg.pretty_text, filename,
                             self.resume_accepts)

    def _record_pending_validation(self, runner, step: int) -> None:
        """Note in the message hub (saved with the checkpoint of ``step``)
        whether the train loop validates after ``step``, as mmengine's
        ``EpochBasedTrainLoop``/``IterBasedTrainLoop.run`` decide it."""
        loop = runner.train_loop
        if self.by_epoch and isinstance(loop, EpochBasedTrainLoop):
            last = loop.max_epochs
        elif not self.by_epoch and isinstance(loop, IterBasedTrainLoop):
            last = loop.max_iters
        else:
            return
        interval = loop.dynamic_intervals[
            bisect.bisect(loop.dynamic_milestones, step + 1) - 1]
        validates = runner.val_loop is not None and step >= loop.val_begin \
            and (step % interval == 0 or step == last)
        runner.message_hub.update_info(PENDING_VALIDATION,
                                       step if validates else None)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        # Every rank is here; only the main one writes the checkpoint.
        self._saves += 1
        self._rank_states = all_gather_object(capture_random_state())
        outdated = self._track_kept_checkpoint(runner, step)
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir,
                                                     ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        self._save_whole(
            runner,
            ckpt_filename,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch)
        if not is_main_process():
            return
        atomic_write_text(
            osp.join(runner.work_dir, 'last_checkpoint'),
            self.last_ckpt,
            overwrite=True)
        for old_step in outdated:
            self._remove(
                self.file_backend.join_path(self.out_dir,
                                            self.filename_tmpl.format(
                                                old_step)))

    def _track_kept_checkpoint(self, runner, step) -> List[int]:
        """Record ``step`` as kept; return the steps to delete once saved."""
        if self.max_keep_ckpts <= 0 or (self.keep_ckpt_ids
                                        and self.keep_ckpt_ids[-1] == step):
            return []
        outdated = []
        if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
            outdated.append(self.keep_ckpt_ids.popleft())
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids',
                                       list(self.keep_ckpt_ids))
        return outdated

    def _save_best_checkpoint(self, runner, metrics) -> None:
        if not self.save_best:
            return
        self._rank_states = all_gather_object(capture_random_state())
        step = runner.epoch if self.by_epoch else runner.iter
        step_name = 'epoch' if self.by_epoch else 'iter'
        meta = dict(epoch=runner.epoch, iter=runner.iter)
        if 'auto' in self.key_indicators:
            self._init_rule(self.rules, [list(metrics.keys())[0]])
        updated = False
        for key_indicator, rule in zip(self.key_indicators, self.rules):
            score_key, ckpt_key = self._best_keys(key_indicator)
            best_score = runner.message_hub.get_info(
                score_key, self.init_value_map[rule])
            score = metrics[key_indicator]
            if score is None or not self.is_better_than[key_indicator](
                    score, best_score):
                continue
            updated = True
            previous = self._best_path(key_indicator)
            name = f'best_{key_indicator}_{self.filename_tmpl.format(step)}'
            path = self.file_backend.join_path(self.out_dir,
                                               name.replace('/', '_'))
            self._set_best_path(key_indicator, path)
            runner.message_hub.update_info(score_key, score)
            runner.message_hub.update_info(ckpt_key, path)
            self._save_whole(
                runner,
                osp.basename(path),
                save_optimizer=False,
                save_param_scheduler=False,
                meta=meta,
                by_epoch=False)
            if is_main_process() and previous and previous != path:
                self._remove(previous)
            runner.logger.info(
                f'The best checkpoint with {score:0.4f} {key_indicator} at '
                f'{step} {step_name} is saved to {osp.basename(path)}.')
        # Save the regular checkpoint again so that its message hub records
        # the new best score and path (as CheckpointHook does).
        if updated and self.last_ckpt is not None:
            self._save_checkpoint_with_step(runner, step, meta)

    def _best_keys(self, key_indicator: str):
        if len(self.key_indicators) == 1:
            return 'best_score', 'best_ckpt'
        return f'best_score_{key_indicator}', f'best_ckpt_{key_indicator}'

    def _best_path(self, key_indicator: str) -> Optional[str]:
        if len(self.key_indicators) == 1:
            return self.best_ckpt_path
        return self.best_ckpt_path_dict.get(key_indicator)

    def _set_best_path(self, key_indicator: str, path: str) -> None:
        if len(self.key_indicators) == 1:
            self.best_ckpt_path = path
        else:
            self.best_ckpt_path_dict[key_indicator] = path

    def _save_whole(self, runner, filename: str, **kwargs) -> None:
        """``runner.save_checkpoint`` into ``NAME.part``, renamed to NAME
        (:func:`mmseg_affnet.utils.io.atomic_path`)."""
        if '://' in str(self.out_dir):  # a remote backend: no local rename
            runner.save_checkpoint(
                self.out_dir,
                filename,
                self.file_client_args,
                backend_args=self.backend_args,
                **kwargs,
                **self.args)
            return
        if not is_main_process():  # Runner.save_checkpoint is master_only
            return
        # A failed write (a full disk) or an interruption removes the
        # partial file, and the error names the checkpoint.
        with atomic_path(osp.join(self.out_dir, filename),
                         overwrite=True) as partial:
            runner.save_checkpoint(
                self.out_dir,
                osp.basename(partial),
                self.file_client_args,
                backend_args=self.backend_args,
                **kwargs,
                **self.args)

    def _remove(self, path: str) -> None:
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # deepspeed checkpoints
            self.file_backend.rmtree(path)

    def _remove_partial_files(self) -> None:
        if '://' in str(self.out_dir):
            return
        for partial in glob.glob(osp.join(self.out_dir, '*' + PART_SUFFIX)):
            print_log(f'Removing {partial}, left by a save that was killed.',
                      logger='current')
            os.remove(partial)

    def _adopt_unrecorded_best(self, runner) -> None:
        """Record a best checkpoint that a killed run saved but never
        recorded in a regular checkpoint, and delete the older best."""
        if '://' in str(self.out_dir):
            return
        for key_indicator in self.key_indicators:
            score_key, ckpt_key = self._best_keys(key_indicator)
            recorded = self._best_path(key_indicator)
            pattern = f'best_{key_indicator}_*.pth'.replace('/', '_')
            for path in sorted(glob.glob(osp.join(self.out_dir, pattern))):
                if recorded and osp.abspath(path) == osp.abspath(recorded):
                    continue
                hub = from_weights_only_safe(
                    load_checkpoint(path).get('message_hub', {}))
                score = hub.get('runtime_info', {}).get(score_key)
                best = runner.message_hub.get_info(score_key)
                if score is None or (best is not None and
                                     not self.is_better_than[key_indicator](
                                         score, best)):
                    continue
                print_log(
                    f'{osp.basename(path)} ({key_indicator} {score:.4f}) was '
                    'saved before the run stopped but not recorded; it is the '
                    'best checkpoint again.', logger='current')
                runner.message_hub.update_info(score_key, score)
                runner.message_hub.update_info(ckpt_key, path)
                self._set_best_path(key_indicator, path)
                if is_main_process() and recorded and osp.isfile(recorded):
                    os.remove(recorded)
                recorded = path

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


def check_resume_before_building(cfg) -> None:
    """Run the config check of a resume before a runner is built.

    mmengine's ``Runner`` creates a log folder in the work dir and copies
    its config there when it is built, before it loads the checkpoint: a
    resume refused after that would have written into the work dir of the
    training it refuses to continue, and replaced the copy of that
    training's config (the one a user needs to resume it). This reads the
    checkpoint (memory-mapped, weights-only) and compares the configs
    first, for a config whose checkpoint hook is this hook.

    Args:
        cfg (Config): A config with ``resume`` set; ``load_from`` or the
            work dir's ``last_checkpoint`` names the checkpoint.

    Raises:
        ValueError: As :func:`check_resumed_config`, or if the checkpoint
            is damaged (:func:`load_checkpoint`).
    """
    hook = (cfg.get('default_hooks') or {}).get('checkpoint') or {}
    if not str(hook.get('type', '')).endswith(
            ResumableCheckpointHook.__name__):
        return
    filename = cfg.get('load_from') or find_latest_checkpoint(cfg.work_dir)
    if not filename:
        return
    text = cfg.pretty_text
    checkpoint = load_checkpoint(filename, mmap=True,
                                 fits=same_model_as(text))
    check_resumed_config(checkpoint, text, filename,
                         hook.get('resume_accepts', ()))
