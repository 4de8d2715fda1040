"""The CPU demo flow: synthetic data, training, evaluation, overlays."""
import itertools
import os
import os.path as osp
import time
from typing import List, Optional

import mmcv
import torch
from mmengine.runner import Runner

from ..datasets.synthetic import generate_demo_dataset
from .model import load_config
from .runs import run_training


def run_demo(config: str,
             work_dir: str,
             data_root: str,
             seed: int = 0,
             num_overlays: int = 4,
             cfg_options: Optional[dict] = None) -> dict:
    """Generate the demo data, train, evaluate and draw overlays.

    1. Generates the synthetic Cityscapes-layout dataset described by the
       config's ``demo_dataset`` (``num_train``, ``num_val``, ``size``) into
       ``data_root`` (kept if it is already there with the same settings).
    2. Trains the config (:func:`mmseg_affnet.apis.runs.train`), which
       validates at the end: mmseg's metric logs the per-class IoU table and
       the gamma-group mIoUs.
    3. Draws ground truth | prediction overlays of the first val images.

    Args:
        config (str): The demo config, e.g. ``configs/affnet_demo.py``.
        work_dir (str): Where checkpoints, the log and ``overlays/`` go; it
            must not hold checkpoints yet.
        data_root (str): The demo dataset folder.
        seed (int): Seed of the dataset and of the training. Default: 0.
        num_overlays (int): Val images to draw. Default: 4.
        cfg_options (dict, optional): Config overrides, e.g.
            ``{'train_cfg.max_epochs': 1}``. Default: None.

    Returns:
        dict: ``mIoU`` (percent), ``checkpoint``, ``log``, ``overlays``
        (list of paths) and ``seconds`` (wall time).

    Raises:
        FileExistsError: If the work dir holds checkpoints, or the data root
            holds something other than this demo dataset.
    """
    start = time.time()
    cfg = load_config(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.work_dir = work_dir
    cfg.resume = False
    cfg.randomness = dict(seed=seed)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = data_root
    generate_demo_dataset(data_root, seed=seed, **cfg.demo_dataset)
    runner = run_training(cfg)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    overlay_dir = osp.join(work_dir, 'overlays')
    os.makedirs(overlay_dir, exist_ok=True)
    return dict(
        mIoU=runner.message_hub.get_scalar('val/mIoU').current(),
        checkpoint=checkpoint,
        log=osp.join(runner.log_dir, f'{runner.timestamp}.log'),
        overlays=draw_overlays(runner, overlay_dir, num_overlays),
        seconds=time.time() - start)


def draw_overlays(runner: Runner, out_dir: str,
                  count: int) -> List[str]:
    """Draw ground truth | prediction of the first ``count`` val images.

    Args:
        runner (Runner): A runner after training (its val loop is built).
        out_dir (str): Folder for the PNG overlays.
        count (int): Number of val images to draw.

    Returns:
        list[str]: Paths of the written overlays.
    """
    model, visualizer = runner.model, runner.visualizer
    model.eval()
    paths: List[str] = []
    with torch.no_grad():
        for batch in itertools.islice(runner.val_dataloader, count):
            for sample in model.val_step(batch)[:count - len(paths)]:
                name = osp.splitext(osp.basename(sample.img_path))[0]
                path = osp.join(out_dir, f'{name}_gt_pred.png')
                visualizer.add_datasample(
                    name, mmcv.imread(sample.img_path, channel_order='rgb'),
                    sample, draw_gt=True, draw_pred=True, out_file=path,
                    with_labels=False)
                paths.append(path)
    return paths
