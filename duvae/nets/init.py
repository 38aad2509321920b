r"""The initialisation shared by the image networks (docs/implementation.md §2.2, §2.3).

Every convolution weight :math:`\sim \mathcal{N}\big(0, \sqrt{2 / (k_h k_w C_\text{out})}\big)`
(He et al.'s fan-out rule, as in the reference ResNet and PixelCNN); every BatchNorm weight 1, bias 0.
"""

from __future__ import annotations

import math

from torch import nn


def he_normal_conv_(conv: nn.Conv2d) -> None:
    """Conv weight ~ N(0, sqrt(2 / (k_h * k_w * out_channels))), in place."""
    k_h, k_w = conv.kernel_size
    nn.init.normal_(conv.weight, 0.0, math.sqrt(2.0 / (k_h * k_w * conv.out_channels)))


def init_convs_and_batchnorms_(module: nn.Module) -> None:
    """Apply :func:`he_normal_conv_` to every ``Conv2d`` inside ``module`` and set every BN to 1 / 0."""
    for sub in module.modules():
        if isinstance(sub, nn.Conv2d):
            he_normal_conv_(sub)
        elif isinstance(sub, nn.BatchNorm2d):
            nn.init.ones_(sub.weight)
            nn.init.zeros_(sub.bias)
