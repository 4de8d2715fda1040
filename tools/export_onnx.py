"""Export a segmentor to ONNX and check it with onnxruntime.

The graph maps one normalised image (1, 3, H, W) to logits at the input
resolution (1, num_classes, H, W): the segmentor's
``model(inputs, mode='tensor')`` followed by bilinear upsampling. Data
preprocessing (mean/std, BGR->RGB) and the argmax are not part of it. The
input size is fixed at export time (``--shape``).

Example:
    python tools/export_onnx.py configs/affnet_cityscapes.py \
        work_dirs/affnet_cityscapes/best_mIoU_epoch_150.pth \
        --shape 1024 2048 --out affnet_1024x2048.onnx
"""
import argparse
import os.path as osp
from typing import Optional, Sequence

import numpy as np
import torch

from mmseg_affnet.deploy import (LogitsAtInputSize, create_ort_session,
                                 export_onnx, load_segmentor)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export a segmentor (logits at input size) to ONNX.')
    parser.add_argument('config', help='config file (mmseg:: paths allowed)')
    parser.add_argument(
        'checkpoint', nargs='?', default=None,
        help='checkpoint file; left out: random weights (for timing only)')
    parser.add_argument('--shape', type=int, nargs=2, required=True,
                        metavar=('H', 'W'), help='input height and width')
    parser.add_argument(
        '--out', default=None,
        help='output file (default: <config name>_<H>x<W>.onnx)')
    parser.add_argument('--opset', type=int, default=18,
                        help='ONNX opset version (default: 18)')
    parser.add_argument('--force', action='store_true',
                        help='overwrite an existing output file')
    args = parser.parse_args(argv)
    if min(args.shape) < 32:
        parser.error(f'--shape {args.shape} is too small: the models '
                     f'downsample 32 times; use at least 32 32')
    if args.out is None:
        name = osp.splitext(osp.basename(args.config))[0]
        args.out = f'{name}_{args.shape[0]}x{args.shape[1]}.onnx'
    if osp.exists(args.out) and not args.force:
        parser.error(f'{args.out} already exists; pass --force to overwrite '
                     f'it or --out to choose another file')
    return args


def max_abs_difference(model: torch.nn.Module, inputs: torch.Tensor,
                       onnx_file: str) -> float:
    """Largest absolute difference of onnxruntime's logits to PyTorch's."""
    with torch.inference_mode():
        expected = LogitsAtInputSize(model)(inputs).numpy()
    actual = create_ort_session(onnx_file).run(
        None, {'inputs': inputs.numpy()})[0]
    return float(np.abs(actual - expected).max())


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    try:
        model = load_segmentor(args.config, args.checkpoint)
    except FileNotFoundError as error:
        raise SystemExit(f'error: {error}') from None
    inputs = torch.randn(1, 3, *args.shape)
    export_onnx(model, inputs, args.out, args.opset)
    difference = max_abs_difference(model, inputs, args.out)
    print(f'Exported {args.out} (input 1x3x{args.shape[0]}x{args.shape[1]}, '
          f'opset {args.opset}); onnxruntime vs PyTorch max abs difference '
          f'of the logits: {difference:.3g}')


if __name__ == '__main__':
    main()
