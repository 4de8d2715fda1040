import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

#: What an installed package ships in ``mmseg_affnet/.mim``, as every
#: OpenMMLab package does: mmengine resolves ``mmseg_affnet::<config>``
#: there, and the tools run from it.
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def read_requirements(path):
    with open(path) as f:
        return [
            line.strip() for line in f
            if line.strip() and not line.startswith('#')
        ]


def add_mim_extension():
    """Put ``configs/``, ``tools/`` and ``model-index.yml`` into
    ``mmseg_affnet/.mim``: links for an editable install, copies for a
    wheel or sdist (mmseg's ``setup.py`` does the same). The repository's
    own folders stay the source of truth; ``.mim`` is git-ignored."""
    if {'develop', 'editable_wheel'} & set(sys.argv):
        mode = 'symlink'
    elif {'sdist', 'bdist_wheel', 'build', 'install'} & set(sys.argv):
        mode = 'copy'
    else:
        return
    repo = osp.dirname(osp.abspath(__file__))
    mim = osp.join(repo, 'mmseg_affnet', '.mim')
    os.makedirs(mim, exist_ok=True)
    for name in MIM_FILES:
        source, target = osp.join(repo, name), osp.join(mim, name)
        if osp.islink(target) or osp.isfile(target):
            os.remove(target)
        elif osp.isdir(target):
            shutil.rmtree(target)
        if mode == 'symlink':
            os.symlink(osp.relpath(source, mim), target)
        elif osp.isdir(source):
            shutil.copytree(source, target,
                            ignore=shutil.ignore_patterns('__pycache__'))
        else:
            shutil.copyfile(source, target)


add_mim_extension()
setup(
    name='mmseg-affnet',
    version='0.1.0',
    description='AFFNet (attention feature fusion network) for '
    'MMSegmentation 1.x',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmseg_affnet', 'mmseg_affnet.*']),
    package_data={
        'mmseg_affnet': [
            'models/losses/*.json', '.mim/model-index.yml', '.mim/tools/*',
            '.mim/configs/*.py', '.mim/configs/*/*.py',
            '.mim/configs/*/*/*.py', '.mim/configs/*/metafile.yaml',
            '.mim/configs/*/README.md'
        ]
    },
    python_requires='>=3.8',
    install_requires=['torch>=2.0'] +
    read_requirements('requirements/runtime.txt'),
    extras_require={
        # The tests cover the optional OpenVINO backend too.
        'tests': read_requirements('requirements/tests.txt') +
        read_requirements('requirements/openvino.txt'),
        'openvino': read_requirements('requirements/openvino.txt'),
        'cluster': read_requirements('requirements/cluster.txt'),
        'docs': read_requirements('requirements/docs.txt'),
    },
)
