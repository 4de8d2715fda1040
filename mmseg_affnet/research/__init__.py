"""The research harness: campaigns of trainings whose results are committed.

Not part of the plugin's API (nothing outside this package imports it; its
command lines are ``tools/compare.py`` and ``tools/experiments.py``):

- :mod:`.campaign`: the engine both campaigns run on (process group, skip
  finished runs, resume interrupted ones, rank 0 writes, machine stamp);
- :mod:`.result_store`: ``result.json`` files (digest-checked), their
  summaries' documentation blocks;
- :mod:`.comparison` and :mod:`.comparison_recipe`: models x one recipe;
- :mod:`.experiment_suite` and :mod:`.suites`: the paper's variants x
  seeds on one recipe, and the verdicts of its claims;
- :mod:`.seed_statistics`: Welch's t-test over seeds.
"""
from .comparison import run_comparison
from .experiment_suite import run_experiments

__all__ = ['run_comparison', 'run_experiments']
