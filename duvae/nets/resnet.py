r"""The image encoder backbone: a small ResNet for 28x28 Omniglot (docs/implementation.md §2.2).

Three residual blocks with stride 2 shrink the image :math:`28 \to 14 \to 7 \to 4`; a
:math:`4 \times 4` convolution without padding then maps the :math:`64 \times 4 \times 4` tensor
to a ``feature_dim``-vector (512), followed by BN and ELU. The posterior head
(:mod:`duvae.posteriors`) turns this feature into the mean and log-variance of
:math:`q_\phi(z|x)` (paper eq. 1; eq. 5-7 for DU-VAE).

A residual block (He et al. 2016) with input :math:`a` computes

.. math::
    \mathrm{ELU}\big(\mathrm{BN}(\mathrm{conv}_{3\times3}(\mathrm{ELU}(\mathrm{BN}(\mathrm{conv}^{s}_{3\times3}(a)))))
    + \mathrm{shortcut}(a)\big),

where the first convolution has stride :math:`s` and the shortcut is the identity, or a strided
:math:`1 \times 1` convolution + BN when the shape changes. All convolutions are bias-free.

Initialisation (docs/implementation.md §2.2): every convolution weight
:math:`N(0, \sqrt{2 / (k \cdot k \cdot C_{out})})`, BN weight 1 and bias 0.
"""

from __future__ import annotations

import torch
from torch import nn

from duvae.nets.init import init_convs_and_batchnorms_


class ResidualBlock(nn.Module):
    """conv3x3(stride) -> BN -> ELU -> conv3x3 -> BN, plus shortcut, then ELU.

    Shapes: ``[batch, in_channels, H, W] -> [batch, out_channels, ceil(H / stride), ceil(W / stride)]``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ELU(),
            nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        else:
            self.shortcut = nn.Identity()
        self.activation = nn.ELU()

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return self.activation(self.main(a) + self.shortcut(a))


class ResNetEncoder(nn.Module):
    """``n_blocks`` stride-2 residual blocks, then a full-size conv to ``feature_dim``, BN, ELU.

    Args:
        in_channels: image channels (1 for Omniglot).
        channels: channels of every residual block (64).
        feature_dim: output size (512); also ``out_features``.
        n_blocks: number of stride-2 residual blocks (3).
        image_size: side of the square input (28); the head's kernel is the side left after
            the blocks (4 for 28 and 3 blocks), so its output is ``1 x 1``.

    ``forward``: ``[batch, in_channels, image_size, image_size] -> [batch, feature_dim]``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: int = 64,
        feature_dim: int = 512,
        n_blocks: int = 3,
        image_size: int = 28,
    ):
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("channels", channels),
            ("feature_dim", feature_dim),
            ("n_blocks", n_blocks),
            ("image_size", image_size),
        ):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.in_channels = in_channels
        self.image_size = image_size
        self.out_features = feature_dim
        blocks, side = [], image_size
        for i in range(n_blocks):
            blocks.append(ResidualBlock(in_channels if i == 0 else channels, channels, stride=2))
            side = (side - 1) // 2 + 1  # conv3x3, stride 2, pad 1: 28 -> 14 -> 7 -> 4
        self.blocks = nn.Sequential(*blocks)
        self.final_side = side
        self.head = nn.Sequential(
            nn.Conv2d(channels, feature_dim, side, stride=1, padding=0, bias=False),
            nn.BatchNorm2d(feature_dim),
            nn.ELU(),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Convs N(0, sqrt(2 / (k k out))), BN weight 1 / bias 0 (docs/implementation.md §2.2)."""
        init_convs_and_batchnorms_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [batch, C, H, W]`` -> ``f(x) [batch, feature_dim]``."""
        expected = (self.in_channels, self.image_size, self.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"x must be [batch, {', '.join(map(str, expected))}], got shape {tuple(x.shape)}")
        return self.head(self.blocks(x)).flatten(1)
