"""Two processes on CPU (gloo) with tools/dist_{train,test}.sh (torchrun).

Without the DistTeardownHook about one distributed run in four aborted at
exit (SIGABRT in gloo's threads, torchrun exit status 1); every script runs
several times here so that such a failure cannot hide.
"""
import glob
import os.path as osp
import socket

import pytest
import torch

from _tools import TOOLS_DIR
from _train_helpers import make_demo_data, run_tool, write_tiny_config

REPEATS = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _log_text(work_dir: str) -> str:
    log, = glob.glob(osp.join(work_dir, '*', '*.log'))
    with open(log) as f:
        return f.read()


@pytest.fixture(scope='module')
def config(tmp_path_factory):
    root = tmp_path_factory.mktemp('ddp')
    data_root = make_demo_data(str(root / 'data'))
    return write_tiny_config(str(root / 'tiny.py'), data_root, max_epochs=1,
                             cpu_ddp=True)


@pytest.fixture(scope='module')
def trained(config, tmp_path_factory):
    """Train with tools/dist_train.sh REPEATS times; return the work dirs."""
    root = tmp_path_factory.mktemp('runs')
    work_dirs = [str(root / f'run_{i}') for i in range(REPEATS)]
    for work_dir in work_dirs:
        run_tool(['bash', osp.join(TOOLS_DIR, 'dist_train.sh'), config, '2',
                  '--work-dir', work_dir], PORT=str(_free_port()))
    return work_dirs


def test_two_process_cpu_training_exits_cleanly(trained):
    for work_dir in trained:
        text = _log_text(work_dir)
        assert 'SyncBatchNorm layers become BatchNorm' in text
        assert 'mIoU_gamma0' in text  # distributed validation at the end
        checkpoint = torch.load(osp.join(work_dir, 'epoch_1.pth'),
                                weights_only=True)
        # 4 images in batches of 2 per process: 1 iteration per epoch.
        assert checkpoint['meta']['iter'] == 1
        assert len(checkpoint['random_state']['ranks']) == 2


def test_two_process_cpu_testing_exits_cleanly(config, trained, tmp_path):
    checkpoint = osp.join(trained[0], 'epoch_1.pth')
    for i in range(REPEATS):
        test_dir = str(tmp_path / f'test_{i}')
        run_tool(['bash', osp.join(TOOLS_DIR, 'dist_test.sh'), config,
                  checkpoint, '2', '--work-dir', test_dir],
                 PORT=str(_free_port()))
        text = _log_text(test_dir)
        assert 'Epoch(test) [1/1]' in text  # 2 images, 1 per process
        assert 'mIoU_gamma0' in text
