"""Resuming a killed training exactly, and not losing a checkpoint to a kill
in the middle of a save."""
import copy
import errno
import glob
import os
import os.path as osp
import signal
import sys
from contextlib import contextmanager

import pytest
import torch
from mmengine.config import Config
from mmengine.config import config as config_module
from mmengine.fileio.backends import LocalBackend
from torch import nn

from tests.utils.forked_tools import ForkedTool
from tests.utils.training import (make_demo_data, tiny_config, tool_env,
                                  wait_for_checkpoint,
                                  write_tiny_config)
from mmseg_affnet.apis import run_training
from mmseg_affnet.engine.checkpoint import load_checkpoint, load_weights
from mmseg_affnet.engine.resume_config import (config_differences,
                                               parse_config_text)
from mmseg_affnet.evaluation import GammaGroupIoUMetric
from mmseg_affnet.utils import reported_errors
from mmseg_affnet.utils.cli import was_interrupted
from mmseg_affnet.utils.io import LOCK_NAME
from tests.utils.interrupted_train import with_fixed_miou
from tests.utils.tools import (TESTS_UTILS_DIR, TOOLS_DIR, exit_status,
                               tool_error, tool_main)

MAX_EPOCHS = 4
KILL_AFTER = 'epoch_2.pth'  # the validation after epoch 2 must not matter
INTERRUPTED_TRAIN = osp.join(TESTS_UTILS_DIR, 'interrupted_train.py')
TRAIN_TOOL = osp.join(TOOLS_DIR, 'train.py')


def _assert_same(expected, actual, where='checkpoint'):
    if isinstance(expected, torch.Tensor):
        assert torch.equal(expected, actual), where
    elif isinstance(expected, dict):
        assert expected.keys() == actual.keys(), where
        for key in expected:
            _assert_same(expected[key], actual[key], f'{where}[{key!r}]')
    elif isinstance(expected, (list, tuple)):
        assert len(expected) == len(actual), where
        for index, (item, other) in enumerate(zip(expected, actual)):
            _assert_same(item, other, f'{where}[{index}]')
    else:
        assert expected == actual, where


@pytest.fixture(scope='module')
def four_image_root(tmp_path_factory) -> str:
    """Demo data with 4 training images: 2 shuffled batches an epoch, so
    that a resume that gets the sampler's order wrong trains otherwise."""
    return make_demo_data(str(tmp_path_factory.mktemp('four') / 'data'),
                          num_train=4)


@pytest.mark.processes
def test_killed_training_resumes_as_if_uninterrupted(tmp_path,
                                                     four_image_root,
                                                     monkeypatch):
    """A training SIGKILLed after epoch 2 (in a process of its own) and
    resumed (in this process) ends with the checkpoint of an uninterrupted
    training (in this process), bit for bit."""
    config = write_tiny_config(
        str(tmp_path / 'tiny.py'), four_image_root, max_epochs=MAX_EPOCHS,
        val_interval=2)
    reference_dir, killed_dir = str(tmp_path / 'ref'), str(tmp_path / 'run')
    killed = ForkedTool(TRAIN_TOOL, [config, '--work-dir', killed_dir],
                        str(tmp_path), env=tool_env())
    try:
        wait_for_checkpoint(killed_dir, KILL_AFTER, killed)
        killed.send_signal(signal.SIGKILL)
        assert killed.wait(timeout=60) == -signal.SIGKILL
    finally:
        if killed.poll() is None:
            killed.kill()
    assert not osp.exists(osp.join(killed_dir, f'epoch_{MAX_EPOCHS}.pth'))

    _resume(config, killed_dir, monkeypatch)
    tool_main('train')([config, '--work-dir', reference_dir])

    final = f'epoch_{MAX_EPOCHS}.pth'
    expected = torch.load(osp.join(reference_dir, final), weights_only=True)
    resumed = torch.load(osp.join(killed_dir, final), weights_only=True)
    assert resumed['meta']['epoch'] == expected['meta']['epoch'] == MAX_EPOCHS
    assert resumed['meta']['iter'] == expected['meta']['iter'] == 2 * \
        MAX_EPOCHS
    for key in ('random_state', 'optimizer', 'param_schedulers',
                'state_dict'):
        _assert_same(expected[key], resumed[key], key)
    # Both sessions' logs are kept, each in its own timestamped folder.
    log_dirs = [d for d in os.listdir(killed_dir)
                if osp.isdir(osp.join(killed_dir, d))]
    assert len(log_dirs) == 2


