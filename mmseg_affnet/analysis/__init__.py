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
    'CSV_FIELDS', 'ORT_OPTION_VARIANTS', 'environment', 'make_rows',
    'plot_latency', 'result_paths', 'results_table', 'run_benchmark',
    'write_results', 'DEFAULT_DEPLOY_MODELS', 'FLOP_COUNTER', 'MODEL_ZOO', 'REFERENCE',
    'TimedCall', 'count_macs', 'cuda_peak_memory_mib', 'inference_params',
    'matmul_call', 'ort_call', 'select_deploy_models', 'select_models',
    'time_interleaved', 'torch_call'
]
