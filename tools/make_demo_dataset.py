"""Generate the synthetic street-scene dataset of the CPU demo.

Writes Cityscapes-layout images and train-id labels (see
:mod:`mmseg_affnet.datasets.makers.demo_dataset`); a folder generated
earlier with the same arguments is kept, anything else in OUT_DIR is
refused.

Example:
    python tools/make_demo_dataset.py data/demo_cityscapes
"""
import argparse
from typing import Optional, Sequence

from mmseg_affnet.datasets.makers import generate_demo_dataset
from mmseg_affnet.utils import add_debug_argument, reported_errors


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate a synthetic street-scene dataset in the '
        'Cityscapes layout (leftImg8bit/ + gtFine/ labelTrainIds).')
    parser.add_argument('out_dir', help='dataset root to create')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--num-train', type=int, default=240)
    parser.add_argument('--num-val', type=int, default=40)
    parser.add_argument('--size', type=int, nargs=2, default=(128, 256),
                        metavar=('H', 'W'), help='image height and width')
    parser.add_argument('--nproc', type=int, default=1,
                        help='worker processes (default: 1)')
    add_debug_argument(parser)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    with reported_errors(args.debug):
        written = generate_demo_dataset(
            args.out_dir, num_train=args.num_train, num_val=args.num_val,
            size=args.size, seed=args.seed, nproc=args.nproc)
    print(f'{"Wrote" if written else "Already up to date:"} {args.out_dir} '
          f'({args.num_train} train + {args.num_val} val images of '
          f'{args.size[0]}x{args.size[1]})')


if __name__ == '__main__':
    main()
