"""Writers of dataset folders (not datasets): the synthetic demo set and the
stage-1 patch set, both in the Cityscapes layout, each with a manifest that
lets a rerun resume, keep or refuse a folder.

- :mod:`.street_scenes`: the scene painter (:func:`draw_street_scene`).
- :mod:`.demo_dataset`: :func:`generate_demo_dataset`, its writer.
- :mod:`.patches`: :func:`make_patches`, overlapping patches of Cityscapes.
- :mod:`.manifest`: reading and writing the manifests.
"""
from .demo_dataset import generate_demo_dataset
from .patches import make_patches
from .street_scenes import draw_street_scene

__all__ = ['draw_street_scene', 'generate_demo_dataset', 'make_patches']
