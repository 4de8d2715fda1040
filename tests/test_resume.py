"""Resuming a killed training, and the trust boundary of checkpoint loading."""
import os
import os.path as osp
import shutil
import signal
import subprocess
import time

import pytest
import torch
from mmengine.logging import HistoryBuffer

from _tools import load_tool
from _train_helpers import (build_tiny_runner, make_demo_data,
                            run_tool, tool_env, train_command,
                            write_tiny_config)

MAX_EPOCHS = 4
KILL_AFTER = 'epoch_2.pth'  # the validation after epoch 2 must not matter


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    return make_demo_data(str(tmp_path_factory.mktemp('demo') / 'data'))


def _wait_for_checkpoint(work_dir: str, name: str, process, timeout=240):
    """Poll until ``last_checkpoint`` names ``name`` (complete on disk)."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert process.poll() is None, 'training ended before it was killed'
        if osp.exists(pointer):
            with open(pointer) as f:
                if f.read().strip().endswith(name):
                    return
        time.sleep(0.02)
    raise TimeoutError(f'{name} did not appear in {work_dir}')


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
        _wait_for_checkpoint(killed_dir, KILL_AFTER, killed)
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


def _spy_weights_only(monkeypatch) -> list:
    calls, load = [], torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get('weights_only'))
        return load(*args, **kwargs)

    monkeypatch.setattr(torch, 'load', spy)
    return calls


def test_load_from_elsewhere_loads_weights_only(tmp_path, demo_root,
                                                monkeypatch):
    foreign = str(tmp_path / 'foreign.pth')
    runner = build_tiny_runner(tmp_path, demo_root, load_from=foreign)
    weights = {k: torch.rand_like(v.float()).to(v.dtype)
               for k, v in runner.model.state_dict().items()}
    torch.save({'state_dict': weights, 'meta': {'epoch': 3}}, foreign)
    calls = _spy_weights_only(monkeypatch)

    runner.load_or_resume()

    assert calls == [True]
    for key, value in runner.model.state_dict().items():
        assert torch.equal(value, weights[key]), key


def test_full_pickle_loads_only_from_own_work_dir(tmp_path, demo_root,
                                                  monkeypatch):
    runner = build_tiny_runner(tmp_path, demo_root)
    checkpoint = {
        'state_dict': runner.model.state_dict(),
        'message_hub': {'log_scalars': {'loss': HistoryBuffer([1.0], [1])}}
    }
    foreign = str(tmp_path / 'plain_mmengine.pth')
    torch.save(checkpoint, foreign)
    calls = _spy_weights_only(monkeypatch)

    with pytest.raises(RuntimeError, match='plain_mmengine.pth'):
        runner.load_checkpoint(foreign)
    own = osp.join(runner.work_dir, 'epoch_1.pth')
    shutil.copy(foreign, own)
    runner.load_checkpoint(own)
    # A symlink in the work dir to a file elsewhere is not the run's own.
    link = osp.join(runner.work_dir, 'linked.pth')
    os.symlink(foreign, link)
    with pytest.raises(RuntimeError, match='weights_only'):
        runner.load_checkpoint(link)
    assert calls == [True, False, True]


@pytest.mark.parametrize('has_checkpoint', [True, False])
def test_resume_does_not_resume_the_configs_initial_weights(
        tmp_path, demo_root, has_checkpoint):
    # Stage 2 names the stage-1 checkpoint as load_from in its config.
    config = write_tiny_config(str(tmp_path / 'tiny.py'), demo_root)
    with open(config, 'a') as f:
        f.write("load_from = 'stage1/epoch_150.pth'\n")
    work_dir = tmp_path / 'work_dir'
    work_dir.mkdir()
    if has_checkpoint:
        (work_dir / 'last_checkpoint').write_text(str(work_dir / 'e_1.pth'))
    train = load_tool('train')

    cfg = train.build_config(
        train.parse_args([config, '--work-dir', str(work_dir), '--resume']))

    if has_checkpoint:  # continue this run, from its last checkpoint
        assert cfg.resume and cfg.load_from is None
    else:  # nothing to continue: a new run from the initial weights
        assert not cfg.resume and cfg.load_from == 'stage1/epoch_150.pth'
    explicit = train.build_config(
        train.parse_args([
            config, '--work-dir', str(work_dir), '--resume', '--cfg-options',
            'load_from=run/epoch_3.pth'
        ]))
    assert explicit.resume and explicit.load_from == 'run/epoch_3.pth'
