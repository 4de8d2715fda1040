"""Tiny demo data and configs shared by the engine, resume and DDP tests."""
import os
import os.path as osp
import subprocess
import sys
import time
from typing import List, Tuple

import torch

from mmengine.config import Config

from tests.utils.tools import CONFIGS_DIR
from mmseg_affnet.apis import build_runner
from mmseg_affnet.datasets.makers import generate_demo_dataset
from mmseg_affnet.deploy import export_segmentor
from mmseg_affnet.engine import init_segmentor
from tests.utils.models import randomize_batch_norms

STAGE2_CONFIG = osp.join(CONFIGS_DIR, 'affnet_cityscapes.py')
CPU_DDP_BASE = osp.join(CONFIGS_DIR, '_base_', 'cpu_distributed_runner.py')
IMAGE_SIZE = (64, 128)
#: Epochs of the session's trained run (``tests/conftest.py``).
TRAINED_EPOCHS = 6

TINY_CONFIG = """
_base_ = {bases!r}
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
model = dict(data_preprocessor=dict(size={size!r}), init_cfg=None)
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
                      val_interval: int = 100, lr: float = 2e-4,
                      cpu_ddp: bool = False) -> str:
    """Write a config that trains the stage-2 AFFNet config on tiny data.

    Args:
        cpu_ddp (bool): Also inherit the opt-in CPU-DDP runner base.
    """
    bases = [STAGE2_CONFIG] + ([CPU_DDP_BASE] if cpu_ddp else [])
    with open(path, 'w') as f:
        f.write(TINY_CONFIG.format(
            bases=bases, data_root=data_root, size=IMAGE_SIZE, lr=lr,
            max_epochs=max_epochs, val_interval=val_interval))
    return path


def tiny_config(tmp_path, data_root: str, **cfg_options) -> Config:
    """The tiny config with a work dir under ``tmp_path``, read in."""
    cfg = Config.fromfile(
        write_tiny_config(str(tmp_path / 'tiny.py'), data_root))
    cfg.work_dir = str(tmp_path / 'work_dir')
    cfg.experiment_name = f'tiny_{tmp_path.name}'
    cfg.merge_from_dict(cfg_options)
    return cfg


def build_tiny_runner(tmp_path, data_root: str, **cfg_options):
    """Build a runner of the tiny config in this process."""
    return build_runner(tiny_config(tmp_path, data_root, **cfg_options))


def tool_env() -> dict:
    """Environment for running tools/*.py in a fresh interpreter."""
    env = dict(os.environ)
    # torchrun of this interpreter's environment, for tools/dist_*.sh
    env['PATH'] = os.pathsep.join(
        [osp.dirname(sys.executable), env.get('PATH', '')])
    env.setdefault('OMP_NUM_THREADS', '1')
    return env


def run_tool(command: List[str], timeout: float = 240, expect_rc: int = 0,
             **env) -> subprocess.CompletedProcess:
    """Run a tool to completion; fail with its output on another status."""
    result = subprocess.run(command, env={**tool_env(), **env},
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == expect_rc, result.stdout[-3000:] + \
        result.stderr[-3000:]
    return result


def wait_for_checkpoint(work_dir: str, name: str, process, timeout=240):
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


#: (H, W) of the deployment tests' exported graph.
EXPORT_SIZE = (64, 128)


def exported_test_model(root, size: Tuple[int, int]) -> dict:
    """Tiny data and config, a checkpoint of AFFNet with random weights,
    random BN statistics and a classifier scaled up so that its logits are
    far from uniform (a random network's logits are nearly equal across
    classes, where any rounding flips the argmax), and its fp32 graph.

    Args:
        root (Path): An empty folder.
        size (tuple[int, int]): (H, W) of the graph's input.

    Returns:
        dict: ``root``, ``config``, ``checkpoint`` and ``fp32`` (paths).
    """
    data_root = make_demo_data(str(root / 'data'), num_train=3, num_val=2)
    config = write_tiny_config(str(root / 'tiny.py'), data_root)
    # Seeded: the argmax agreement must not depend on which tests ran before.
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = randomize_batch_norms(init_segmentor(config))
    model.decode_head.conv_seg.weight.data.mul_(20)
    checkpoint = str(root / 'weights.pth')
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    fp32 = str(root / 'fp32.onnx')
    export_segmentor(config, checkpoint, size, fp32)
    return dict(root=root, config=config, checkpoint=checkpoint, fp32=fp32)
