"""CBAM attention (Woo et al., ECCV 2018), as AFFM uses it."""
import torch
import torch.nn as nn
from torch import Tensor


class ChannelAttention(nn.Module):
    """CBAM channel gate: ``sigmoid(MLP(AvgPool F) + MLP(MaxPool F))``.

    Args:
        channels (int): Channels of the input.
        reduction_ratio (int): Hidden width of the shared MLP is
            ``max(1, channels // reduction_ratio)``.

    Shape:
        (N, C, H, W) -> (N, C, 1, 1) gate in (0, 1).
    """

    def __init__(self, channels: int, reduction_ratio: int):
        super().__init__()
        hidden = max(1, channels // reduction_ratio)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        avg = x.mean(dim=(2, 3), keepdim=True)
        peak = x.amax(dim=(2, 3), keepdim=True)
        return torch.sigmoid(self.mlp(avg) + self.mlp(peak))


class SpatialAttention(nn.Module):
    """CBAM spatial gate: ``sigmoid(conv([AvgPool_c F; MaxPool_c F]))``.

    Args:
        kernel_size (int): Size of the conv over the two pooled maps; the
            paper uses 3 (CBAM's default is 7). Default: 3.

    Shape:
        (N, C, H, W) -> (N, 1, H, W) gate in (0, 1).
    """

    def __init__(self, kernel_size: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.cat(
            [x.mean(dim=1, keepdim=True),
             x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))


class CBAM(nn.Module):
    """Convolutional block attention: channel gate, then spatial gate.

    Args:
        channels (int): Channels of the input.
        reduction_ratio (int): See :class:`ChannelAttention`.
        spatial_kernel_size (int): See :class:`SpatialAttention`.

    Shape:
        (N, C, H, W) -> (N, C, H, W)
    """

    def __init__(self, channels: int, reduction_ratio: int,
                 spatial_kernel_size: int):
        super().__init__()
        self.channel_gate = ChannelAttention(channels, reduction_ratio)
        self.spatial_gate = SpatialAttention(spatial_kernel_size)

    def forward(self, x: Tensor) -> Tensor:
        x = x * self.channel_gate(x)
        return x * self.spatial_gate(x)
