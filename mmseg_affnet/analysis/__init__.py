"""Measuring segmentors: latency, parameters, multiply-adds, the zoo.

- :mod:`.timing`: :func:`time_interleaved` and the :class:`TimedCall`
  builders (PyTorch, onnxruntime, the matmul ceiling).
- :mod:`.complexity`: :func:`inference_params`, :func:`count_macs`.
- :mod:`.zoo`: :data:`MODEL_ZOO` (AFFNet and mmseg's real-time models) and
  :data:`REFERENCE`.
- :mod:`.benchmark`: :func:`run_benchmark`, the flow of
  ``tools/benchmark.py``, and its table, files and plot.
"""
from .benchmark import (CSV_FIELDS, ORT_OPTION_VARIANTS, environment,
                        make_rows, plot_latency, result_paths, results_table,
                        run_benchmark, write_results)
from .complexity import FLOP_COUNTER, count_macs, inference_params
from .timing import (TimedCall, cuda_peak_memory_mib, matmul_call, ort_call,
                     time_interleaved, torch_call)
from .zoo import (DEFAULT_DEPLOY_MODELS, MODEL_ZOO, REFERENCE,
                  select_deploy_models, select_models)

__all__ = [
    'count_macs', 'CSV_FIELDS', 'cuda_peak_memory_mib',
    'DEFAULT_DEPLOY_MODELS', 'environment', 'FLOP_COUNTER', 'inference_params',
    'make_rows', 'matmul_call', 'MODEL_ZOO', 'ort_call', 'ORT_OPTION_VARIANTS',
    'plot_latency', 'REFERENCE', 'result_paths', 'results_table',
    'run_benchmark', 'select_deploy_models', 'select_models',
    'time_interleaved', 'TimedCall', 'torch_call', 'write_results'
]
