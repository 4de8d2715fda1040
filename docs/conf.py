"""Sphinx configuration of the mmseg-affnet manual (MyST Markdown pages).

Built offline, warnings as errors (``.ci/run``):
``python -m sphinx -W --keep-going -n -b html docs docs/_build/html``.
No extension fetches anything: no intersphinx, the built-in theme.
"""
project = 'mmseg-affnet'
author = 'mmseg-affnet contributors'
copyright = '2026, mmseg-affnet contributors'
release = '0.1.0'

extensions = ['myst_parser']
source_suffix = {'.md': 'markdown'}
root_doc = 'index'
exclude_patterns = ['_build']

# Links of the form page.md#a-heading resolve to the heading's anchor.
myst_heading_anchors = 4
myst_enable_extensions = ['colon_fence']

html_theme = 'alabaster'
html_title = 'mmseg-affnet'
html_static_path = []
