"""Importing the scripts of ``tools/`` in tests."""
import importlib.util
import os.path as osp
from types import ModuleType

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS_DIR = osp.join(REPO_ROOT, 'tools')


def load_tool(name: str) -> ModuleType:
    """Import ``tools/<name>.py`` as a module (``test`` would be the
    stdlib's, so the module gets a name of its own)."""
    spec = importlib.util.spec_from_file_location(
        f'affnet_tool_{name}', osp.join(TOOLS_DIR, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
