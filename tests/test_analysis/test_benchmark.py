"""mmseg_affnet.analysis and tools/benchmark.py on tiny inputs.

No timing is asserted: only that every model, variant and column is there,
that the numbers are consistent with each other, that multiply-adds match a
hand count and that results are never overwritten.
"""
import csv
import json
import math
import os.path as osp

import matplotlib.image
import pytest
import torch.nn as nn

from tests.utils.tools import exit_status, tool_error, tool_main
from mmseg_affnet.analysis import (CSV_FIELDS, MODEL_ZOO,
                                   ORT_OPTION_VARIANTS, REFERENCE, TimedCall,
                                   count_macs, inference_params, make_rows,
                                   result_paths, results_table,
                                   select_deploy_models, select_models,
                                   time_interleaved, TRAIN_STEP_VARIANTS)

FAST_SCNN_CONFIG = 'mmseg::fastscnn/fast_scnn_8xb4-160k_cityscapes-512x1024.py'
FAST_SCNN_NAME = 'fast_scnn_8xb4-160k_cityscapes-512x1024'


@pytest.fixture(scope='module')
def benchmark_dir(tmp_path_factory) -> str:
    """Benchmark AFFNet (with the session-option rows) and a config given by
    path, both with deploy rows, at one tiny size."""
    out_dir = str(tmp_path_factory.mktemp('benchmark'))
    tool_main('benchmark')([
        '--models', 'AFFNet', '--configs', FAST_SCNN_CONFIG,
        '--deploy-models', 'AFFNet', FAST_SCNN_NAME, '--ort-options',
        '--train-step', '--sizes', '64x128', '--warmup', '1', '--iters', '2',
        '--threads', '1', '--device', 'cpu', '--out-dir', out_dir])
    return out_dir


def read_csv(path: str):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_benchmark_csv_has_every_run_and_column(benchmark_dir):
    rows = read_csv(osp.join(benchmark_dir, 'benchmark.csv'))
    runs = [(r['model'], r['variant'], r['precision']) for r in rows]
    deploy = [('fused', 'fp32'), ('onnxruntime', 'fp32'),
              ('onnxruntime-int8', 'int8')]
    options = [(f'ort:{name}', 'fp32') for name in ORT_OPTION_VARIANTS]
    train = [('train-step', 'fp32')] + list(TRAIN_STEP_VARIANTS)
    assert sorted(runs) == sorted(
        [('AFFNet', v, p) for v, p in [('eager', 'fp32')] + train + deploy +
         options] +
        [(FAST_SCNN_NAME, v, p) for v, p in
         [('eager', 'fp32'), ('train-step', 'fp32')] + deploy] +
        [('matmul', '2048x2048', 'fp32'), ('matmul', '2048x2048', 'int8')])
    for row in rows:
        assert set(row) == set(CSV_FIELDS)
        assert row['input'] == '64x128' and row['device'] == 'cpu'
        assert row['peak_memory_mib'] == ''  # not measured on CPU
        median, p90 = float(row['latency_median_ms']), float(
            row['latency_p90_ms'])
        assert 0 < median <= p90
        assert math.isclose(float(row['fps']), 1e3 / median, rel_tol=1e-6)
        if row['variant'].startswith('train-step'):
            assert row['gmac_per_s'] == row['ceiling_fraction'] == ''
            continue
        assert math.isclose(float(row['gmac_per_s']),
                            float(row['gmacs']) / median * 1e3, rel_tol=1e-6)
        assert float(row['gmacs']) > 0
    by_run = dict(zip(runs, rows))
    reference = by_run[('AFFNet', 'eager', 'fp32')]
    assert float(reference['latency_vs_affnet']) == 1.0
    assert float(reference['macs_vs_affnet']) == 1.0
    # Every training step is compared with AFFNet's fp32 training step.
    reference_train = by_run[('AFFNet', 'train-step', 'fp32')]
    assert float(reference_train['latency_vs_affnet']) == 1.0
    for run in [(FAST_SCNN_NAME, 'train-step', 'fp32')] + [
            ('AFFNet', ) + variant for variant in TRAIN_STEP_VARIANTS]:
        assert math.isclose(
            float(by_run[run]['latency_vs_affnet']),
            float(by_run[run]['latency_median_ms']) /
            float(reference_train['latency_median_ms']),
            rel_tol=1e-6)
    for precision in ('fp32', 'int8'):
        assert float(by_run[('matmul', '2048x2048', precision)]
                     ['ceiling_fraction']) == 1.0
    # An INT8 row is a fraction of the int8 ceiling, not the fp32 one.
    int8_row = by_run[('AFFNet', 'onnxruntime-int8', 'int8')]
    assert math.isclose(
        float(int8_row['ceiling_fraction']),
        float(int8_row['gmac_per_s']) /
        float(by_run[('matmul', '2048x2048', 'int8')]['gmac_per_s']),
        rel_tol=1e-6)
    assert float(by_run[('matmul', '2048x2048', 'fp32')]
                 ['gmacs']) == pytest.approx(2048**3 / 1e9)


@pytest.mark.slow
def test_benchmark_json_matches_csv(benchmark_dir):
    with open(osp.join(benchmark_dir, 'benchmark.json')) as f:
        result = json.load(f)
    rows = read_csv(osp.join(benchmark_dir, 'benchmark.csv'))
    assert [(r['model'], r['variant']) for r in result['rows']] == \
        [(r['model'], r['variant']) for r in rows]
    for from_json, from_csv in zip(result['rows'], rows):
        assert from_json['latency_median_ms'] == pytest.approx(
            float(from_csv['latency_median_ms']))
    environment = result['environment']
    assert environment['threads'] == 1 and environment['iters'] == 2
    assert 'multiply-add' in environment['flop_counter']


