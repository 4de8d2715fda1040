"""Model helpers shared by the deploy and quantization tests."""
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm


def randomize_batch_norms(model: nn.Module) -> nn.Module:
    """Give every BN non-trivial statistics and affine parameters."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            shape = module.running_mean.shape
            module.running_mean.copy_(torch.rand(shape, generator=generator))
            module.running_var.copy_(
                0.5 + torch.rand(shape, generator=generator))
            module.weight.data.copy_(
                0.5 + torch.rand(shape, generator=generator))
            module.bias.data.copy_(torch.rand(shape, generator=generator))
    return model
