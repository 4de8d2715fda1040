"""Measuring segmentors: latency, parameters, multiply-adds, the zoo.

- :mod:`.timing`: :func:`time_interleaved`, :func:`median_latencies_ms`,
  the :class:`TimedCall` builders (PyTorch, onnxruntime, the matmul
  ceiling), :func:`torch_settings` (threads and cuDNN autotuning for a
  block only) and :func:`machine` (the hardware a measurement ran on).
- :mod:`.complexity`: :func:`inference_params`, :func:`count_macs`.
- :mod:`.zoo`: :data:`MODEL_ZOO` (AFFNet and mmseg's real-time models) and
  :data:`REFERENCE`.
- :mod:`.benchmark`: :func:`run_benchmark`, the flow of
  ``tools/benchmark.py``, and its table, files and plot;
  :mod:`.benchmark_calls`: what it times (:func:`make_calls`).
- :mod:`.report`: Markdown tables, CSV text and scatter plots, drawn the
  same way for the benchmark and the comparison.
"""
from .benchmark import (CSV_FIELDS, environment, make_rows, plot_latency,
                        result_paths, results_table, run_benchmark,
                        write_results)
from .benchmark_calls import (ORT_OPTION_VARIANTS, TRAIN_STEP_VARIANTS,
                              make_calls)
from .complexity import FLOP_COUNTER, count_macs, inference_params
from .timing import (TimedCall, cuda_peak_memory_mib, machine, matmul_calls,
                     median_latencies_ms, ort_call, time_interleaved,
                     torch_call, torch_settings)
from .zoo import (DEFAULT_DEPLOY_MODELS, MODEL_ZOO, REFERENCE, parse_size,
                  select_deploy_models, select_models)

__all__ = [
    'count_macs', 'CSV_FIELDS', 'cuda_peak_memory_mib',
    'DEFAULT_DEPLOY_MODELS', 'environment', 'FLOP_COUNTER', 'inference_params',
    'machine', 'make_calls', 'make_rows', 'matmul_calls',
    'median_latencies_ms', 'MODEL_ZOO', 'ort_call', 'ORT_OPTION_VARIANTS',
    'parse_size', 'plot_latency', 'REFERENCE', 'result_paths', 'results_table',
    'run_benchmark', 'select_deploy_models', 'select_models',
    'time_interleaved', 'TimedCall', 'torch_call', 'torch_settings',
    'TRAIN_STEP_VARIANTS', 'write_results'
]
