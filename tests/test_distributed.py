"""Two processes on CPU (gloo) with tools/dist_{train,test}.sh (torchrun)."""
import glob
import os.path as osp
import socket

import torch

from _tools import TOOLS_DIR
from _train_helpers import make_demo_data, run_tool, write_tiny_config


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_two_process_cpu_training_and_testing(tmp_path):
    data_root = make_demo_data(str(tmp_path / 'data'))
    config = write_tiny_config(str(tmp_path / 'tiny.py'), data_root,
                               max_epochs=1)
    work_dir = str(tmp_path / 'work_dir')

    run_tool(['bash', osp.join(TOOLS_DIR, 'dist_train.sh'), config, '2',
              '--work-dir', work_dir], PORT=str(_free_port()))

    log, = glob.glob(osp.join(work_dir, '*', '*.log'))
    with open(log) as f:
        text = f.read()
    assert 'SyncBatchNorm layers become BatchNorm' in text
    assert 'mIoU_gamma0' in text  # distributed validation at the end
    checkpoint = torch.load(osp.join(work_dir, 'epoch_1.pth'),
                            weights_only=True)
    # 4 images in batches of 2 per process: 1 iteration per epoch, not 2.
    assert checkpoint['meta']['iter'] == 1
    assert len(checkpoint['random_state']['ranks']) == 2

    test_dir = str(tmp_path / 'test')
    run_tool(['bash', osp.join(TOOLS_DIR, 'dist_test.sh'), config,
              osp.join(work_dir, 'epoch_1.pth'), '2', '--work-dir', test_dir],
             PORT=str(_free_port()))
    log, = glob.glob(osp.join(test_dir, '*', '*.log'))
    with open(log) as f:
        text = f.read()
    assert 'Epoch(test) [1/1]' in text  # 2 images, 1 per process
    assert 'mIoU_gamma0' in text
