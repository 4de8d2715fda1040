"""The optional OpenVINO backend (mmseg_affnet.deploy.openvino): the fp32
graph gives onnxruntime's logits, NNCF's INT8 model keeps the argmax, and a
missing extra is one line naming it.

The model is AFFNet with random weights, random batch-norm statistics and
a classifier scaled up so that the logits are far from uniform (see
test_quantize.py for why).
"""
import ctypes
import gc
import os.path as osp
import sys

import numpy as np
import pytest

from mmseg_affnet.apis.video import segment_video
from mmseg_affnet.deploy import (CalibrationImages, create_ort_session,
                                 open_graph, run_session)
from mmseg_affnet.deploy.openvino import (compile_openvino, import_openvino,
                                          quantize_openvino)
from mmseg_affnet.utils import load_config
from tests.utils.tools import tool_error, tool_main
from tests.utils.training import EXPORT_SIZE

SIZE = EXPORT_SIZE
# As onnxruntime's INT8 graph (test_quantize.py): on these inputs 98-100 %
# of the pixels keep their argmax; a broken quantization keeps 5-50 %.
MIN_ARGMAX_AGREEMENT = 0.95

# NNCF's quantization in the module fixture alone takes about 10 s.
pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def setup(tmp_path_factory, exported_model):
    """Tiny data and config, a checkpoint, its fp32 ONNX graph and the
    OpenVINO INT8 model calibrated on 3 train images."""
    setup = dict(exported_model, root=tmp_path_factory.mktemp('openvino'))
    config, fp32 = setup['config'], setup['fp32']
    int8 = str(setup['root'] / 'int8.xml')
    calibration = CalibrationImages(load_config(config), SIZE, 3)
    used = quantize_openvino(fp32, int8, calibration)
    val = list(CalibrationImages(load_config(config), SIZE, 2, split='val'))
    return dict(setup, int8=int8, used=used, val=val)


def test_fp32_graph_gives_onnxruntimes_logits(setup):
    """Also on CPUs where OpenVINO's default is bfloat16 (AMX, AVX-512
    BF16): there the logits came out rounded to bfloat16."""
    session = create_ort_session(setup['fp32'], threads=1)
    compiled = compile_openvino(setup['fp32'], threads=1)
    float32 = import_openvino().Type.f32
    assert compiled.get_property('INFERENCE_PRECISION_HINT') == float32
    for inputs in setup['val']:
        expected = run_session(session, inputs)
        logits = compiled(inputs)[0]
        assert logits.shape == expected.shape == (1, 19, *SIZE)
        np.testing.assert_allclose(logits, expected, rtol=1e-3, atol=1e-3)


class _SignalStack(ctypes.Structure):
    _fields_ = [('ss_sp', ctypes.c_void_p), ('ss_flags', ctypes.c_int),
                ('ss_size', ctypes.c_size_t)]


def _is_mapped(address: int) -> bool:
    with open('/proc/self/maps') as maps:
        for line in maps:
            low, high = (int(end, 16) for end in line.split()[0].split('-'))
            if low <= address < high:
                return True
    return False


@pytest.mark.skipif(not sys.platform.startswith('linux'),
                    reason='reads /proc/self/maps')
def test_freed_models_leave_no_dangling_signal_stack(setup):
    """OpenVINO's CPU plugin gives the thread an alternate signal stack and
    puts back the one it found when the compiled model goes. With a Core
    per model, two models freed in the order they were made left the first
    one's freed stack registered, and the next Ctrl+C killed the process
    with a segmentation fault (on a Sapphire Rapids Xeon)."""
    first = compile_openvino(setup['fp32'], threads=1)
    second = compile_openvino(setup['int8'], threads=1)
    for compiled in (first, second):
        compiled(setup['val'][0])
    del first, compiled
    gc.collect()
    del second
    gc.collect()
    stack = _SignalStack()
    assert ctypes.CDLL(None).sigaltstack(None, ctypes.byref(stack)) == 0
    ss_disable = 2
    if not stack.ss_flags & ss_disable:
        assert _is_mapped(stack.ss_sp)
        assert _is_mapped(stack.ss_sp + stack.ss_size - 1)


def test_int8_model_keeps_the_argmax(setup):
    assert setup['used'] == 3
    assert osp.isfile(setup['int8'][:-len('.xml')] + '.bin')
    session = create_ort_session(setup['fp32'], threads=1)
    compiled = compile_openvino(setup['int8'], threads=1)
    for inputs in setup['val']:
        expected = run_session(session, inputs).argmax(1)
        agreement = (compiled(inputs)[0].argmax(1) == expected).mean()
        assert agreement >= MIN_ARGMAX_AGREEMENT, agreement


def test_int8_model_holds_int8_weights(setup):
    import openvino as ov
    model = ov.Core().read_model(setup['int8'])
    types = {op.get_type_name() for op in model.get_ops()}
    assert 'FakeQuantize' in types or 'FakeConvert' in types
    element_types = {str(op.get_output_element_type(0))
                     for op in model.get_ops()
                     if op.get_type_name() == 'Constant'}
    assert any('int8' in t for t in element_types), element_types