def _train_killed_while_saving(config: str, work_dir: str, kill_saving: str,
                               fake_miou: str = '') -> None:
    """Run tools/train.py until it is SIGKILLed in the save ``kill_saving``
    (``NAME:N``, see tests/utils/interrupted_train.py)."""
    env = dict(tool_env(), KILL_SAVING=kill_saving, FAKE_MIOU=fake_miou)
    killed = ForkedTool(INTERRUPTED_TRAIN, [config, '--work-dir', work_dir],
                        osp.dirname(work_dir), env=env)
    try:
        status = killed.wait(timeout=240)
    finally:
        if killed.poll() is None:
            killed.kill()
    assert status == -signal.SIGKILL, killed.output()[1][-3000:]


def _resume(config: str, work_dir: str, monkeypatch,
            fake_miou: str = '') -> None:
    """Resume with tools/train.py in this process (only the kill needs a
    process of its own); ``fake_miou`` as for ``_train_killed_while_saving``.
    """
    assert 'kill' not in fake_miou, 'a kill here would end the test process'
    if fake_miou:
        monkeypatch.setattr(
            GammaGroupIoUMetric, 'compute_metrics', with_fixed_miou(
                GammaGroupIoUMetric.compute_metrics, fake_miou.split(',')))
    tool_main('train')([config, '--work-dir', work_dir, '--resume'])


def _files(work_dir: str) -> list:
    return sorted(osp.basename(p) for p in glob.glob(osp.join(work_dir, '*'))
                  if not osp.isdir(p))


