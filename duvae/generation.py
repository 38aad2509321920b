r"""What a trained VAE generates: paths in latent space, greedy sentences, image grids.

The tools :mod:`duvae.experiments.inside` (notebook 11) and :mod:`duvae.experiments.yours` (notebook 13)
use to look at a model's outputs; each works on tensors and is tested on constructed models.

- *Homotopy* (Bowman et al. 2016): the straight path between two codes,
  :math:`z(t) = (1 - t)\,z_a + t\,z_b`, :math:`t \in [0, 1]` (:func:`homotopy`).
- *Greedy decoding*: :math:`\hat x_t = \arg\max_w p_\theta(w \mid \hat x_{<t}, z)` token by token, every
  row of a ``[M, nz]`` batch of codes at once (:func:`greedy`); after ``</s>`` a row holds the pad id, so
  two rows are the same sentence iff they are equal.
- *How much the output depends on z*: the number of distinct outputs among the decodings of ``D``
  codes (:func:`distinct_counts`; 1 when the decoder ignores :math:`z`, i.e. posterior collapse) and the
  most frequent ones (:func:`top_outputs`).
- *Image grids*: rows of images ``[R, C, 1, H, W]`` as one gray picture (:func:`image_grid`), written as
  PNG (:func:`write_png`).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F

from duvae.metrics import evaluating


def homotopy(z_a: torch.Tensor, z_b: torch.Tensor, n_points: int) -> torch.Tensor:
    """``[n_points, nz]``: :math:`(1 - t) z_a + t z_b` at ``n_points`` evenly spaced ``t`` in [0, 1].

    The endpoints are exactly ``z_a`` and ``z_b`` (``t = 0`` and ``1``).
    """
    if n_points < 2:
        raise ValueError(f"a homotopy needs at least 2 points, got {n_points}")
    t = torch.linspace(0.0, 1.0, n_points, dtype=z_a.dtype, device=z_a.device)[:, None]
    return (1 - t) * z_a[None] + t * z_b[None]


def greedy(decoder, z: torch.Tensor, max_len: int, bos_id: int = 1, eos_id: int = 2) -> torch.Tensor:
    """Greedy decoding of every row of ``z [M, nz]`` in one batch, in eval mode: ids ``[M, T]``.

    After ``</s>`` a row holds the pad id, so two rows are the same sentence iff they are equal.
    """
    with evaluating(decoder):
        return decoder.greedy_decode(z, max_len, bos_id, eos_id)


def distinct_counts(ids: torch.Tensor, groups: int) -> torch.Tensor:
    """Distinct rows within each of ``groups`` consecutive, equal blocks of ``ids [groups * D, T]``: ``[groups]``."""
    if ids.shape[0] % groups:
        raise ValueError(f"{ids.shape[0]} rows do not split into {groups} equal groups")
    group = torch.arange(groups, device=ids.device).repeat_interleave(ids.shape[0] // groups)
    unique_rows = torch.unique(torch.cat([group[:, None], ids], dim=1), dim=0)
    return torch.bincount(unique_rows[:, 0], minlength=groups)


def top_outputs(ids: torch.Tensor, k: int) -> list[tuple[torch.Tensor, int]]:
    """The ``k`` most frequent rows of ``ids [D, T]`` with their counts, most frequent first."""
    rows, counts = torch.unique(ids, dim=0, return_counts=True)
    order = torch.argsort(counts, descending=True, stable=True)[:k]
    return [(rows[i], int(counts[i])) for i in order]


def image_grid(rows: torch.Tensor, pad: int = 2, scale: int = 2):
    """``rows [R, C, 1, H, W]`` (values in [0, 1], 1 = ink) -> a ``uint8`` gray picture, ink dark.

    Images are separated by ``pad`` gray pixels and enlarged ``scale`` times (nearest neighbour).
    """
    R, C, _, H, W = rows.shape
    tiles = F.pad(1.0 - rows.float().cpu()[:, :, 0], (pad, 0, pad, 0), value=0.5)  # [R, C, H + pad, W + pad]
    picture = tiles.permute(0, 2, 1, 3).reshape(R * (H + pad), C * (W + pad))
    picture = F.pad(picture, (0, pad, 0, pad), value=0.5)
    picture = picture.repeat_interleave(scale, 0).repeat_interleave(scale, 1)
    return (picture * 255).round().to(torch.uint8).numpy()


def write_png(picture, path: Path) -> Path:
    """A ``uint8`` gray array as PNG, written atomically."""
    from PIL import Image  # Pillow comes with matplotlib

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(picture, mode="L").save(tmp, format="PNG", optimize=True)
    os.replace(tmp, path)
    return path
