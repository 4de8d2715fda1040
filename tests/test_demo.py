"""Smoke test of tools/demo.py: a few training iterations on tiny data."""
import glob
import os.path as osp
import sys

import cv2
import pytest
from mmengine.config import Config

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                            'tools'))
import demo  # noqa: E402

# Two iterations; the last epoch is always validated and checkpointed.
SHORT_RUN = [
    'demo_dataset.num_train=4', 'demo_dataset.num_val=2',
    'train_dataloader.batch_size=2', 'train_cfg.max_epochs=1'
]


def test_demo_writes_checkpoint_log_and_overlays(tmp_path, capsys):
    work_dir, data_root = tmp_path / 'work', tmp_path / 'data'
    argv = ['--work-dir', str(work_dir), '--data-root', str(data_root),
            '--num-overlays', '2', '--cfg-options', *SHORT_RUN]
    demo.main(argv)

    checkpoint = work_dir / 'epoch_1.pth'
    assert checkpoint.is_file()
    logs = glob.glob(str(work_dir / '*' / '*.log'))
    assert len(logs) == 1
    with open(logs[0]) as f:
        log = f.read()
    assert 'per class results' in log and 'mIoU' in log
    overlays = sorted(glob.glob(str(work_dir / 'overlays' / '*.png')))
    assert len(overlays) == 2
    height, width = Config.fromfile(demo.DEMO_CONFIG).image_size
    # ground truth | prediction side by side
    assert cv2.imread(overlays[0]).shape == (height, 2 * width, 3)
    assert 'val mIoU:' in capsys.readouterr().out

    # A second demo into the same work dir must not touch the checkpoint.
    stamp = checkpoint.stat().st_mtime_ns
    with pytest.raises(SystemExit, match='--work-dir'):
        demo.main(argv)
    assert checkpoint.stat().st_mtime_ns == stamp
