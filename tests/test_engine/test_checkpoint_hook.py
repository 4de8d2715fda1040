"""Resuming a killed training exactly, and not losing a checkpoint to a kill
in the middle of a save."""
import glob
import os
import os.path as osp
import signal
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from tests.utils.training import (make_demo_data, run_tool, tool_env,
                            train_command, wait_for_checkpoint,
                            write_tiny_config)
from mmseg_affnet.apis import run_training
from mmseg_affnet.engine.checkpoint import (config_differences,
                                            parse_config_text)
from tests.utils.tools import TESTS_UTILS_DIR

MAX_EPOCHS = 4
KILL_AFTER = 'epoch_2.pth'  # the validation after epoch 2 must not matter
INTERRUPTED_TRAIN = osp.join(TESTS_UTILS_DIR, 'interrupted_train.py')


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    return make_demo_data(str(tmp_path_factory.mktemp('demo') / 'data'))


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


def test_killed_training_resumes_as_if_uninterrupted(tmp_path, demo_root):
    config = write_tiny_config(
        str(tmp_path / 'tiny.py'), demo_root, max_epochs=MAX_EPOCHS,
        val_interval=2)
    reference_dir, killed_dir = str(tmp_path / 'ref'), str(tmp_path / 'run')
    quiet = dict(env=tool_env(), stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL)
    reference = subprocess.Popen(train_command(config, reference_dir),
                                 **quiet)
    killed = subprocess.Popen(train_command(config, killed_dir), **quiet)
    try:
        wait_for_checkpoint(killed_dir, KILL_AFTER, killed)
        killed.send_signal(signal.SIGKILL)
        assert killed.wait(timeout=60) == -signal.SIGKILL
        assert not osp.exists(
            osp.join(killed_dir, f'epoch_{MAX_EPOCHS}.pth'))

        run_tool(train_command(config, killed_dir, '--resume'))
        assert reference.wait(timeout=240) == 0
    finally:
        for process in (reference, killed):
            if process.poll() is None:
                process.kill()

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
    result = subprocess.run(
        [sys.executable, INTERRUPTED_TRAIN, config, '--work-dir', work_dir],
        env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]


def _resume(config: str, work_dir: str, fake_miou: str = '') -> None:
    run_tool([sys.executable, INTERRUPTED_TRAIN, config, '--work-dir',
              work_dir, '--resume'], FAKE_MIOU=fake_miou)


def _files(work_dir: str) -> list:
    return sorted(osp.basename(p) for p in glob.glob(osp.join(work_dir, '*'))
                  if not osp.isdir(p))


def _pointer(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return osp.basename(f.read().strip())


def test_kill_while_saving_keeps_the_last_checkpoint(tmp_path, demo_root):
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
    _resume(config, work_dir)
    assert _files(work_dir) == ['epoch_3.pth', 'last_checkpoint', 'tiny.py']
    resumed = torch.load(osp.join(work_dir, 'epoch_3.pth'), weights_only=True)
    assert resumed['meta']['epoch'] == 3


BEST_CONFIG = """
default_hooks = dict(
    checkpoint=dict(max_keep_ckpts=1, save_best='mIoU', rule='greater'))
"""


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
                                                   after_resume):
    config = write_tiny_config(str(tmp_path / 'tiny.py'), demo_root,
                               max_epochs=3, val_interval=1)
    with open(config, 'a') as f:
        f.write(BEST_CONFIG)
    work_dir = str(tmp_path / 'work_dir')

    _train_killed_while_saving(config, work_dir, kill_saving, scores)
    assert kept_best in _files(work_dir)

    _resume(config, work_dir, fake_miou=resumed_scores)
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
