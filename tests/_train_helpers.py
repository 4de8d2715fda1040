"""Tiny demo data and configs shared by the engine, resume and DDP tests."""
import os
import os.path as osp
import subprocess
import sys
from typing import List

from _tools import REPO_ROOT, TOOLS_DIR

STAGE2_CONFIG = osp.join(REPO_ROOT, 'configs', 'affnet_cityscapes.py')
IMAGE_SIZE = (64, 128)

sys.path.insert(0, TOOLS_DIR)
from make_demo_dataset import generate_demo_dataset  # noqa: E402
from mmengine.config import Config  # noqa: E402

from mmseg_affnet.engine import AFFNetRunner  # noqa: E402

TINY_CONFIG = """
_base_ = [{base!r}]
data_root = {data_root!r}
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=19),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root))
val_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
model = dict(data_preprocessor=dict(size={size!r}))
optim_wrapper = dict(optimizer=dict(lr={lr!r}))
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=1e-5, by_epoch=True, begin=0,
         end={max_epochs}, convert_to_iter_based=True)
]
train_cfg = dict(max_epochs={max_epochs}, val_interval={val_interval})
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=1, save_best=None, max_keep_ckpts=-1))
log_processor = dict(window_size=1)
load_from = None
randomness = dict(seed=0)
"""


def make_demo_data(root: str, num_train: int = 4, num_val: int = 2) -> str:
    """Write a tiny demo dataset (64x128 images) and return its root."""
    generate_demo_dataset(
        root, num_train=num_train, num_val=num_val, size=IMAGE_SIZE,
        progress=False)
    return root


def write_tiny_config(path: str, data_root: str, max_epochs: int = 2,
                      val_interval: int = 100, lr: float = 2e-4) -> str:
    """Write a config that trains the stage-2 AFFNet config on tiny data."""
    with open(path, 'w') as f:
        f.write(TINY_CONFIG.format(
            base=STAGE2_CONFIG, data_root=data_root, size=IMAGE_SIZE, lr=lr,
            max_epochs=max_epochs, val_interval=val_interval))
    return path


def build_tiny_runner(tmp_path, data_root: str, **cfg_options):
    """Build an AFFNetRunner of the tiny config in this process."""
    cfg = Config.fromfile(
        write_tiny_config(str(tmp_path / 'tiny.py'), data_root))
    cfg.work_dir = str(tmp_path / 'work_dir')
    cfg.experiment_name = f'tiny_{tmp_path.name}'
    cfg.merge_from_dict(cfg_options)
    return AFFNetRunner.from_cfg(cfg)


def tool_env() -> dict:
    """Environment in which tools/*.py import this checkout's plugin."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [REPO_ROOT, env.get('PYTHONPATH', '')])
    # torchrun of this interpreter's environment, for tools/dist_*.sh
    env['PATH'] = os.pathsep.join(
        [osp.dirname(sys.executable), env.get('PATH', '')])
    env.setdefault('OMP_NUM_THREADS', '1')
    return env


def train_command(config: str, work_dir: str, *extra: str) -> List[str]:
    """Command line that runs tools/train.py in a fresh interpreter."""
    return [sys.executable, osp.join(TOOLS_DIR, 'train.py'), config,
            '--work-dir', work_dir, *extra]


def run_tool(command: List[str], timeout: float = 240, **env):
    """Run a tool to completion; fail with its output if it fails."""
    result = subprocess.run(command, env={**tool_env(), **env},
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + \
        result.stderr[-3000:]
    return result
