"""AFFNet end to end on a CPU: data, training, evaluation, overlays.

Default (``--dataset demo``, minutes): generates the synthetic
Cityscapes-layout dataset into ``--data-root`` (kept if it is already there
with the same settings), trains ``configs/affnet_demo.py`` on it, evaluates
on val and draws ground truth | prediction overlays. ``--dataset camvid``
(about 45 minutes on 2 cores): trains
``configs/camvid/affnet_camvid_cpu.py`` on CamVid read from ``--data-root``
and draws image | ground truth | prediction overlays (see
:func:`mmseg_affnet.apis.demo.run_demo`). Outputs under ``--work-dir``: the
checkpoint, the log, ``val_iou.md`` (per-class IoU and gamma groups) and
``overlays/*.png``. A work dir that already holds checkpoints is refused.

Example:
    python tools/demo.py --work-dir work_dirs/affnet_demo
    python tools/demo.py --dataset camvid --data-root ../shared/data/camvid
"""
import argparse
import os.path as osp
from typing import Sequence

from mmseg_affnet.apis.demo import run_demo
from mmseg_affnet.utils.cli import add_cfg_options_argument
from mmseg_affnet.utils import (add_debug_argument, config_file,
                                reported_errors)

# --dataset: (config, work dir, data root)
DEFAULTS = {
    'demo': (config_file('affnet_demo.py'), 'work_dirs/affnet_demo',
             'data/demo_cityscapes'),
    'camvid': (config_file('camvid/affnet_camvid_cpu.py'),
               'work_dirs/affnet_camvid_cpu', 'data/camvid'),
}


def parse_args(argv: Sequence[str] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Train AFFNet on the CPU on the generated demo dataset '
        '(default) or on CamVid, evaluate and draw prediction overlays.')
    parser.add_argument(
        '--dataset', choices=sorted(DEFAULTS), default='demo',
        help='demo: synthetic street scenes, generated (minutes); camvid: '
        'CamVid from --data-root (about 45 minutes on 2 cores)')
    parser.add_argument('--config',
                        help='config (default: configs/affnet_demo.py, '
                        'configs/camvid/affnet_camvid_cpu.py for camvid)')
    parser.add_argument('--work-dir',
                        help='where checkpoints, logs and overlays go; must '
                        'not hold checkpoints yet (default: work_dirs/'
                        'affnet_demo, work_dirs/affnet_camvid_cpu for camvid)')
    parser.add_argument('--data-root',
                        help='dataset folder (default: data/demo_cityscapes, '
                        'generated if absent; data/camvid for camvid)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the dataset and of the training')
    parser.add_argument('--num-overlays', type=int, default=4,
                        help='val images to draw (default: 4)')
    add_cfg_options_argument(
        parser, "override settings of the config, as in mmseg's tools, e.g. "
        'train_cfg.max_epochs=1 demo_dataset.num_train=8')
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    defaults = DEFAULTS[args.dataset]
    args.config = args.config or defaults[0]
    args.work_dir = args.work_dir or defaults[1]
    args.data_root = args.data_root or defaults[2]
    return args


def main(argv: Sequence[str] = None):
    args = parse_args(argv)
    with reported_errors(args.debug):
        result = run_demo(args.config, args.work_dir, args.data_root,
                          args.seed, args.num_overlays, args.cfg_options)
    print(f'\nval mIoU: {result["mIoU"]:.2f} %, total time '
          f'{result["seconds"]:.0f} s')
    print(f'checkpoint: {result["checkpoint"]}')
    print(f'log:        {result["log"]}')
    print(f'per class:  {result["table"]}')
    print(f'overlays:   {osp.join(args.work_dir, "overlays")}/ '
          f'({len(result["overlays"])} images: {result["panels"]})')


if __name__ == '__main__':
    main()
