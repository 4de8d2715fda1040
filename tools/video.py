"""Segment a video file, a frame folder or a camera in real time.

Writes the overlay video (the dataset's palette) and optionally the label
ids of every frame as PNGs; shows a progress bar with the running rate and
ends with the time per stage (decode, preprocess, inference, overlay,
encode) and the end-to-end FPS (see :mod:`mmseg_affnet.apis.video`).
PyTorch (config + checkpoint) or an fp32/INT8 ONNX graph (``--onnx``, from
tools/export_onnx.py or tools/quantize.py; frames are resized to its input
size and the labels back). Outputs are never overwritten; Ctrl+C,
SIGTERM and SIGHUP stop cleanly: the frames segmented are written, the
video is kept and the exit status is 130 (a second stop request writes no
more frames, keeping those written).

Example:
    python tools/video.py drive.mp4 configs/camvid/affnet_camvid.py \\
        best.pth --out drive_seg.mp4
    python tools/video.py ../shared/data/camvid/val \\
        configs/camvid/affnet_camvid.py --onnx affnet_camvid_int8.onnx \\
        --out camvid_val_int8.mp4 --labels-dir camvid_val_labels
    python tools/video.py 0 configs/camvid/affnet_camvid.py \\
        --onnx affnet_camvid_int8.onnx --out camera.mp4   # camera 0
"""
import argparse
import sys
from typing import Optional, Sequence

from mmseg_affnet.apis.video import segment_video, video_report
from mmseg_affnet.deploy.backends import GRAPH_BACKENDS
from mmseg_affnet.utils.cli import (EXIT_INTERRUPTED, add_cfg_options_argument,
                                    add_debug_argument, reported_errors,
                                    stop_signals_as_ctrl_c)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Segment a video, a frame folder or a camera; write '
        'the overlay video and the time per stage.')
    parser.add_argument(
        'input', help='video file, folder of frames (name order) or camera '
        'index (e.g. 0) or device (/dev/video0)')
    parser.add_argument('config', help='model config (mmseg:: allowed)')
    parser.add_argument(
        'checkpoint', nargs='?', default=None,
        help='PyTorch checkpoint; left out: random weights (timing only), '
        'or the weights of --onnx')
    parser.add_argument(
        '--out', required=True,
        help='output video (.mp4: mp4v, .avi: MJPG); never overwritten')
    parser.add_argument(
        '--onnx', help='run this fp32 or INT8 graph (tools/export_onnx.py, '
        'tools/quantize.py) with onnxruntime instead of PyTorch')
    parser.add_argument(
        '--labels-dir', help='also write the label ids of every frame as '
        'NAME.png into this new or empty folder')
    parser.add_argument(
        '--device', help='PyTorch: cpu, cuda, cuda:N (default: cuda:0 if '
        'available); --onnx: cpu (default) or cuda (onnxruntime-gpu)')
    parser.add_argument(
        '--runtime', choices=list(GRAPH_BACKENDS), default='onnxruntime',
        help='runtime of --onnx (openvino: the fp32 .onnx or the INT8 .xml '
        'of tools/quantize.py --runtime openvino; the openvino extra)')
    parser.add_argument(
        '--threads', type=int, default=0,
        help="inference threads (default: 0, the runtime's choice)")
    parser.add_argument(
        '--opacity', type=float, default=0.5,
        help='opacity of the colours in the overlay (default: 0.5)')
    parser.add_argument(
        '--fps', type=float,
        help="frame rate of the output (default: the input's, else 30)")
    parser.add_argument(
        '--codec', help="FourCC instead of the extension's, e.g. MJPG")
    parser.add_argument(
        '--max-frames', type=int,
        help='stop after this many frames (Ctrl+C also stops cleanly)')
    parser.add_argument(
        '--queue-size', type=int, default=4,
        help='frames each queue between the threads holds (default: 4)')
    add_cfg_options_argument(parser)
    add_debug_argument(parser)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool; return 0, or 130 if a stop request ended the run
    early (the video of the frames segmented is written)."""
    args = parse_args(argv)
    with reported_errors(args.debug), stop_signals_as_ctrl_c():
        summary = segment_video(
            args.input, args.config, args.checkpoint, args.out, args.onnx,
            args.labels_dir, args.device, args.threads, args.opacity,
            args.fps, args.codec, args.max_frames, args.queue_size,
            cfg_options=args.cfg_options, runtime=args.runtime)
    print(video_report(summary))
    return EXIT_INTERRUPTED if summary.interrupted else 0


if __name__ == '__main__':
    sys.exit(main())
