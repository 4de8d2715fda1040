"""The CPU demo flow: data (synthetic or CamVid), training, evaluation,
overlays."""
import itertools
import os
import os.path as osp
import time
from typing import Dict, List, Optional

import mmcv
import numpy as np
import torch
from mmengine.runner import Runner
from prettytable import PrettyTable, TableStyle

from ..datasets.makers import generate_demo_dataset
from ..evaluation import GammaGroupIoUMetric
from ..utils.io import atomic_write_text, check_output_folder
from ..utils.config import load_config, set_data_root
from .train import run_training


def run_demo(config: str,
             work_dir: str,
             data_root: str,
             seed: int = 0,
             num_overlays: int = 4,
             cfg_options: Optional[dict] = None,
             with_image: Optional[bool] = None) -> dict:
    """Train a demo config, evaluate it and draw overlays.

    1. Data: a config with ``demo_dataset`` (``num_train``, ``num_val``,
       ``size``; ``configs/affnet_demo.py``) gets its synthetic
       Cityscapes-layout dataset generated into ``data_root`` (kept if it
       is already there with the same settings). Any other config (e.g.
       ``configs/camvid/affnet_camvid_cpu.py``) reads real data from
       ``data_root``; a missing folder is named with where to get it.
    2. Trains the config (:func:`mmseg_affnet.apis.train.run_training`),
       which validates at the end: mmseg's metric logs the per-class IoU
       table and the gamma-group mIoUs.
    3. Writes ``val_iou.md`` (the IoU of every class with its OWFL gamma,
       and the mIoU of each gamma group) and draws overlays of the first
       val images.

    Args:
        config (str): The demo config, e.g. ``configs/affnet_demo.py``.
        work_dir (str): Where checkpoints, the log, ``val_iou.md`` and
            ``overlays/`` go; it must not hold checkpoints yet.
        data_root (str): The dataset folder.
        seed (int): Seed of the dataset and of the training. Default: 0.
        num_overlays (int): Val images to draw. Default: 4.
        cfg_options (dict, optional): Config overrides, e.g.
            ``{'train_cfg.max_epochs': 1}``. Default: None.
        with_image (bool, optional): Draw image | ground truth | prediction
            instead of ground truth | prediction; None: for real data
            only (configs without ``demo_dataset``). Default: None.

    Returns:
        dict: ``mIoU`` (percent), ``checkpoint``, ``log``, ``overlays``
        (list of paths), ``panels`` (what the overlays show), ``table``
        (the path of ``val_iou.md``; None, and the next two empty, if the
        val evaluator has no ``GammaGroupIoUMetric``), ``class_iou``
        (class -> IoU %), ``gamma_groups`` (gamma -> classes) and
        ``seconds`` (wall time).

    Raises:
        FileExistsError: If the work dir holds checkpoints, or the data root
            holds something other than this demo dataset.
        FileNotFoundError: If real data is missing.
        NotADirectoryError: If ``work_dir`` or a parent of it is a file.
    """
    start = time.time()
    check_output_folder(work_dir)
    cfg = load_config(config, cfg_options)
    cfg.work_dir = work_dir
    cfg.resume = False
    cfg.randomness = dict(seed=seed)
    set_data_root(cfg, data_root)
    generated = bool(cfg.get('demo_dataset'))
    if generated:
        generate_demo_dataset(data_root, seed=seed, **cfg.demo_dataset)
    runner = run_training(cfg)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    table, metric = None, _gamma_group_metric(runner)
    if metric is not None:
        group_miou = {
            gamma:
            runner.message_hub.get_scalar(f'val/mIoU_gamma{gamma}').current()
            for gamma in metric.gamma_groups
        }
        table = osp.join(work_dir, 'val_iou.md')
        atomic_write_text(
            table,
            val_iou_markdown(metric.class_iou, metric.gamma_groups,
                             group_miou),
            overwrite=True)
    with_image = not generated if with_image is None else with_image
    overlay_dir = osp.join(work_dir, 'overlays')
    os.makedirs(overlay_dir, exist_ok=True)
    return dict(
        mIoU=runner.message_hub.get_scalar('val/mIoU').current(),
        checkpoint=checkpoint,
        log=osp.join(runner.log_dir, f'{runner.timestamp}.log'),
        overlays=draw_overlays(runner, overlay_dir, num_overlays,
                               with_image),
        panels=('image | ground truth | prediction'
                if with_image else 'ground truth | prediction'),
        table=table,
        class_iou=dict(metric.class_iou) if metric else {},
        gamma_groups=dict(metric.gamma_groups) if metric else {},
        seconds=time.time() - start)


def _gamma_group_metric(runner: Runner) -> Optional[GammaGroupIoUMetric]:
    """The val evaluator's GammaGroupIoUMetric, or None without one."""
    return next((metric for metric in runner.val_evaluator.metrics
                 if isinstance(metric, GammaGroupIoUMetric)), None)


def val_iou_markdown(class_iou: Dict[str, float],
                     gamma_groups: Dict[int, List[str]],
                     group_miou: Dict[int, float]) -> str:
    """The IoU of every class and the mIoU of each OWFL gamma group.

    Args:
        class_iou (dict[str, float]): Class -> IoU in percent.
        gamma_groups (dict[int, list[str]]): Gamma -> its classes.
        group_miou (dict[int, float]): Gamma -> the mIoU of its classes in
            percent, as the metric reported it.

    Returns:
        str: Two Markdown tables.
    """
    gamma_of = {name: gamma for gamma, names in gamma_groups.items()
                for name in names}
    classes = PrettyTable(field_names=['class', 'gamma', 'IoU (%)'])
    for name, iou in class_iou.items():
        classes.add_row([name, gamma_of.get(name, ''), f'{iou:.2f}'])
    groups = PrettyTable(field_names=['gamma', 'mIoU (%)', 'classes'])
    for gamma, names in sorted(gamma_groups.items()):
        groups.add_row([gamma, f'{group_miou[gamma]:.2f}', ', '.join(names)])
    for table in (classes, groups):
        table.set_style(TableStyle.MARKDOWN)
        table.align = 'l'
    return (f'{classes.get_string()}\n\nmIoU per OWFL gamma group:\n\n'
            f'{groups.get_string()}\n')


def draw_overlays(runner: Runner, out_dir: str, count: int,
                  with_image: bool = False) -> List[str]:
    """Draw [image |] ground truth | prediction of the first val images.

    Args:
        runner (Runner): A runner after training (its val loop is built).
        out_dir (str): Folder for the PNG overlays.
        count (int): Number of val images to draw.
        with_image (bool): Put the image itself first. Default: False.

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
                suffix = '_img_gt_pred' if with_image else '_gt_pred'
                path = osp.join(out_dir, f'{name}{suffix}.png')
                image = mmcv.imread(sample.img_path, channel_order='rgb')
                visualizer.add_datasample(
                    name, image, sample, draw_gt=True, draw_pred=True,
                    out_file=path, with_labels=False)
                if with_image:
                    drawn = mmcv.imread(path, channel_order='rgb')
                    mmcv.imwrite(
                        mmcv.rgb2bgr(np.concatenate([image, drawn], axis=1)),
                        path)
                paths.append(path)
    return paths
