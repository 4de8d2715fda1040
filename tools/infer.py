"""Segment images with a trained model; write colour masks and overlays.

For every input image ``NAME.ext`` writes ``NAME_mask.png`` (the dataset's
palette) and ``NAME_overlay.png`` under ``--out``, at the image's own size
(see :mod:`mmseg_affnet.apis.infer`). Existing outputs are refused before the
model is loaded; every entry not segmented (an image that cannot be read or
segmented, an entry named as an image that is not a file) is skipped and
named with the reason (exit status 1).

Example:
    python tools/infer.py configs/affnet_cityscapes.py work_dirs/best.pth \\
        demo/ street.jpg --out results --device cpu --opacity 0.5
"""
import argparse
import sys
from typing import Optional, Sequence

from mmseg_affnet.apis.infer import segment_images
from mmseg_affnet.utils.cli import add_cfg_options_argument
from mmseg_affnet.utils import add_debug_argument, reported_errors


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Segment images; write colour masks and overlays.')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file (.pth)')
    parser.add_argument(
        'images', nargs='+', help='image files and/or folders of images')
    parser.add_argument(
        '--out', required=True, help='output folder (created if missing)')
    parser.add_argument(
        '--device', help='device, e.g. cpu or cuda:0 (default: cuda:0 if '
        'available)')
    parser.add_argument(
        '--opacity', type=float, default=0.5,
        help='opacity of the mask in the overlay, in [0, 1] (default: 0.5)')
    add_cfg_options_argument(parser)
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    if not 0 <= args.opacity <= 1:
        parser.error(f'--opacity must be in [0, 1], got {args.opacity}')
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool; return 0 if every image was segmented, 1 if some were
    skipped."""
    args = parse_args(argv)
    with reported_errors(args.debug):
        summary = segment_images(args.config, args.checkpoint, args.images,
                                 args.out, args.device, args.opacity,
                                 cfg_options=args.cfg_options)
    for image, reason in summary.skipped:
        print(f'Skipped {image}: {reason}')
    total = len(summary.segmented) + len(summary.skipped)
    print(f'Segmented {len(summary.segmented)} of {total} images into '
          f'{args.out}.')
    return 1 if summary.skipped else 0


if __name__ == '__main__':
    sys.exit(main())
