"""INT8 quantization (mmseg_affnet.deploy.quantize) and the ONNX evaluator,
end to end on a tiny generated dataset and the stage-2 AFFNet config.

The model is AFFNet with random weights, random batch-norm statistics and a
classifier scaled up so that the logits are far from uniform: a random
network's logits are nearly equal across classes (max ~0.1), where any
rounding flips the argmax and agreement says nothing.
"""
import os.path as osp

import cv2
import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from tests.utils.tools import tool_error, tool_main
from tests.utils.training import EXPORT_SIZE
from mmseg_affnet.apis import init_segmentor, load_config
from mmseg_affnet.deploy import (CalibrationImages, accuracy_table,
                                 compare_accuracy, create_ort_session,
                                 graph_input_shape,
                                 quantize_onnx, quantize_segmentor,
                                 run_session)

SIZE = EXPORT_SIZE
# Share of pixels whose INT8 argmax must equal fp32's. 8-bit activations
# carry ~0.4 % of each tensor's range as rounding error through ~70 convs,
# so pixels whose top-2 logits are within that error of each other may
# flip; on these inputs 98-100 % agree. 95 % fails a broken quantization
# (wrong scales, wrong channel axis, a dropped layer: ~5-50 % agree)
# without flaking on legitimate rounding.
MIN_ARGMAX_AGREEMENT = 0.95


@pytest.fixture(scope='module')
def setup(tmp_path_factory, exported_model):
    """Tiny data and config, a checkpoint, its fp32 and INT8 graphs; this
    module's files go to a folder of its own."""
    setup = dict(exported_model, root=tmp_path_factory.mktemp('quantize'))
    setup['int8'] = str(setup['root'] / 'int8.onnx')
    setup['used'] = quantize_segmentor(setup['config'], setup['int8'],
                                       fp32_file=setup['fp32'], num_images=3)
    return setup


def test_int8_graph_has_the_fp32_interface_and_int8_weights(setup):
    assert setup['used'] == 3
    fp32, int8 = onnx.load(setup['fp32']), onnx.load(setup['int8'])
    for field in ('input', 'output'):
        assert ([(v.name, v.type) for v in getattr(int8.graph, field)] ==
                [(v.name, v.type) for v in getattr(fp32.graph, field)])
    assert graph_input_shape(setup['int8']) == (1, 3, *SIZE)
    op_types = [node.op_type for node in int8.graph.node]
    assert op_types.count('QuantizeLinear') > 0
    # BN folded: every remaining BN follows a non-conv (AFFNet's initial
    # unit normalises a concatenation of a conv and a max-pool).
    producers = {out: node for node in int8.graph.node for out in node.output}
    for node in int8.graph.node:
        if node.op_type == 'BatchNormalization':
            assert producers[node.input[0]].op_type != 'Conv'
    # Per-channel int8 weights: each conv's weight is dequantized from an
    # int8 initializer with one scale per output channel.
    initializers = {t.name: t for t in int8.graph.initializer}
    convs = [node for node in int8.graph.node if node.op_type == 'Conv']
    assert convs
    for conv in convs:
        dequantize = producers[conv.input[1]]
        assert dequantize.op_type == 'DequantizeLinear'
        weight = numpy_helper.to_array(initializers[dequantize.input[0]])
        scale = numpy_helper.to_array(initializers[dequantize.input[1]])
        assert weight.dtype == np.int8
        assert scale.shape == (weight.shape[0], )


def test_int8_argmax_agrees_with_fp32(setup):
    cfg = load_config(setup['config'])
    fp32 = create_ort_session(setup['fp32'], threads=1)
    int8 = create_ort_session(setup['int8'], threads=1)
    agreements = []
    for inputs in CalibrationImages(cfg, SIZE, 2, split='val'):
        expected, actual = run_session(fp32, inputs), run_session(int8, inputs)
        assert actual.shape == expected.shape == (1, 19, *SIZE)
        # Logits far from uniform, else agreement would mean nothing.
        assert float(np.ptp(expected, axis=1).mean()) > 1.0
        agreements.append((actual.argmax(1) == expected.argmax(1)).mean())
    assert min(agreements) >= MIN_ARGMAX_AGREEMENT, agreements


@pytest.mark.slow
def test_onnx_evaluation_matches_pytorch(setup, tmp_path):
    results = compare_accuracy(setup['config'], setup['checkpoint'],
                               setup['int8'], str(tmp_path), threads=1)
    assert list(results) == ['pytorch', 'onnxruntime-fp32',
                             'onnxruntime-int8']
    for metrics in results.values():
        assert {'mIoU', 'aAcc', 'mIoU_gamma0'} <= set(metrics)
        assert 0 <= metrics['mIoU'] <= 100
    # Same weights, same inputs, logits within 1e-5: the same label maps
    # up to a handful of tied pixels.
    assert results['onnxruntime-fp32']['aAcc'] == pytest.approx(
        results['pytorch']['aAcc'], abs=0.05)
    table = accuracy_table(results)
    assert table.count('\n') == 4 and '| onnxruntime-int8 |' in table


@pytest.mark.slow
def test_compare_accuracy_builds_one_model(setup, tmp_path, monkeypatch):
    """The PyTorch row, the fp32 export and the val loop of all three
    runtimes share one segmentor."""
    segmentor_class = type(init_segmentor(setup['config']))
    build = segmentor_class.__init__
    builds = []

    def counted_build(self, *args, **kwargs):
        builds.append(type(self))
        build(self, *args, **kwargs)

    monkeypatch.setattr(segmentor_class, '__init__', counted_build)
    results = compare_accuracy(setup['config'], setup['checkpoint'],
                               setup['int8'], str(tmp_path), threads=1,
                               max_images=1)

    assert len(results) == 3
    assert builds == [segmentor_class]