def test_existing_outputs_and_a_name_without_xml_are_refused(setup):
    calibration = [np.zeros((1, 3, *SIZE), np.float32)]
    with pytest.raises(FileExistsError, match='int8.xml'):
        quantize_openvino(setup['fp32'], setup['int8'], calibration)
    with pytest.raises(ValueError, match=r'must end in \.xml'):
        quantize_openvino(setup['fp32'], str(setup['root'] / 'x.onnx'),
                          calibration)
    with pytest.raises(ValueError, match='No calibration images'):
        quantize_openvino(setup['fp32'], str(setup['root'] / 'new.xml'), [])
    assert not osp.exists(setup['root'] / 'new.xml')


def test_a_missing_extra_is_named(monkeypatch, setup):
    monkeypatch.setitem(sys.modules, 'openvino', None)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[openvino\]'"):
        compile_openvino(setup['fp32'])
    monkeypatch.setitem(sys.modules, 'nncf', None)
    with pytest.raises(ImportError, match=r"\.\[openvino\]"):
        quantize_openvino(setup['fp32'], str(setup['root'] / 'other.xml'),
                          [np.zeros((1, 3, *SIZE), np.float32)])


def test_open_graph_runs_both_models_under_openvino(setup):
    cfg = load_config(setup['config'])
    for file, precision in ((setup['fp32'], 'fp32'), (setup['int8'], 'int8')):
        backend = open_graph(file, cfg, threads=1, runtime='openvino')
        assert backend.name == f'openvino {precision}'
        assert backend.input_size == SIZE
        frame = np.random.default_rng(0).integers(
            0, 256, (*SIZE, 3), dtype=np.uint8)
        labels = backend.labels(backend.preprocess(frame), SIZE[::-1])
        assert labels.shape == SIZE and labels.max() < 19
    with pytest.raises(ValueError, match='runs on the CPU'):
        open_graph(setup['fp32'], cfg, device='cuda', runtime='openvino')


def test_quantize_tool_writes_and_scores_an_openvino_model(setup, capsys):
    out = str(setup['root'] / 'tool_int8.xml')
    tool_main('quantize')([
        setup['config'], setup['checkpoint'], '--shape', *map(str, SIZE),
        '--runtime', 'openvino', '--out', out, '--num-images', '2', '--eval',
        '--threads', '1'])
    assert osp.isfile(out) and osp.isfile(out[:-len('.xml')] + '.bin')
    printed = capsys.readouterr()
    table = printed.out + printed.err
    for row in ('pytorch', 'openvino-fp32', 'openvino-int8'):
        assert row in table


def test_quantize_tool_refuses_onnxruntime_options_for_openvino(setup):
    message = tool_error(
        'quantize', setup['config'], '--onnx', setup['fp32'], '--runtime',
        'openvino', '--out', str(setup['root'] / 'p.xml'), '--method',
        'percentile')
    assert "onnxruntime's" in message
    assert not osp.exists(setup['root'] / 'p.xml')
    message = tool_error(
        'quantize', setup['config'], '--onnx', setup['fp32'], '--runtime',
        'openvino', '--out', str(setup['root'] / 'p.onnx'))
    assert 'must end in .xml' in message


def test_video_runs_the_int8_model_under_openvino(setup):
    import cv2
    frames = setup['root'] / 'frames'
    frames.mkdir()
    rng = np.random.default_rng(1)
    for index in range(3):
        cv2.imwrite(str(frames / f'{index}.png'),
                    rng.integers(0, 256, (48, 96, 3), dtype=np.uint8))
    labels = setup['root'] / 'video_labels'
    summary = segment_video(
        str(frames), setup['config'], out=str(setup['root'] / 'v.mp4'),
        onnx=setup['int8'], labels_dir=str(labels), threads=1,
        progress=False, runtime='openvino')
    assert summary.frames == 3
    assert summary.backend == 'openvino int8'
    assert sorted(p.name for p in labels.iterdir()) == \
        ['0.png', '1.png', '2.png']


def test_benchmark_times_openvino_fp32_and_int8(tmp_path):
    """The benchmark's --openvino rows: both runtimes' calls of the deploy
    model, each returning logits at the input size, and one int8 ceiling
    shared by the two INT8 rows."""
    from mmseg_affnet.analysis import MODEL_ZOO, make_calls
    from mmseg_affnet.engine.segmentor import init_segmentor

    model = init_segmentor(load_config(MODEL_ZOO['AFFNet']))
    calls = make_calls({'AFFNet': model}, ['AFFNet'], (64, 64), 'cpu',
                       threads=1, opset=18, tmp_dir=str(tmp_path),
                       openvino=True)
    by_variant = {c.variant: c for c in calls if c.model == 'AFFNet'}
    assert by_variant['openvino'].precision == 'fp32'
    assert by_variant['openvino-int8'].precision == 'int8'
    for variant in ('openvino', 'openvino-int8'):
        assert by_variant[variant]().shape == (1, 19, 64, 64)
    ceilings = [c.precision for c in calls if c.model == 'matmul']
    assert sorted(ceilings) == ['fp32', 'int8']
