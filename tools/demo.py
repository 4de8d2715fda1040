"""AFFNet end to end on a CPU in minutes: data, training, evaluation, overlays.

1. Generates the synthetic Cityscapes-layout dataset of
   ``tools/make_demo_dataset.py`` into ``--data-root`` (kept if it is already
   there with the same settings).
2. Trains ``configs/affnet_demo.py`` (the stage-2 AFFNet config with a small
   image size and schedule) with mmengine's Runner, or the config's
   ``runner_type``.
3. Evaluates on the val split at the end of training: mmseg's metric logs the
   per-class IoU table; the demo repeats the mIoU.
4. Draws colour overlays (ground truth | prediction, Cityscapes palette) of a
   few val images with mmseg's ``SegLocalVisualizer``.

Outputs under ``--work-dir``: the checkpoint(s) (``epoch_N.pth``), the log
(``<timestamp>/<timestamp>.log``) and ``overlays/*.png``. A work dir that
already holds checkpoints is refused, so nothing earlier is overwritten:
pick another ``--work-dir``.

Example:
    python tools/demo.py --work-dir work_dirs/affnet_demo
"""
import argparse
import itertools
import os
import os.path as osp
import sys
import time
from typing import List, Sequence

import mmcv
import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmseg_affnet  # noqa: F401  (registers the model, runner, hooks)
from mmseg_affnet.engine import check_work_dir
from mmseg_affnet.engine.cli import build_runner

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from make_demo_dataset import generate_demo_dataset  # noqa: E402

DEMO_CONFIG = osp.join(
    osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs',
    'affnet_demo.py')


def parse_args(argv: Sequence[str] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the synthetic demo dataset, train AFFNet on it '
        'on the CPU, evaluate and draw prediction overlays.')
    parser.add_argument('--config', default=DEMO_CONFIG,
                        help='demo config (default: configs/affnet_demo.py)')
    parser.add_argument('--work-dir', default='work_dirs/affnet_demo',
                        help='where checkpoints, logs and overlays go; must '
                        'not hold checkpoints yet')
    parser.add_argument('--data-root', default='data/demo_cityscapes',
                        help='demo dataset folder (generated if absent)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the dataset and of the training')
    parser.add_argument('--num-overlays', type=int, default=4,
                        help='val images to draw (default: 4)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. train_cfg.max_epochs=1 '
        'demo_dataset.num_train=8')
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> Config:
    """Read the demo config and point it at the work dir and data root."""
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir
    cfg.randomness = dict(seed=args.seed)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = args.data_root
    return cfg


def draw_overlays(runner: Runner, out_dir: str, count: int) -> List[str]:
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
    paths = []
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


def run_demo(args: argparse.Namespace) -> dict:
    """Generate the data, train, evaluate and draw overlays.

    Args:
        args (argparse.Namespace): Parsed command line of this tool.

    Returns:
        dict: ``mIoU`` (percent), ``checkpoint``, ``log`` and ``overlays``
        (list of paths), ``seconds`` (wall time).

    Raises:
        FileExistsError: If the work dir holds checkpoints, or the data root
            holds something other than this demo dataset.
    """
    start = time.time()
    cfg = build_config(args)
    check_work_dir(cfg.work_dir, resume=False)
    generate_demo_dataset(args.data_root, seed=args.seed,
                          **cfg.demo_dataset)
    runner = build_runner(cfg)
    runner.train()
    with open(osp.join(cfg.work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    overlay_dir = osp.join(cfg.work_dir, 'overlays')
    os.makedirs(overlay_dir, exist_ok=True)
    return dict(
        mIoU=runner.message_hub.get_scalar('val/mIoU').current(),
        checkpoint=checkpoint,
        log=osp.join(runner.log_dir, f'{runner.timestamp}.log'),
        overlays=draw_overlays(runner, overlay_dir, args.num_overlays),
        seconds=time.time() - start)


def main(argv: Sequence[str] = None):
    args = parse_args(argv)
    try:
        result = run_demo(args)
    except FileExistsError as err:
        raise SystemExit(f'error: {err}')
    print(f'\nval mIoU: {result["mIoU"]:.2f} % (chance: about '
          f'{100 / 19:.1f} %), total time {result["seconds"]:.0f} s')
    print(f'checkpoint: {result["checkpoint"]}')
    print(f'log:        {result["log"]}')
    print(f'overlays:   {osp.join(args.work_dir, "overlays")}/ '
          f'({len(result["overlays"])} images: ground truth | prediction)')


if __name__ == '__main__':
    main()