def test_calibration_images_are_normalised_like_the_model(setup):
    cfg = load_config(setup['config'])
    images = list(CalibrationImages(cfg, (32, 64), 5, split='train'))
    assert len(images) == 3  # only three training images
    assert all(image.shape == (1, 3, 32, 64) and image.dtype == np.float32
               for image in images)
    # mean/std normalised: centred, unit-ish spread, not 0-255 pixels
    assert abs(float(np.mean(images))) < 1.5 and np.abs(images).max() < 5


def test_quantize_refuses_existing_output(setup):
    existing = setup['root'] / 'existing.onnx'
    existing.write_bytes(b'keep me')
    with pytest.raises(FileExistsError, match='existing.onnx already exists'):
        quantize_segmentor(setup['config'], existing,
                           fp32_file=setup['fp32'])
    assert existing.read_bytes() == b'keep me'


def test_quantize_rejects_missing_checkpoint(setup, tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.pth does not exist'):
        quantize_segmentor(setup['config'], tmp_path / 'a.onnx',
                           str(tmp_path / 'missing.pth'), shape=SIZE)
    assert not (tmp_path / 'a.onnx').exists()


def test_quantize_rejects_a_dataset_without_images(setup, tmp_path):
    cfg = load_config(setup['config'])
    for split in ('train', 'val'):
        cfg[f'{split}_dataloader'].dataset.data_root = str(tmp_path)
    (tmp_path / 'leftImg8bit' / 'train').mkdir(parents=True)
    (tmp_path / 'gtFine' / 'train').mkdir(parents=True)
    with pytest.raises(ValueError, match='holds no images'):
        CalibrationImages(cfg, SIZE, 4, split='train')
    with pytest.raises(ValueError, match='holds no images'):
        CalibrationImages(cfg, SIZE, 4, split='val')  # folders missing


def test_quantize_rejects_bad_arguments(setup, tmp_path):
    out = tmp_path / 'a.onnx'
    with pytest.raises(ValueError, match='either the input shape'):
        quantize_segmentor(setup['config'], out)
    with pytest.raises(ValueError, match='either the input shape'):
        quantize_segmentor(setup['config'], out, shape=SIZE,
                           fp32_file=setup['fp32'])
    with pytest.raises(ValueError, match='cannot be applied'):
        quantize_segmentor(setup['config'], out, setup['checkpoint'],
                           fp32_file=setup['fp32'])
    with pytest.raises(ValueError, match='too small'):
        quantize_segmentor(setup['config'], out, shape=(16, 16))
    with pytest.raises(ValueError, match="'kl' is not one of"):
        quantize_onnx(setup['fp32'], out, [np.zeros((1, 3, *SIZE))], 'kl')
    with pytest.raises(ValueError, match='calibration iterable is empty'):
        quantize_onnx(setup['fp32'], out, [])
    with pytest.raises(FileNotFoundError, match='none.onnx does not exist'):
        quantize_onnx(tmp_path / 'none.onnx', out, [])
    with pytest.raises(ValueError, match='num_images must be >= 1'):
        CalibrationImages(load_config(setup['config']), SIZE, 0)
    assert not out.exists()


@pytest.mark.slow
def test_quantize_tool_from_an_onnx_file(setup, tmp_path, capsys):
    out = tmp_path / 'tool_int8.onnx'
    argv = [setup['config'], '--onnx', setup['fp32'], '--out', str(out),
            '--num-images', '2', '--split', 'val']
    tool_main('quantize')(argv)
    assert 'calibrated on 2 val images' in capsys.readouterr().out
    assert graph_input_shape(out) == (1, 3, *SIZE)
    assert 'tool_int8.onnx already exists' in tool_error('quantize', *argv)
    assert osp.isfile(out)


# ------------------------------------ inputs kept, errors in one line --
def test_quantize_names_a_folder_or_a_non_onnx_file(setup, tmp_path):
    png = tmp_path / 'picture.png'
    cv2.imwrite(str(png), np.zeros((8, 8, 3), np.uint8))
    out = str(tmp_path / 'int8.onnx')
    message = tool_error('quantize', setup['config'], '--onnx',
                         str(tmp_path), '--out', out)
    assert message == (f'error: ONNX file {tmp_path} is a folder; pass the '
                       '.onnx file written by tools/export_onnx.py.')
    message = tool_error('quantize', setup['config'], '--onnx', str(png),
                         '--out', out)
    assert message.startswith(f'error: {png} is not an ONNX model')
    assert not osp.exists(out)


def test_no_output_is_an_input(setup):
    fp32 = open(setup['fp32'], 'rb').read()
    message = tool_error('quantize', setup['config'], '--onnx',
                         setup['fp32'], '--out', setup['fp32'])
    assert f"The output {setup['fp32']} is the input" in message
    message = tool_error('export_onnx', setup['config'], setup['checkpoint'],
                         '--shape', '64', '64', '--out', setup['checkpoint'])
    assert f"The output {setup['checkpoint']} is the input" in message
    assert open(setup['fp32'], 'rb').read() == fp32


def test_eval_at_another_size_than_val_writes_nothing(setup, tmp_path):
    out = tmp_path / 'int8_97.onnx'
    message = tool_error('quantize', setup['config'], setup['checkpoint'],
                         '--shape', '97', '131', '--eval', '--out', str(out),
                         '--num-images', '1')
    assert message == (
        'error: --eval scores the graph on the val set, whose pipeline gives '
        '64x128 inputs, but --shape is 97 131; nothing was written. Pass '
        '--shape 64 128, or leave out --eval.')
    assert not out.exists()
