"""AFFNet end to end on a CPU in minutes: data, training, evaluation, overlays.

Generates the synthetic Cityscapes-layout dataset into ``--data-root`` (kept
if it is already there with the same settings), trains
``configs/affnet_demo.py`` on it, evaluates on val and draws ground truth |
prediction overlays (see :func:`mmseg_affnet.apis.demo.run_demo`). Outputs
under ``--work-dir``: the checkpoint, the log and ``overlays/*.png``. A work
dir that already holds checkpoints is refused.

Example:
    python tools/demo.py --work-dir work_dirs/affnet_demo
"""
import argparse
import os.path as osp
from typing import Sequence

from mmengine.config import DictAction

from mmseg_affnet.apis.demo import run_demo

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


def main(argv: Sequence[str] = None):
    args = parse_args(argv)
    try:
        result = run_demo(args.config, args.work_dir, args.data_root,
                          args.seed, args.num_overlays, args.cfg_options)
    except (FileExistsError, FileNotFoundError) as err:
        raise SystemExit(f'error: {err}')
    print(f'\nval mIoU: {result["mIoU"]:.2f} %, total time '
          f'{result["seconds"]:.0f} s')
    print(f'checkpoint: {result["checkpoint"]}')
    print(f'log:        {result["log"]}')
    print(f'overlays:   {osp.join(args.work_dir, "overlays")}/ '
          f'({len(result["overlays"])} images: ground truth | prediction)')


if __name__ == '__main__':
    main()
