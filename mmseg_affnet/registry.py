"""This package's scope in mmengine's registry tree: one child of each of
mmseg's registries, named ``mmseg_affnet``, written out by name as
``mmseg/registry/registry.py`` writes its own.

The classes themselves are registered in mmseg's registries (configs name
them under ``default_scope='mmseg'``). mmengine marks every dict that a
config inherits through ``mmseg_affnet::<path>`` with
``_scope_='mmseg_affnet'`` and builds it with the registry of that scope;
these children find it, and through their parents every mmseg, mmengine and
mmseg_affnet class, as ``mmseg.registry`` does for ``mmseg::``.
"""
from mmengine.registry import Registry
from mmseg.registry import DATA_SAMPLERS as MMSEG_DATA_SAMPLERS
from mmseg.registry import DATASETS as MMSEG_DATASETS
from mmseg.registry import EVALUATOR as MMSEG_EVALUATOR
from mmseg.registry import HOOKS as MMSEG_HOOKS
from mmseg.registry import INFERENCERS as MMSEG_INFERENCERS
from mmseg.registry import LOG_PROCESSORS as MMSEG_LOG_PROCESSORS
from mmseg.registry import LOOPS as MMSEG_LOOPS
from mmseg.registry import METRICS as MMSEG_METRICS
from mmseg.registry import MODEL_WRAPPERS as MMSEG_MODEL_WRAPPERS
from mmseg.registry import MODELS as MMSEG_MODELS
from mmseg.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMSEG_OPTIM_WRAPPER_CONSTRUCTORS
from mmseg.registry import OPTIM_WRAPPERS as MMSEG_OPTIM_WRAPPERS
from mmseg.registry import OPTIMIZERS as MMSEG_OPTIMIZERS
from mmseg.registry import PARAM_SCHEDULERS as MMSEG_PARAM_SCHEDULERS
from mmseg.registry import RUNNER_CONSTRUCTORS as MMSEG_RUNNER_CONSTRUCTORS
from mmseg.registry import RUNNERS as MMSEG_RUNNERS
from mmseg.registry import TASK_UTILS as MMSEG_TASK_UTILS
from mmseg.registry import TRANSFORMS as MMSEG_TRANSFORMS
from mmseg.registry import VISBACKENDS as MMSEG_VISBACKENDS
from mmseg.registry import VISUALIZERS as MMSEG_VISUALIZERS
from mmseg.registry import WEIGHT_INITIALIZERS as MMSEG_WEIGHT_INITIALIZERS

SCOPE = 'mmseg_affnet'


def _child(parent: Registry) -> Registry:
    return Registry(parent.name, parent=parent, scope=SCOPE)


RUNNERS = _child(MMSEG_RUNNERS)
RUNNER_CONSTRUCTORS = _child(MMSEG_RUNNER_CONSTRUCTORS)
LOOPS = _child(MMSEG_LOOPS)
HOOKS = _child(MMSEG_HOOKS)
DATASETS = _child(MMSEG_DATASETS)
DATA_SAMPLERS = _child(MMSEG_DATA_SAMPLERS)
TRANSFORMS = _child(MMSEG_TRANSFORMS)
MODELS = _child(MMSEG_MODELS)
MODEL_WRAPPERS = _child(MMSEG_MODEL_WRAPPERS)
WEIGHT_INITIALIZERS = _child(MMSEG_WEIGHT_INITIALIZERS)
OPTIMIZERS = _child(MMSEG_OPTIMIZERS)
OPTIM_WRAPPERS = _child(MMSEG_OPTIM_WRAPPERS)
OPTIM_WRAPPER_CONSTRUCTORS = _child(MMSEG_OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = _child(MMSEG_PARAM_SCHEDULERS)
METRICS = _child(MMSEG_METRICS)
EVALUATOR = _child(MMSEG_EVALUATOR)
TASK_UTILS = _child(MMSEG_TASK_UTILS)
VISUALIZERS = _child(MMSEG_VISUALIZERS)
VISBACKENDS = _child(MMSEG_VISBACKENDS)
LOG_PROCESSORS = _child(MMSEG_LOG_PROCESSORS)
INFERENCERS = _child(MMSEG_INFERENCERS)

__all__ = [
    'DATASETS', 'DATA_SAMPLERS', 'EVALUATOR', 'HOOKS', 'INFERENCERS',
    'LOG_PROCESSORS', 'LOOPS', 'METRICS', 'MODELS', 'MODEL_WRAPPERS',
    'OPTIMIZERS', 'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS',
    'PARAM_SCHEDULERS', 'RUNNERS', 'RUNNER_CONSTRUCTORS', 'SCOPE',
    'TASK_UTILS', 'TRANSFORMS', 'VISBACKENDS', 'VISUALIZERS',
    'WEIGHT_INITIALIZERS'
]
