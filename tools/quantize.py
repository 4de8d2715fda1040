"""Quantize a segmentor to INT8 (onnxruntime or OpenVINO), calibrated on its
config's images.

Static onnxruntime quantization (QDQ, uint8 activations, per-channel int8
weights, BN folded first), calibrated on ``--num-images`` images of the
config's train (or val) set, normalised as the model does. The INT8 graph
has the same input and output as ``tools/export_onnx.py``'s. ``--eval``
then scores PyTorch, the fp32 graph and the INT8 graph on the val set with
the config's metric (mIoU and the OWFL gamma groups). ``--runtime openvino``
writes an OpenVINO INT8 model (NAME.xml + NAME.bin, NNCF post-training
quantization; the optional 'openvino' extra) instead, and ``--eval`` scores
its graphs under OpenVINO.

Example:
    python tools/quantize.py configs/affnet_demo.py \
        work_dirs/affnet_demo/epoch_15.pth --shape 128 256 \
        --out affnet_demo_int8.onnx --eval
    python tools/quantize.py configs/affnet_cityscapes.py \
        --onnx affnet_1024x2048.onnx --out affnet_1024x2048_int8.onnx
"""
import argparse
import tempfile
from typing import Optional, Sequence

from mmengine.logging import print_log

from mmseg_affnet.deploy import (CALIBRATION_METHODS, accuracy_table,
                                 compare_accuracy, quantize_segmentor)
from mmseg_affnet.utils.cli import add_cfg_options_argument
from mmseg_affnet.utils import add_debug_argument, reported_errors


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Statically quantize a segmentor to INT8 (ONNX, or '
        'OpenVINO IR).')
    parser.add_argument('config', help='config file (mmseg:: paths allowed); '
                        'its dataset provides the calibration images')
    parser.add_argument(
        'checkpoint', nargs='?', default=None,
        help='checkpoint file; left out: random weights (for timing only)')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input height and width of the export')
    source.add_argument('--onnx', default=None,
                        help='quantize this fp32 ONNX file (from '
                        'tools/export_onnx.py) instead of exporting')
    parser.add_argument('--out', required=True,
                        help='INT8 ONNX file (--runtime openvino: NAME.xml)')
    parser.add_argument('--num-images', type=int, default=100,
                        help='calibration images (default: 100)')
    parser.add_argument('--split', choices=['train', 'val'], default='train',
                        help='dataset of the calibration images (default: '
                        'train)')
    parser.add_argument('--method', choices=list(CALIBRATION_METHODS),
                        default='minmax',
                        help='calibration method (default: minmax)')
    parser.add_argument('--opset', type=int, default=18,
                        help='ONNX opset of the export (default: 18)')
    parser.add_argument(
        '--eval', action='store_true',
        help='score PyTorch, fp32 ONNX and INT8 ONNX on the val set')
    parser.add_argument('--threads', type=int, default=0,
                        help='runtime threads of --eval (default: 0, the '
                        "runtime's choice)")
    parser.add_argument('--runtime', choices=['onnxruntime', 'openvino'],
                        default='onnxruntime', help='onnxruntime (default) '
                        'or openvino (NNCF; --out NAME.xml)')
    add_cfg_options_argument(
        parser, "override settings of the config, as in mmseg's tools, e.g. "
        'train_dataloader.dataset.data_root=data/x to calibrate on other '
        'images')
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    if args.eval and args.onnx:
        parser.error('--eval compares with PyTorch: give CONFIG CHECKPOINT '
                     '--shape H W instead of --onnx')
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    with reported_errors(args.debug):
        count = quantize_segmentor(
            args.config, args.out, args.checkpoint, args.shape, args.onnx,
            args.num_images, args.split, args.method, args.opset,
            cfg_options=args.cfg_options, for_eval=args.eval,
            runtime=args.runtime)
        print_log(f'Wrote {args.out} (calibrated on {count} {args.split} '
                  'images).')
        if args.eval:
            with tempfile.TemporaryDirectory() as tmp_dir:
                results = compare_accuracy(args.config, args.checkpoint,
                                           args.out, tmp_dir, args.threads,
                                           cfg_options=args.cfg_options,
                                           runtime=args.runtime)
            print_log('val metrics (%):\n' + accuracy_table(results))


if __name__ == '__main__':
    main()
