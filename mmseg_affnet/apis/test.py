"""Test runs, as ``tools/test.py`` starts them: metrics of a checkpoint on
a config's test split, label maps for a test server, painted images."""
import os
import os.path as osp
from typing import Optional

from mmengine.config import Config
from mmengine.model import is_model_wrapper

from ..engine.checkpoint import load_weights
from ..utils.io import refuse_existing
from .train import build_runner, check_dataloaders


def run_test(cfg: Config,
             checkpoint: str,
             out_dir: Optional[str] = None,
             show_dir: Optional[str] = None,
             tta: bool = False) -> dict:
    """Evaluate (or format) the test split of ``cfg`` with ``checkpoint``.

    The checkpoint is loaded strictly and weights-only
    (:func:`mmseg_affnet.engine.load_weights`): a checkpoint of another
    model is an error, not a randomly initialised head. Output folders that
    already hold files are refused.

    Args:
        cfg (Config): A config with ``test_dataloader``, ``test_evaluator``
            and ``work_dir``.
        checkpoint (str): The checkpoint file.
        out_dir (str, optional): Folder for the predicted label maps (PNG);
            overrides ``test_evaluator.output_dir``. Default: None.
        show_dir (str, optional): Folder for every test image painted with
            its prediction. Default: None.
        tta (bool): Test-time augmentation as mmseg's ``tools/test.py
            --tta`` runs it: the config's ``tta_pipeline`` reads the test
            images and its ``tta_model`` (``SegTTAModel``) averages the class
            probabilities of the augmented views. Default: False.

    Returns:
        dict: The metrics.

    Raises:
        ValueError: If ``tta`` is asked for and the config has no
            ``tta_model`` or ``tta_pipeline``.
    """
    if tta:
        if cfg.get('tta_model') is None or cfg.get('tta_pipeline') is None:
            raise ValueError(
                'Test-time augmentation needs tta_model and tta_pipeline in '
                "the config (e.g. configs/camvid/affnet_camvid_cpu.py's); add "
                'them, or test without --tta.')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if out_dir is not None:
        cfg.test_evaluator.output_dir = out_dir
        cfg.test_evaluator.keep_results = True
    if show_dir is not None:
        if 'visualization' not in cfg.default_hooks:
            raise ValueError('--show-dir needs default_hooks.visualization '
                             "(dict(type='SegVisualizationHook')).")
        cfg.default_hooks.visualization.draw = True
        cfg.default_hooks.visualization.interval = 1  # every image
        cfg.visualizer.save_dir = show_dir
    outputs = [cfg.test_evaluator.get('output_dir'), show_dir]
    refuse_existing(
        [folder for folder in outputs if folder and _has_files(folder)],
        'Pass an empty or new folder to --out / --show-dir.')
    check_dataloaders(cfg, 'test_dataloader')
    cfg.load_from, cfg.resume = None, False
    runner = build_runner(cfg)
    model = runner.model.module if is_model_wrapper(
        runner.model) else runner.model
    load_weights(model.module if tta else model, checkpoint)
    return runner.test()


def _has_files(folder: str) -> bool:
    return osp.isdir(folder) and any(os.scandir(folder)) or osp.isfile(folder)
