"""Checks that run before training or testing starts, as a hook."""
from typing import Optional, Sequence

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import DATASETS, HOOKS
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..datasets import check_label_files
from ..models.utils import check_head_channels
from ..utils.config import iter_dicts

MIN_BATCH_ONE_SIDE = 32
SPLITS = ('train', 'val', 'test')


@HOOKS.register_module()
class PreflightCheckHook(Hook):
    """Find model and data problems before the first iteration, not in it.

    Before the run, the heads are checked against the backbone
    (:func:`mmseg_affnet.models.utils.check_head_channels`). Before
    training (for the train and val splits), before testing (test split)
    and before a validation outside training (val split):

    - the decode head's ``num_classes`` must equal the number of classes of
      each split's dataset (its ``metainfo`` or ``METAINFO``) and the
      ``num_classes`` of every ``CheckSegLabels`` step of its pipeline, so
      that labels and logits agree (a 10-class head tested on 19-class data
      is an error, not a table with 9 classes at 0 IoU);
    - every image and label map of the splits in ``label_splits``
      (default: all three; a split whose pipeline loads no labels, such as
      a test-server split, has none to check) is checked
      (:func:`mmseg_affnet.datasets.check_label_files`, in parallel): a
      label holding label ids instead of train ids, a truncated or empty
      file, or an image and label of different sizes is named before the
      first epoch, not when the loader reaches it (for a val file, after
      hours of training; for a truncated train label, inside mmcv's decoder
      without the file's name). Measured: 0.2 s for the demo's 280 pairs;
      about 29 ms per 1024x2048 pair in one process, so Cityscapes' 3,475
      pairs take about 15 s with 8 processes (an estimate from 40 pairs).
      ``label_splits=()`` skips it.

    Before training, every loss with class weights (``class_weight``) must
    have one per class of its head (a 10-value file for 19 classes is named
    here, not by PyTorch inside the first iteration).

    Before the first training iteration, a batch of one image of at most
    32 pixels a side is refused when the model has batch norms: its 1/32
    features are 1x1, and batch norm cannot compute statistics from one
    value per channel.

    Dataset folders are checked by the tools before the runner is built
    (:func:`mmseg_affnet.datasets.check_dataset_layout`), since mmengine
    builds the datasets before any hook runs.

    Args:
        label_splits (Sequence[str]): Dataloaders whose label maps are all
            checked before they are used: any of ``'train'``, ``'val'`` and
            ``'test'``. Default: ('train', 'val', 'test').
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 label_splits: Sequence[str] = ('train', 'val', 'test')):
        unknown = set(label_splits) - set(SPLITS)
        if unknown:
            raise ValueError(f'label_splits may hold "train", "val" and '
                             f'"test", got {sorted(unknown)}.')
        self.label_splits = tuple(label_splits)
        self._first_batch_pending = False
        self._checked = set()

    def before_run(self, runner) -> None:
        """Check the heads against the backbone."""
        check_head_channels(_unwrap(runner.model))

    def before_train(self, runner) -> None:
        """Check the losses' class weights, the train and val splits."""
        _check_loss_class_weights(_unwrap(runner.model))
        self._first_batch_pending = True
        self._check_splits(runner, ('train', 'val'))

    def before_val(self, runner) -> None:
        """Check the val split, unless done before training."""
        self._check_splits(runner, ('val', ))

    def before_test(self, runner) -> None:
        """Check the test split."""
        self._check_splits(runner, ('test', ))

    def _check_splits(self, runner, splits: Sequence[str]) -> None:
        """Check class counts, then the label maps of ``label_splits``."""
        num_classes = _head_classes(runner)
        if num_classes is None:
            return
        for split in splits:
            loader_cfg = runner.cfg.get(f'{split}_dataloader')
            if split in self._checked or not loader_cfg:
                continue
            dataset_cfg = loader_cfg['dataset']
            _check_class_counts(dataset_cfg, f'{split}_dataloader',
                                num_classes)
            if split in self.label_splits:
                check_label_files(dataset_cfg, f'{split}_dataloader',
                                  num_classes)
            self._checked.add(split)

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        """Refuse a first batch too small for batch-norm statistics."""
        if not self._first_batch_pending or not data_batch:
            return
        self._first_batch_pending = False
        inputs = data_batch['inputs']
        model = _unwrap(runner.model)
        has_bn = any(isinstance(m, _BatchNorm) for m in model.modules())
        side = min(min(x.shape[-2:]) for x in inputs)
        if has_bn and len(inputs) == 1 and side <= MIN_BATCH_ONE_SIDE:
            raise ValueError(
                f'Training on batches of 1 image of {side} pixels (the '
                'shorter side): the deepest features of a 32x-downsampling '
                'network are then 1x1, and batch norm cannot compute '
                'statistics from one value per channel. Use a batch of at '
                f'least 2 (train_dataloader.batch_size) or inputs larger '
                f'than {MIN_BATCH_ONE_SIDE} pixels.')


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


def _check_loss_class_weights(model) -> None:
    for head_name in ('decode_head', 'auxiliary_head'):
        heads = getattr(model, head_name, None)
        heads = heads if isinstance(heads, nn.ModuleList) else [heads]
        for index, head in enumerate(h for h in heads if h is not None):
            losses = getattr(head, 'loss_decode', None)
            losses = losses if isinstance(losses, nn.ModuleList) \
                else [losses]
            for loss in losses:
                weights = getattr(loss, 'class_weight', None)
                if weights is None or len(weights) == head.num_classes:
                    continue
                name = head_name if len(heads) == 1 else \
                    f'{head_name}[{index}]'
                raise ValueError(
                    f'model.{name}: {type(loss).__name__} '
                    f'({getattr(loss, "loss_name", "")}) has {len(weights)} '
                    f'class weights but num_classes is {head.num_classes}; '
                    'give one weight per class (class_weight of the loss).')


def _head_classes(runner) -> Optional[int]:
    head = getattr(_unwrap(runner.model), 'decode_head', None)
    return getattr(head, 'num_classes', None)


def _check_class_counts(dataset_cfg: dict, name: str,
                        num_classes: int) -> None:
    dataset_type = DATASETS.get(dataset_cfg.get('type', ''))
    classes = (dataset_cfg.get('metainfo') or {}).get(
        'classes', getattr(dataset_type, 'METAINFO', {}).get('classes'))
    if classes is not None and len(classes) != num_classes:
        raise ValueError(
            f'model.decode_head.num_classes is {num_classes} but the '
            f'{name} dataset ({dataset_cfg.get("type")}) has {len(classes)} '
            'classes; set num_classes (head and losses) to the number of '
            'classes of the dataset, or give the dataset a metainfo with '
            'your classes.')
    for step in iter_dicts(dataset_cfg.get('pipeline', [])):
        if step.get('type') == 'CheckSegLabels' and step.get(
                'num_classes', num_classes) != num_classes:
            raise ValueError(
                f'{name}: CheckSegLabels accepts labels below '
                f'{step["num_classes"]} but model.decode_head.num_classes is '
                f'{num_classes}; use the same num_classes in both.')

