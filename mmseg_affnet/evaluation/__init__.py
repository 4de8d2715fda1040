from .metrics import GammaGroupIoUMetric

__all__ = ['GammaGroupIoUMetric']
