"""Export a segmentor to ONNX and check it with onnxruntime.

The graph maps one normalised image (1, 3, H, W) to logits at the input
resolution (1, num_classes, H, W): the segmentor's
``model(inputs, mode='tensor')`` followed by bilinear upsampling. Data
preprocessing (mean/std, BGR->RGB) and the argmax are not part of it. The
input size is fixed at export time (``--shape``). The checkpoint is loaded
weights-only and strictly; an existing output file is refused.

Example:
    python tools/export_onnx.py configs/affnet_cityscapes.py \
        work_dirs/affnet_cityscapes/best_mIoU_epoch_150.pth \
        --shape 1024 2048 --out affnet_1024x2048.onnx
"""
import argparse
import os.path as osp
from typing import Optional, Sequence

from mmengine.logging import print_log

from mmseg_affnet.deploy import export_segmentor
from mmseg_affnet.utils.cli import add_cfg_options_argument
from mmseg_affnet.utils import add_debug_argument, reported_errors


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
    add_cfg_options_argument(parser)
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    if args.out is None:
        name = osp.splitext(osp.basename(args.config))[0]
        args.out = f'{name}_{args.shape[0]}x{args.shape[1]}.onnx'
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    with reported_errors(args.debug):
        difference = export_segmentor(args.config, args.checkpoint,
                                      args.shape, args.out, args.opset,
                                      args.cfg_options)
    print_log(f'Exported {args.out} (input 1x3x{args.shape[0]}x'
              f'{args.shape[1]}, opset {args.opset}); onnxruntime vs '
              f'PyTorch max abs difference of the logits: {difference:.3g}')


if __name__ == '__main__':
    main()
