"""Building blocks shared by the models (as ``mmseg.models.utils``)."""
from .max_pool import ChannelsLastMaxPool2d

__all__ = ['ChannelsLastMaxPool2d']
