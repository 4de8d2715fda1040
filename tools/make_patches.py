"""Cut the extended training set of AFFNet: overlapping patches of every image.

8 overlapping 880x880 patches of each 1024x2048 Cityscapes image and label
(paper Sec. IV.A), in the Cityscapes layout under OUT_ROOT (see
:mod:`mmseg_affnet.datasets.makers.patches`). Reruns resume; a rerun with
another --patch or --per-image is refused once patches were written (a cut
that failed before its first patch records nothing); the source is never
written to.

Example:
    python tools/make_patches.py data/cityscapes data/cityscapes_patches
"""
import argparse
from typing import Optional, Sequence

from mmseg_affnet.datasets.makers import make_patches
from mmseg_affnet.utils import add_debug_argument, reported_errors


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Cut overlapping square patches of every image and label '
        'of a Cityscapes split (AFFNet extended training set).')
    parser.add_argument('src_root', metavar='CITYSCAPES_ROOT')
    parser.add_argument('out_root', metavar='OUT_ROOT')
    parser.add_argument('--patch', type=int, default=880,
                        help='square patch size (default: 880)')
    parser.add_argument('--per-image', type=int, default=8,
                        help='patches per image (default: 8)')
    parser.add_argument('--split', default='train')
    parser.add_argument('--nproc', '--workers', type=int, default=1,
                        help='worker processes (default: 1)')
    add_debug_argument(parser)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    with reported_errors(args.debug):
        images, written = make_patches(
            args.src_root, args.out_root, patch=args.patch,
            per_image=args.per_image, split=args.split, nproc=args.nproc)
    print(f'{images} images -> {images * args.per_image} image/label patch '
          f'pairs under {args.out_root} ({written} files written now, the '
          'rest were already there).')


if __name__ == '__main__':
    main()