def _pointer(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return osp.basename(f.read().strip())


@pytest.mark.processes
def test_kill_while_saving_keeps_the_last_checkpoint(tmp_path, demo_root,
                                                     monkeypatch):
    config = write_tiny_config(str(tmp_path / 'tiny.py'), demo_root,
                               max_epochs=3)
    with open(config, 'a') as f:
        f.write('default_hooks = dict(checkpoint=dict(max_keep_ckpts=1, '
                'save_best=None))\n')
    work_dir = str(tmp_path / 'work_dir')

    _train_killed_while_saving(config, work_dir, 'epoch_2.pth:1')

    # epoch_1.pth was the one kept checkpoint; it must survive the kill.
    assert _files(work_dir) == ['epoch_1.pth', 'epoch_2.pth.part',
                                'last_checkpoint', 'tiny.py']
    assert _pointer(work_dir) == 'epoch_1.pth'
    _resume(config, work_dir, monkeypatch)
    assert _files(work_dir) == ['epoch_3.pth', 'last_checkpoint', 'tiny.py']
    resumed = torch.load(osp.join(work_dir, 'epoch_3.pth'), weights_only=True)
    assert resumed['meta']['epoch'] == 3


BEST_CONFIG = """
default_hooks = dict(
    checkpoint=dict(max_keep_ckpts=1, save_best='mIoU', rule='greater'))
"""


@pytest.mark.processes
@pytest.mark.parametrize(
    'kill_saving, scores, kept_best, resumed_scores, after_resume',
    [
        # Killed while writing the new best of epoch 2 (20 > 10): the
        # previous best is kept, and the resumed run validates epoch 2
        # again before epoch 3 (15), so epoch 2 becomes the best.
        ('best_mIoU_epoch_2.pth:1', '10,20', 'best_mIoU_epoch_1.pth',
         '20,15', ('best_mIoU_epoch_2.pth', 20.0)),
        # Killed after writing the new best but before recording it in the
        # regular checkpoint: the resumed run finds it; validating epoch 2
        # again (20) and epoch 3 (15 < 20) do not replace it.
        ('epoch_2.pth:2', '10,20', 'best_mIoU_epoch_2.pth', '20,15',
         ('best_mIoU_epoch_2.pth', 20.0)),
        # Killed while writing the best of the last epoch (1.82 >
        # 1.55): no epoch is left to train, and the resumed run still
        # validates epoch 3 and makes it the best.
        ('best_mIoU_epoch_3.pth:1', '1.55,1.2,1.82', 'best_mIoU_epoch_1.pth',
         '1.82', ('best_mIoU_epoch_3.pth', 1.82)),
        # Killed inside the validation of epoch 2, before any save: it runs
        # again after resuming.
        ('', '10,kill', 'best_mIoU_epoch_1.pth', '20,15',
         ('best_mIoU_epoch_2.pth', 20.0)),
    ])
def test_kill_while_saving_the_best_keeps_the_best(tmp_path, demo_root,
                                                   kill_saving, scores,
                                                   kept_best, resumed_scores,
                                                   after_resume, monkeypatch):
    config = write_tiny_config(str(tmp_path / 'tiny.py'), demo_root,
                               max_epochs=3, val_interval=1)
    with open(config, 'a') as f:
        f.write(BEST_CONFIG)
    work_dir = str(tmp_path / 'work_dir')

    _train_killed_while_saving(config, work_dir, kill_saving, scores)
    assert kept_best in _files(work_dir)

    _resume(config, work_dir, monkeypatch, fake_miou=resumed_scores)
    best_name, best_score = after_resume
    best = [f for f in _files(work_dir) if f.startswith('best_')]
    assert best == [best_name]
    assert not [f for f in _files(work_dir) if f.endswith('.part')]
    final = torch.load(osp.join(work_dir, 'epoch_3.pth'), weights_only=True)
    runtime_info = final['message_hub']['runtime_info']
    assert runtime_info['best_score'] == best_score
    assert osp.basename(runtime_info['best_ckpt']) == best_name
    # The last checkpoint records that its validation completed.
    assert runtime_info['pending_validation'] is None


# Same architecture, another loss and learning rate.
OTHER_TRAINING = """
_base_ = ['./tiny.py']
model = dict(decode_head=dict(
    loss_decode=[dict(type='CrossEntropyLoss', avg_non_ignore=True)]))
optim_wrapper = dict(optimizer=dict(lr=1e-3))
"""


def _training(config: str, work_dir: str, name: str, **options) -> Config:
    cfg = Config.fromfile(config)
    cfg.work_dir, cfg.experiment_name = work_dir, name
    cfg.merge_from_dict(options)
    return cfg


@pytest.mark.slow
def test_resume_with_another_config_is_refused(tmp_path, demo_root):
    config = write_tiny_config(str(tmp_path / 'tiny.py'), demo_root,
                               max_epochs=2)
    with open(config, 'a') as f:
        f.write('default_hooks = dict(checkpoint=dict(max_keep_ckpts=2, '
                'save_best=None))\n')
    other = str(tmp_path / 'other.py')
    with open(other, 'w') as f:
        f.write(OTHER_TRAINING)
    work_dir = str(tmp_path / 'work_dir')
    run_training(_training(config, work_dir, 'first'))
    checkpoints = {name: open(osp.join(work_dir, name), 'rb').read()
                   for name in _files(work_dir) if name.endswith('.pth')}
    assert sorted(checkpoints) == ['epoch_1.pth', 'epoch_2.pth']

    with pytest.raises(ValueError) as error:
        run_training(_training(other, work_dir, 'other', resume=True,
                               **{'train_cfg.max_epochs': 4}))

    message = str(error.value)
    assert "model.decode_head.loss_decode.0.type: 'ObjectWeightedFocalLoss'"\
        " in the checkpoint, 'CrossEntropyLoss' now" in message
    assert 'optim_wrapper.optimizer.lr: 0.0002 in the checkpoint, 0.001 ' \
        'now' in message
    listed = message[:message.index('Resume with')]
    for accepted in ('train_cfg.max_epochs', 'experiment_name', 'resume'):
        assert f'- {accepted}:' not in listed
    assert '--work-dir' in message
    assert 'the model settings differ, so they load only where every ' \
        'layer keeps its shape' in message
    assert {name: open(osp.join(work_dir, name), 'rb').read()
            for name in _files(work_dir)
            if name.endswith('.pth')} == checkpoints

    # The same config resumes with more epochs and another log interval.
    run_training(_training(config, work_dir, 'longer', resume=True, **{
        'train_cfg.max_epochs': 3, 'default_hooks.logger.interval': 5}))
    resumed = torch.load(osp.join(work_dir, 'epoch_3.pth'), weights_only=True)
    assert resumed['meta']['epoch'] == 3


def test_config_of_a_checkpoint_is_read_without_running_it(tmp_path):
    marker = tmp_path / 'code_was_run'
    saved = (f"optim_wrapper = dict(optimizer=dict(lr=0.0002))\n"
             f"model = __import__('os').mkdir({str(marker)!r})\n")
    assert parse_config_text(saved)['model'] == \
        f"__import__('os').mkdir({str(marker)!r})"
    assert not marker.exists()
    differences = config_differences(
        saved, "optim_wrapper = dict(optimizer=dict(lr=0.001))\n"
        "model = dict(type='EncoderDecoder')\nwork_dir = 'elsewhere'\n")
    assert [key for key, _, _ in differences] == [
        'model', 'model.type', 'optim_wrapper.optimizer.lr']
    assert config_differences(
        saved, "optim_wrapper = dict(optimizer=dict(lr=0.001))\n",
        accepts=['model*']) == [('optim_wrapper.optimizer.lr', 0.0002, 0.001)]


# ------------------------------- issue 31: failed and interrupted saves --
def _checkpoints_and_parts(work_dir: str) -> list:
    return sorted(name for name in _files(work_dir)
                  if name.endswith(('.pth', '.part')))


def test_full_disk_while_saving_names_the_checkpoint(tmp_path, demo_root,
                                                     monkeypatch):
    """Issue 31, case 3: a checkpoint write that fails half-way (a full
    disk) is an error naming the checkpoint, the fix and where to resume;
    neither a .part nor a truncated file is left (before: "[Errno 28]"
    naming no file, and a 15 MB .part)."""
    config = write_tiny_config(str(tmp_path / 'tiny.py'), demo_root,
                               max_epochs=2)
    work_dir = str(tmp_path / 'work_dir')
    put = LocalBackend.put

    def full_disk(self, obj, filepath):
        if str(filepath).endswith('epoch_2.pth.part'):
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', full_disk)

    message = tool_error('train', config, '--work-dir', work_dir)

    final, kept = (osp.join(work_dir, f'epoch_{n}.pth') for n in (2, 1))
    assert message.startswith(
        f'error: Could not write {final}: [Errno 28] No space left on '
        'device; nothing was written under that name')
    assert 'Free space on that disk' in message
    assert message.endswith(
        f'The last checkpoint is {kept}; resume with --resume (the same '
        f'config and --work-dir {work_dir}).')
    assert _checkpoints_and_parts(work_dir) == ['epoch_1.pth']
    assert _pointer(work_dir) == 'epoch_1.pth'
    assert not osp.exists(osp.join(work_dir, LOCK_NAME))


@pytest.mark.processes
def test_file_size_limit_while_saving_leaves_no_partial_checkpoint(
        tmp_path, demo_root):
    """Issue 31, case 3: under ``ulimit -f`` (4 MB; a checkpoint of the
    tiny config is larger) the first checkpoint cannot be written: exit 1
    with one line naming it and the file size limit, and no .part left
    (before: "[Errno 27] File too large" and a .part)."""
    config = write_tiny_config(str(tmp_path / 'tiny.py'), demo_root,
                               max_epochs=1)
    work_dir = str(tmp_path / 'work_dir')
    # Python ignores SIGXFSZ: a write past the limit fails with EFBIG.
    limited = ForkedTool(TRAIN_TOOL, [config, '--work-dir', work_dir],
                         str(tmp_path), env=tool_env(),
                         file_size_limit=4 << 20)
    _, stderr = limited.communicate(timeout=240)
    assert limited.returncode == 1, stderr[-3000:]
    line = stderr.strip().splitlines()[-1]
    final = osp.join(work_dir, 'epoch_1.pth')
    assert line.startswith(f'error: Could not write {final}: [Errno 27] '
                           'File too large; nothing was written'), line
    assert '`ulimit -f`' in line
    assert line.endswith(f'No checkpoint was saved in {work_dir} yet; start '
                         'the training again (the same command, without '
                         '--resume).'), line
    assert 'Traceback' not in stderr
    assert _checkpoints_and_parts(work_dir) == []


class _Unformattable:
    """A Ctrl+C while mmengine formats the config of a checkpoint: its
    ``Config.pretty_text`` turns it into ``SyntaxError('Failed to format
    the config file ...')``."""

    def __init__(self, only_in: str = ''):
        self.format_code = config_module.FormatCode
        self.only_in = only_in

    def __call__(self, *args, **kwargs):
        frame = sys._getframe(1)
        while frame is not None and self.only_in:
            if frame.f_code.co_name == self.only_in:
                break
            frame = frame.f_back
        if frame is not None:
            raise KeyboardInterrupt
        return self.format_code(*args, **kwargs)


def test_ctrl_c_that_a_library_turns_into_another_error_is_named(
        monkeypatch, capsys):
    """Issue 31, case 14: mmengine's "Failed to format the config file"
    raised on a Ctrl+C is reported as an interruption (one line, exit 130),
    not as the error with the whole config."""
    monkeypatch.setattr(config_module, 'FormatCode', _Unformattable())
    with pytest.raises(SyntaxError, match='Failed to format') as error:
        Config(dict(model=dict(type='EncoderDecoder'))).pretty_text
    assert was_interrupted(error.value)
    assert not was_interrupted(SyntaxError('Failed to format the config'))
    capsys.readouterr()

    with pytest.raises(SystemExit) as exit_info:
        with reported_errors():
            raise error.value
    assert exit_info.value.code == 130
    assert capsys.readouterr().err == 'interrupted\n'


def test_ctrl_c_while_saving_a_checkpoint_is_an_interruption(
        tmp_path, demo_root, monkeypatch, capsys):
    """Issue 31, case 14: Ctrl+C while the first checkpoint is saved prints
    one line saying how to go on, exit 130 (before: "Failed to format the
    config file" and 391 lines of config); nothing half-written is left."""
    config = write_tiny_config(str(tmp_path / 'tiny.py'), demo_root,
                               max_epochs=1)
    work_dir = str(tmp_path / 'work_dir')
    monkeypatch.setattr(config_module, 'FormatCode',
                        _Unformattable(only_in='save_checkpoint'))
    capsys.readouterr()

    assert exit_status('train', config, '--work-dir', work_dir) == 130

    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (
        f'interrupted; no checkpoint was saved in {work_dir} yet; start the '
        'training again (the same command, without --resume).')
    assert 'Failed to format' not in err and 'Traceback' not in err
    assert _checkpoints_and_parts(work_dir) == []
    assert not osp.exists(osp.join(work_dir, LOCK_NAME))


# ------------------------------ issue 31: hints for a damaged checkpoint --
class _PythonObject:
    """Pickled by reference: a weights-only load refuses it."""


@contextmanager
def _fails_if_blocked(seconds: int = 20):
    """Fail instead of hanging if the block blocks (e.g. opens a FIFO)."""
    def blocked(signum, frame):
        raise TimeoutError(f'blocked for {seconds} s')

    previous = signal.signal(signal.SIGALRM, blocked)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _truncated_copy(source: str, path: str) -> str:
    with open(source, 'rb') as f:
        content = f.read()
    with open(path, 'wb') as f:
        f.write(content[:len(content) // 2])
    return path


def _save(path, **checkpoint) -> str:
    torch.save(checkpoint, str(path))
    return str(path)


def test_damaged_checkpoint_hint_offers_only_this_models_checkpoints(
        tmp_path, demo_root):
    """Issue 31, case 17: a resume from a truncated checkpoint names the
    intact checkpoints of this model only: not one holding Python objects,
    nor another model's (before: both listed as "intact")."""
    cfg = tiny_config(tmp_path, demo_root, resume=True)
    text = cfg.pretty_text
    other_model = copy.deepcopy(cfg)
    other_model.model.decode_head.channels = 64
    work_dir = tmp_path / 'work_dir'
    work_dir.mkdir()
    weights = {'conv.weight': torch.zeros(2, 2)}
    intact = _save(work_dir / 'epoch_1.pth', state_dict=weights,
                   meta=dict(cfg=text))
    _save(work_dir / 'other_model.pth', state_dict=weights,
          meta=dict(cfg=other_model.pretty_text))
    _save(work_dir / 'python_objects.pth', state_dict=weights,
          meta=dict(cfg=text), extra=_PythonObject())
    _save(work_dir / 'no_config.pth', state_dict=weights)
    os.mkfifo(work_dir / 'fifo.pth')
    damaged = _truncated_copy(intact, str(work_dir / 'epoch_2.pth'))
    (work_dir / 'last_checkpoint').write_text(damaged)

    with _fails_if_blocked(), pytest.raises(ValueError) as error:
        run_training(cfg)

    message = str(error.value)
    assert message.startswith(f'Checkpoint {damaged} is truncated or '
                              'damaged')
    assert message.endswith(
        ' Intact checkpoints of this model in that folder: epoch_1.pth. To '
        f'resume from the newest of them: --resume --cfg-options '
        f'load_from={intact}')


def test_damaged_weights_hint_offers_only_checkpoints_that_fit(tmp_path):
    """Issue 31, case 17: loading weights from a truncated checkpoint names
    the intact checkpoints whose weights fit the model; a checkpoint of
    other shapes, one holding Python objects and a FIFO (which must not be
    opened) are left out."""
    model = nn.Linear(2, 2)
    fits = _save(tmp_path / 'fits.pth', state_dict=model.state_dict())
    _save(tmp_path / 'wider.pth', state_dict=nn.Linear(3, 3).state_dict())
    _save(tmp_path / 'python_objects.pth', state_dict=model.state_dict(),
          extra=_PythonObject())
    os.mkfifo(tmp_path / 'fifo.pth')
    damaged = _truncated_copy(fits, str(tmp_path / 'damaged.pth'))

    with _fails_if_blocked(), pytest.raises(ValueError) as error:
        load_weights(model, damaged)

    assert str(error.value).endswith(
        ' Intact checkpoints of this model in that folder: fits.pth; pass '
        f'one of them instead, e.g. {fits}')


@pytest.mark.parametrize('kind', ['link to /dev/zero', 'FIFO'])
def test_checkpoint_that_is_a_device_or_fifo_is_named(tmp_path, demo_root,
                                                      kind):
    """Issue 31, case 17: a checkpoint symlinked to /dev/zero, or a FIFO,
    is named as what it is, without reading it (before: "does not
    exist"); a resume from it is one line."""
    work_dir = tmp_path / 'work_dir'
    work_dir.mkdir()
    checkpoint = work_dir / 'epoch_1.pth'
    if kind == 'FIFO':
        os.mkfifo(checkpoint)
        expected = f'Checkpoint {checkpoint} is a named pipe (FIFO), not a ' \
            'checkpoint file'
    else:
        checkpoint.symlink_to('/dev/zero')
        expected = f'Checkpoint {checkpoint} is a character device (a link ' \
            'to /dev/zero), not a checkpoint file'
    (work_dir / 'last_checkpoint').write_text(str(checkpoint))
    config = write_tiny_config(str(tmp_path / 'tiny.py'), demo_root)

    with _fails_if_blocked():
        with pytest.raises(OSError) as error:
            load_checkpoint(str(checkpoint))
        message = tool_error('train', config, '--work-dir', str(work_dir),
                             '--resume')

    assert str(error.value).startswith(expected)
    assert message.startswith(f'error: {expected}')
    assert 'does not exist' not in message
