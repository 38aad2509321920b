r"""The image decoder: a PixelCNN conditioned on :math:`z` through latent feature maps (docs/implementation.md §2.3).

A binary image :math:`x \in \{0, 1\}^{H \times W}` is modelled pixel by pixel in raster order
(paper eq. 1 with an autoregressive decoder, :math:`p(x|z) = \prod_i p(x_i|x_{<i}, z)`):

.. math::
    \log p_\theta(x|z) = \sum_{i} \big[x_i \log \sigma(\ell_i) + (1 - x_i) \log \sigma(-\ell_i)\big],
    \qquad \ell_i = \ell_i(x_{<i}, z),

where :math:`\ell_i` is the logit of the Bernoulli mean :math:`p_i = \sigma(\ell_i)` of pixel ``i``.
We evaluate it from the logits with ``logsigmoid`` (numerically stable, exact). The reference
code instead computes :math:`x \log(p + 10^{-12}) + (1 - x)\log(1 - p + 10^{-12})` from the
sigmoid output; the two agree to ~1e-12 per pixel except when a pixel's predicted probability is
within 1e-12 of the wrong value, where the reference's per-pixel term is capped at
:math:`\log 10^{-12} \approx -27.6` and ours is not.

Architecture (the reference's ``mode='large'``, docs/implementation.md §2.3; ``kernel_sizes`` has one entry per layer):

- **Latent injection**: :math:`s = \mathrm{reshape}(A z + b)`, ``latent_maps`` (4) feature maps
  of ``H x W``, concatenated to the image: the network input has ``1 + latent_maps`` channels.
- **Masked convolution** (van den Oord et al. 2016): for the first ``masked_channels`` input
  channels the kernel is zero right of the centre on the centre row and on every row below;
  type A also zeroes the centre, type B keeps it. The other input channels (the latent maps,
  functions of :math:`z` only) see the full kernel.
- **Layer 0**: masked conv type A, ``1 + latent_maps -> channels``, only the image channel
  masked; BN; ELU.
- **Layers 1 .. n-1**: residual blocks ``conv1x1 (C -> C/2), BN, ELU, masked conv type B (k x k),
  BN, ELU, conv1x1 (C/2 -> C), BN``; output ``ELU(block(a) + a)``.
- **Skip ("direct connect") path**, for ``n >= 3`` layers: ``n - 2`` extra residual blocks,
  ``skip_j`` with the kernel size of layer ``j + 1``. Before layer ``i >= 3`` its input becomes
  ``out_{i-1} + skip_{i-3}(out_{i-3})``; the stack returns ``out_{n-1} + skip_{n-3}(out_{n-3})``.
  With ``n = 13`` that is the reference's 11 skip blocks. Shorter stacks (``n < 3``) have no skip path.
- **Head**: conv1x1 ``C -> C``, BN, ELU, conv1x1 ``C -> 1``: the logit :math:`\ell_i` per pixel.

Gated variant (``gated=True``): the blocks use the gated activation unit of van den Oord et al.
(2016, "Conditional image generation with PixelCNN decoders"),

.. math::
    y = \tanh(W_f * u + V_f * s) \odot \sigma(W_g * u + V_g * s),

with :math:`W_{f,g}` a masked type-B convolution of the block's reduced input :math:`u` and
:math:`V_{f,g}` a :math:`1 \times 1` convolution of the latent maps :math:`s` (location-dependent
conditioning, so :math:`z` enters every block); block output ``a + BN(conv1x1(y))``. It is a
**single stack** of masked convolutions, not the paper's vertical + horizontal two-stack
design, so it keeps the PixelCNN "blind spot" (as does the non-gated reference network).

The autoregressive property (logit ``i`` does not depend on pixels ``j >= i``) holds exactly for
each example in eval mode. In training mode, BatchNorm's batch statistics couple every pixel of
every image in the batch, as in the reference; the coupling is through two averages over
``batch * H * W`` values per channel.

Initialisation (docs/implementation.md §2.3): convolutions in layer 0, the blocks and the skip blocks
:math:`N(0, \sqrt{2 / (k \cdot k \cdot C_{out})})`; BN weight 1, bias 0; the latent map
:math:`A` Xavier-uniform with bias 0; the two head convolutions keep PyTorch's default init.

Vectorisation: ``z`` has shape ``[S, batch, nz]``; the image is tiled to ``[S * batch, 1, H, W]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from duvae.nets.init import init_convs_and_batchnorms_
from duvae.bf16 import float32_region


class MaskedConv2d(nn.Conv2d):
    """A square, bias-free, 'same'-padded convolution that cannot see the future in raster order.

    Args:
        in_channels, out_channels, kernel_size: as ``nn.Conv2d`` (odd ``kernel_size``).
        mask_type: ``"A"`` (centre hidden: the first layer) or ``"B"`` (centre visible).
        masked_channels: the mask applies to input channels ``[0, masked_channels)``;
            the remaining input channels see the whole kernel.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, mask_type: str, masked_channels: int):
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 1, got {kernel_size}")
        if not 0 <= masked_channels <= in_channels:
            raise ValueError(f"masked_channels must lie in [0, {in_channels}], got {masked_channels}")
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
        centre = kernel_size // 2
        mask = torch.ones_like(self.weight)  # [out, in, k, k]
        mask[:, :masked_channels, centre, centre + 1 :] = 0  # right of the centre, centre row
        mask[:, :masked_channels, centre + 1 :, :] = 0  # every row below the centre
        if mask_type == "A":
            mask[:, :masked_channels, centre, centre] = 0  # the centre itself
        self.register_buffer("mask", mask)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return F.conv2d(a, self.weight * self.mask, None, self.stride, self.padding)


