from setuptools import find_packages, setup


def read_requirements(path):
    with open(path) as f:
        return [
            line.strip() for line in f
            if line.strip() and not line.startswith('#')
        ]


setup(
    name='mmseg-affnet',
    version='0.1.0',
    description='AFFNet (attention feature fusion network) for '
    'MMSegmentation 1.x',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmseg_affnet', 'mmseg_affnet.*']),
    package_data={'mmseg_affnet': ['models/losses/*.json']},
    python_requires='>=3.8',
    install_requires=['torch>=2.0'] +
    read_requirements('requirements/runtime.txt'),
    extras_require={'tests': read_requirements('requirements/tests.txt')},
)