@pytest.mark.slow
def test_benchmark_plot_is_an_image(benchmark_dir):
    image = matplotlib.image.imread(osp.join(benchmark_dir, 'benchmark.png'))
    assert image.ndim == 3 and min(image.shape[:2]) > 100


@pytest.mark.slow
def test_benchmark_refuses_to_overwrite_results(benchmark_dir):
    with pytest.raises(FileExistsError, match='benchmark.csv'):
        result_paths(benchmark_dir, 'benchmark')
    message = tool_error('benchmark', '--models', 'AFFNet', '--out-dir',
                         benchmark_dir)
    assert 'already exist' in message
    assert result_paths(benchmark_dir, 'other')['csv'] == osp.join(
        benchmark_dir, 'other.csv')


def test_benchmark_rejects_unknown_models_and_sizes(capsys):
    with pytest.raises(ValueError, match='Unknown models'):
        select_models(['NoSuchNet'], [])
    with pytest.raises(ValueError, match='named'):
        select_models(['AFFNet'], ['a/AFFNet.py'])
    with pytest.raises(ValueError, match='not among the benchmarked'):
        select_deploy_models(['Fast-SCNN'], select_models(['AFFNet']))
    assert select_deploy_models(None, select_models(list(MODEL_ZOO))) == [
        'AFFNet', 'Fast-SCNN'
    ]
    assert exit_status('benchmark', '--sizes', '512by1024') == 2
    assert 'not HxW' in capsys.readouterr().err
    assert tool_error('benchmark', '--models', 'NoSuchNet').startswith(
        'error: Unknown models')


def test_time_interleaved_calls_each_runner_in_turn():
    order = []
    runners = [lambda name=name: order.append(name) for name in 'abc']
    times = time_interleaved(runners, warmup=2, iters=3)
    assert order == list('abc') * 5
    assert [len(t) for t in times] == [3, 3, 3]
    assert all(t >= 0 for runner_times in times for t in runner_times)
    with pytest.raises(ValueError, match='iters >= 1'):
        time_interleaved(runners, warmup=0, iters=0)


class TinySegmentor(nn.Module):
    """A segmentor-like module with a hand-countable forward."""
    align_corners = False

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1, bias=False)
        self.auxiliary_head = nn.Conv2d(3, 4, 1)

    def forward(self, inputs, mode='tensor'):
        return self.conv(inputs)


def test_count_macs_and_params_match_a_hand_count():
    model = TinySegmentor().eval()
    # 1x1 conv, 3 -> 4 channels, on 8x10 outputs: 3 * 4 * 80 multiply-adds
    assert count_macs(model, (8, 10)) == 3 * 4 * 80
    assert inference_params(model) == 12  # auxiliary head left out


def test_make_rows_and_table_from_given_times():
    calls = [TimedCall(REFERENCE, 'eager', 'fp32', lambda: None),
             TimedCall(REFERENCE, 'onnxruntime-int8', 'int8', lambda: None),
             TimedCall('matmul', '2048x2048', 'fp32', lambda: None),
             TimedCall('matmul', '2048x2048', 'int8', lambda: None)]
    times = [[0.2, 0.1, 0.3], [0.05, 0.05, 0.05], [0.5, 0.5, 0.5],
             [0.25, 0.25, 0.25]]
    rows = make_rows(calls, times, [None] * 4, 'cpu', (64, 128),
                     {REFERENCE: 2_000_000}, {REFERENCE: 10**9},
                     {REFERENCE: 'affnet.py'})
    eager, int8, matmul, matmul_int8 = rows
    assert eager['latency_median_ms'] == pytest.approx(200)
    assert eager['gmac_per_s'] == pytest.approx(5.0)
    assert int8['latency_vs_affnet'] == pytest.approx(0.25)
    assert matmul['gmac_per_s'] == pytest.approx(2048**3 / 0.5 / 1e9)
    assert eager['ceiling_fraction'] == pytest.approx(
        5.0 / matmul['gmac_per_s'])
    assert int8['ceiling_fraction'] == pytest.approx(
        20.0 / matmul_int8['gmac_per_s'])
    table = results_table(rows)
    assert table.count('\n') == 5 and '| onnxruntime-int8 |' in table


def test_library_calls_leave_threads_and_cudnn_as_they_found_them():
    """No hidden global state: the benchmark scopes its threads and cuDNN
    autotuning, and preparing a model for inference changes only the
    model."""
    import torch
    from mmseg_affnet.analysis import run_benchmark, torch_settings
    from mmseg_affnet.deploy import prepare_for_inference

    before = torch.get_num_threads(), torch.backends.cudnn.benchmark
    with torch_settings(before[0] + 1, cudnn_benchmark=not before[1]):
        assert torch.get_num_threads() == before[0] + 1
        assert torch.backends.cudnn.benchmark is not before[1]
    assert (torch.get_num_threads(), torch.backends.cudnn.benchmark) == before

    prepare_for_inference(
        nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)))
    run_benchmark({'AFFNet': MODEL_ZOO['AFFNet']}, [], [(64, 64)], ['cpu'],
                  warmup=0, iters=1, threads=before[0] + 1, int8=False)
    assert (torch.get_num_threads(), torch.backends.cudnn.benchmark) == before
