from .affm_head import AFFMHead
from .fpn_pan_head import FPNPANHead
from .spm_head import SPMHead

__all__ = ['AFFMHead', 'FPNPANHead', 'SPMHead']
