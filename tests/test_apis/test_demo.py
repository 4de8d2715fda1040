"""The demo flow on tiny data, and tools/demo.py's refusal to overwrite."""
import glob

import cv2
import pytest
from mmengine.config import Config

from tests.utils.tools import CONFIGS_DIR, tool_error
from mmseg_affnet.apis import run_demo

DEMO_CONFIG = f'{CONFIGS_DIR}/affnet_demo.py'
# Two iterations; the last epoch is always validated and checkpointed.
SHORT_RUN = {
    'demo_dataset.num_train': 4,
    'demo_dataset.num_val': 2,
    'train_dataloader.batch_size': 2,
    'train_cfg.max_epochs': 1
}


@pytest.mark.slow
def test_demo_writes_checkpoint_log_and_overlays(tmp_path):
    work_dir, data_root = tmp_path / 'work', tmp_path / 'data'
    result = run_demo(DEMO_CONFIG, str(work_dir), str(data_root),
                      num_overlays=2, cfg_options=SHORT_RUN)

    checkpoint = work_dir / 'epoch_1.pth'
    assert result['checkpoint'] == str(checkpoint) and checkpoint.is_file()
    assert 0 <= result['mIoU'] <= 100
    with open(result['log']) as f:
        log = f.read()
    assert 'per class results' in log and 'mIoU_gamma0' in log
    overlays = sorted(glob.glob(str(work_dir / 'overlays' / '*.png')))
    assert overlays == sorted(result['overlays']) and len(overlays) == 2
    height, width = Config.fromfile(DEMO_CONFIG).image_size
    # ground truth | prediction side by side
    assert cv2.imread(overlays[0]).shape == (height, 2 * width, 3)

    # A second demo into the same work dir must not touch the checkpoint.
    stamp = checkpoint.stat().st_mtime_ns
    with pytest.raises(FileExistsError, match='--work-dir'):
        run_demo(DEMO_CONFIG, str(work_dir), str(data_root),
                 cfg_options=SHORT_RUN)
    message = tool_error('demo', '--work-dir', str(work_dir), '--data-root',
                         str(data_root))
    assert message.startswith('error: ') and '\n' not in message, message
    assert checkpoint.stat().st_mtime_ns == stamp
