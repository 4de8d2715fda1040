from .affm_head import AFFMHead
from .fpn_pan_head import FPNPANHead

__all__ = ['AFFMHead', 'FPNPANHead']