class PixelCNNBlock(nn.Module):
    """Residual block: conv1x1 -> BN -> ELU -> masked conv B -> BN -> ELU -> conv1x1 -> BN, + a, ELU.

    Shapes: ``a [N, C, H, W] -> [N, C, H, W]``; ``s`` (latent maps) is unused (the reference
    injects ``z`` at layer 0 only) and accepted so that both block types share one call.
    """

    def __init__(self, channels: int, kernel_size: int):
        super().__init__()
        half = channels // 2
        self.main = nn.Sequential(
            nn.Conv2d(channels, half, 1, bias=False),
            nn.BatchNorm2d(half),
            nn.ELU(),
            MaskedConv2d(half, half, kernel_size, mask_type="B", masked_channels=half),
            nn.BatchNorm2d(half),
            nn.ELU(),
            nn.Conv2d(half, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
        )
        self.activation = nn.ELU()

    def forward(self, a: torch.Tensor, s: torch.Tensor | None = None) -> torch.Tensor:
        return self.activation(self.main(a) + a)


class GatedPixelCNNBlock(nn.Module):
    """Residual block with a gated activation unit conditioned on the latent maps ``s``.

    ``u = ELU(BN(conv1x1(a)))`` (``C -> C/2``); ``[f, g] = BN(W * u) + V * s`` (``W`` masked type B,
    ``V`` 1x1, each ``-> 2 * C/2``); ``y = tanh(f) * sigmoid(g)``; output ``a + BN(conv1x1(y))``.
    Shapes: ``a [N, C, H, W]``, ``s [N, latent_maps, H, W]`` -> ``[N, C, H, W]``.
    """

    def __init__(self, channels: int, kernel_size: int, latent_maps: int):
        super().__init__()
        half = channels // 2
        self.reduce = nn.Sequential(nn.Conv2d(channels, half, 1, bias=False), nn.BatchNorm2d(half), nn.ELU())
        self.masked = MaskedConv2d(half, 2 * half, kernel_size, mask_type="B", masked_channels=half)
        self.masked_bn = nn.BatchNorm2d(2 * half)
        self.condition = nn.Conv2d(latent_maps, 2 * half, 1, bias=False)  # V_f, V_g
        self.expand = nn.Sequential(nn.Conv2d(half, channels, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, a: torch.Tensor, s: torch.Tensor | None = None) -> torch.Tensor:
        pre = self.masked_bn(self.masked(self.reduce(a))) + self.condition(s)
        f, g = pre.chunk(2, dim=1)
        y = torch.tanh(f) * torch.sigmoid(g)  # gated activation unit
        return a + self.expand(y)


class PixelCNNDecoder(nn.Module):
    """PixelCNN decoder ``log p(x|z)`` for binary images (docs/implementation.md §2.3; see the module docstring).

    Args:
        nz: latent size.
        channels: hidden channels ``C`` (64); blocks work with ``C // 2`` inside, so ``C >= 2``.
        kernel_sizes: one odd kernel size per layer; layer 0 is the mask-A layer (length >= 1).
        latent_maps: number of ``H x W`` feature maps ``z`` is projected to (4).
        gated: use gated residual blocks (``GatedPixelCNNBlock``) instead of the reference's ELU blocks.
        image_size: side of the square binary image (28).
    """

    def __init__(
        self,
        nz: int,
        channels: int = 64,
        kernel_sizes: tuple[int, ...] = (7, 7, 7, 7, 7, 5, 5, 5, 5, 3, 3, 3, 3),
        latent_maps: int = 4,
        gated: bool = False,
        image_size: int = 28,
    ):
        super().__init__()
        kernel_sizes = tuple(int(k) for k in kernel_sizes)
        if nz < 1:
            raise ValueError(f"nz must be >= 1, got {nz}")
        if channels < 2:
            raise ValueError(f"channels must be >= 2, got {channels}")
        if len(kernel_sizes) < 1 or any(k < 1 or k % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"kernel_sizes must be a non-empty sequence of odd sizes, got {kernel_sizes}")
        if latent_maps < 1:
            raise ValueError(f"latent_maps must be >= 1, got {latent_maps}")
        if image_size < 1:
            raise ValueError(f"image_size must be >= 1, got {image_size}")
        self.nz = nz
        self.latent_maps = latent_maps
        self.image_size = image_size
        self.kernel_sizes = kernel_sizes
        self.gated = gated
        n = len(kernel_sizes)

        # s = reshape(A z + b): [N, latent_maps, H, W]
        self.latent = nn.Linear(nz, latent_maps * image_size * image_size)
        # layer 0: mask-A conv over [image, latent maps], only the image channel masked
        self.first = nn.Sequential(
            MaskedConv2d(1 + latent_maps, channels, kernel_sizes[0], mask_type="A", masked_channels=1),
            nn.BatchNorm2d(channels),
            nn.ELU(),
        )
        self.layers = nn.ModuleList(self._block(channels, k) for k in kernel_sizes[1:])
        # skip_j has the kernel size of layer j + 1, j = 0 .. n - 3
        self.skips = nn.ModuleList(self._block(channels, kernel_sizes[j + 1]) for j in range(n - 2))
        self.head = nn.Sequential(
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ELU(),
            nn.Conv2d(channels, 1, 1, bias=False),
        )
        self.reset_parameters()

    def _block(self, channels: int, kernel_size: int) -> nn.Module:
        if self.gated:
            return GatedPixelCNNBlock(channels, kernel_size, self.latent_maps)
        return PixelCNNBlock(channels, kernel_size)

    def reset_parameters(self) -> None:
        """Body convs N(0, sqrt(2/(k k out))), BN 1/0, latent map Xavier/0, head default.

        As docs/implementation.md §2.3 describes.
        """
        for module in (self.first, self.layers, self.skips):
            init_convs_and_batchnorms_(module)
        for sub in self.head.modules():
            if isinstance(sub, (nn.Conv2d, nn.BatchNorm2d)):
                sub.reset_parameters()
        nn.init.xavier_uniform_(self.latent.weight)
        nn.init.zeros_(self.latent.bias)

    def _stack(self, inp: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Layers 0 .. n-1 with the skip path: ``[N, 1 + latent_maps, H, W] -> [N, C, H, W]``."""
        outs = [self.first(inp)]  # out_0
        a = outs[0]
        for i, layer in enumerate(self.layers, start=1):
            if i >= 3:
                a = a + self.skips[i - 3](outs[i - 3], s)  # out_{i-1} + skip_{i-3}(out_{i-3})
            a = layer(a, s)
            outs.append(a)  # out_i
        n = len(outs)
        if n >= 3:
            a = a + self.skips[n - 3](outs[n - 3], s)  # out_{n-1} + skip_{n-3}(out_{n-3})
        return a

    def logits(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits ``l_i(x_{<i}, z)``.

        Args:
            x: images ``[batch, 1, H, W]`` (binary; any real values are accepted).
            z: latent codes ``[S, batch, nz]``.

        Returns:
            ``[S, batch, 1, H, W]``.
        """
        side = self.image_size
        if x.dim() != 4 or tuple(x.shape[1:]) != (1, side, side):
            raise ValueError(f"x must be [batch, 1, {side}, {side}], got shape {tuple(x.shape)}")
        if z.dim() != 3 or z.shape[1] != x.shape[0] or z.shape[2] != self.nz:
            raise ValueError(f"z must be [S, batch={x.shape[0]}, nz={self.nz}], got shape {tuple(z.shape)}")
        S, B = z.shape[:2]
        x_tiled = x.unsqueeze(0).expand(S, -1, -1, -1, -1).reshape(S * B, 1, side, side)
        s = self.latent(z.reshape(S * B, self.nz)).view(S * B, self.latent_maps, side, side)
        h = self._stack(torch.cat([x_tiled.to(s.dtype), s], dim=1), s)
        with float32_region(h.device):  # the 1x1 output layers in float32: no bfloat16 rounding of the logits
            return self.head(h.to(torch.promote_types(h.dtype, torch.float32))).view(S, B, 1, side, side)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """:math:`\\log p_\\theta(x|z) = \\sum_i [x_i \\log\\sigma(l_i) + (1-x_i)\\log\\sigma(-l_i)]`.

        Args:
            x: binary images ``[batch, 1, H, W]``.
            z: latent codes ``[S, batch, nz]``.

        Returns:
            ``[S, batch]``.
        """
        logit = self.logits(x, z)
        logit = logit.to(torch.promote_types(logit.dtype, torch.float32))  # float32 after bfloat16 convolutions
        target = x.unsqueeze(0).to(logit.dtype).expand_as(logit)
        # per-pixel Bernoulli log-probability from logits (a stable form of the likelihood in
        # docs/implementation.md §2.3)
        log_p = -F.binary_cross_entropy_with_logits(logit, target, reduction="none")
        return log_p.sum(dim=(2, 3, 4))

    @torch.no_grad()
    def sample(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``x ~ p(x|z)`` pixel by pixel in raster order (``H * W`` forward passes).

        Call it in eval mode (BN running statistics). ``z [N, nz]`` -> binary images ``[N, 1, H, W]``.
        """
        if z.dim() != 2 or z.shape[1] != self.nz:
            raise ValueError(f"z must be [N, nz={self.nz}], got shape {tuple(z.shape)}")
        side = self.image_size
        x = torch.zeros(z.shape[0], 1, side, side, device=z.device, dtype=z.dtype)
        for r in range(side):
            for c in range(side):
                p = torch.sigmoid(self.logits(x, z.unsqueeze(0))[0, :, 0, r, c])
                x[:, 0, r, c] = torch.bernoulli(p, generator=generator)
        return x
