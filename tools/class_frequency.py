"""Count the per-class pixel frequencies of a label folder for OWFL.

Writes the JSON that ``ObjectWeightedFocalLoss(class_frequencies=...)``
reads and prints the OWFL balance (alpha) and focusing (gamma) factors they
imply (see :mod:`mmseg_affnet.datasets.class_frequency`).

Example:
    python tools/class_frequency.py data/cityscapes/gtFine/train \\
        --out work_dirs/cityscapes_class_frequency.json
"""
import argparse
from typing import Optional, Sequence

from mmseg_affnet.datasets.class_frequency import (DEFAULT_SUFFIX,
                                                   class_frequency_table,
                                                   dataset_classes,
                                                   write_class_frequency)
from mmseg_affnet.utils import add_debug_argument, reported_errors


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Per-class pixel frequencies of a label folder, written '
        'as the JSON that ObjectWeightedFocalLoss(class_frequencies=...) '
        'reads.')
    parser.add_argument('label_dir', metavar='LABEL_DIR')
    parser.add_argument('--out', required=True, metavar='FILE.json')
    parser.add_argument(
        '--dataset', default='CityscapesDataset',
        help='mmseg dataset type whose METAINFO classes are counted '
        '(default: CityscapesDataset)')
    parser.add_argument('--classes', nargs='+', metavar='NAME',
                        help='class names, in label-id order (default: '
                        "those of --dataset)")
    parser.add_argument('--suffix', default=DEFAULT_SUFFIX,
                        help=f'label file name ending (default: '
                        f'{DEFAULT_SUFFIX})')
    parser.add_argument('--ignore-index', type=int, default=255)
    parser.add_argument('--nproc', type=int, default=1,
                        help='worker processes (default: 1)')
    parser.add_argument('--force', action='store_true',
                        help='overwrite an existing --out file (never one of '
                        'the label files)')
    add_debug_argument(parser)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    with reported_errors(args.debug):
        classes = args.classes or dataset_classes(args.dataset)
        content = write_class_frequency(
            args.label_dir, args.out, classes, suffix=args.suffix,
            ignore_index=args.ignore_index, overwrite=args.force,
            nproc=args.nproc)
    try:
        print(class_frequency_table(classes, content['pixel_counts']))
    except ValueError as err:
        print(f'OWFL cannot use these counts as they are: {err}')
    print(f'Wrote {args.out}')


if __name__ == '__main__':
    main()
