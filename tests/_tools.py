"""Paths of the repository, for tests that run its tools or read configs."""
import os.path as osp

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS_DIR = osp.join(REPO_ROOT, 'tools')
CONFIGS_DIR = osp.join(REPO_ROOT, 'configs')
