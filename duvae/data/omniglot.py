r"""Omniglot at 28x28: gray levels, the 15/5 drawer split, fixed and dynamic binarisation.

The public files hold all 1623 characters x 20 drawers as 105x105 boolean images with
``True`` = background (docs/implementation.md §6.3). We turn them into the 28x28 gray-level
images the paper (and He et al., DU-VAE) train on:

1. **Ink = 1.** :math:`x = 1 - \text{image}` so strokes are 1 and the background 0.
2. **Area down-sampling 105 -> 28.** Each output pixel is the mean of the input over its square
   footprint of side :math:`105/28 = 3.75` input pixels, partially covered pixels weighted by the
   covered fraction (an exact box / "area" filter, anti-aliased). With the resampling matrix
   :math:`R \in \mathbb{R}^{28 \times 105}`,

   .. math::  R_{ij} = \frac{|[i s, (i+1) s) \cap [j, j+1)|}{s}, \qquad s = 105/28,
              \qquad y = R\, x\, R^\top,

   every row of :math:`R` sums to one, so gray levels stay in :math:`[0, 1]` and the mean ink
   is preserved. (Burda et al.'s own resizing of ``chardata.mat`` is not documented, docs/implementation.md §9.)
   ``resize="antialias"`` uses ``torch.nn.functional.interpolate(mode="bilinear", antialias=True)``
   instead.
3. **Split by drawer.** Drawers 0..14 of every character -> training pool (1623 x 15 = 24,345
   images, the size of the standard 28x28 training set), drawers 15..19 -> test (8,115).
4. **Validation.** As the SA-VAE preprocessing used by He et al. and DU (docs/implementation.md §6.3): a seeded
   shuffle of the training pool, the last ``n_valid`` (2,000) images -> validation.
5. **Binarisation.** Test and validation images are binarised **once** with a fixed seed,
   :math:`x \sim \text{Bernoulli}(\text{gray})`; training images stay gray and are re-binarised for
   every batch with :func:`dynamic_binarize` (docs/implementation.md §3.2).

Labels kept per image: ``char_id`` (1..1623; background set 1..964, evaluation set 965..1623),
``alphabet`` (0..49, in the order of :data:`ALPHABETS`), ``char_in_alphabet`` (0-based index of the
character inside its alphabet, the class label of Table 3) and ``drawer`` (0..19).

The gray 28x28 array of all 32,460 images is cached in ``<cache>/processed/`` keyed by the
resizing parameters and the source checksums, so only the first call pays for decoding + resizing.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from duvae.data.registry import fetch, lookup, resolve_cache_dir

#: The 50 alphabets as ``(name, first char_id, last char_id)``, char ids inclusive and contiguous.
#: Public facts from ``omniglot/alphabets.csv`` of the data mirror (30 background + 20 evaluation
#: alphabets; that csv is not in the download registry, so the ranges live here).
ALPHABETS: tuple[tuple[str, int, int], ...] = (
    # background set (images_background.npz), characters 1..964
    ("Arcadian", 1, 26),
    ("Armenian", 27, 67),
    ("Asomtavruli_(Georgian)", 68, 107),
    ("Balinese", 108, 131),
    ("Bengali", 132, 177),
    ("Blackfoot_(Canadian_Aboriginal_Syllabics)", 178, 191),
    ("Braille", 192, 217),
    ("Cyrillic", 218, 250),
    ("Early_Aramaic", 251, 272),
    ("Syriac_(Estrangelo)", 273, 295),
    ("Anglo-Saxon_Futhorc", 296, 324),
    ("Futurama", 325, 350),
    ("Grantha", 351, 393),
    ("Greek", 394, 417),
    ("Gujarati", 418, 465),
    ("Hebrew", 466, 487),
    ("Japanese_(hiragana)", 488, 539),
    ("Inuktitut_(Canadian_Aboriginal_Syllabics)", 540, 555),
    ("Malay_(Jawi_-_Arabic)", 556, 595),
    ("Japanese_(katakana)", 596, 642),
    ("Korean", 643, 682),
    ("Latin", 683, 708),
    ("Alphabet_of_the_Magi", 709, 728),
    ("Mkhedruli_(Georgian)", 729, 769),
    ("Burmese_(Myanmar)", 770, 803),
    ("N_Ko", 804, 836),
    ("Ojibwe_(Canadian_Aboriginal_Syllabics)", 837, 850),
    ("Sanskrit", 851, 892),
    ("Tagalog", 893, 909),
    ("Tifinagh", 910, 964),
    # evaluation set (images_evaluation.npz), characters 965..1623
    ("Angelic", 965, 984),
    ("Atemayar_Qelisayer", 985, 1010),
    ("Atlantean", 1011, 1036),
    ("Aurek-Besh", 1037, 1062),
    ("Avesta", 1063, 1088),
    ("Ge_ez", 1089, 1114),
    ("Glagolitic", 1115, 1159),
    ("Gurmukhi", 1160, 1204),
    ("Kannada", 1205, 1245),
    ("Keble", 1246, 1271),
    ("Malayalam", 1272, 1318),
    ("Manipuri", 1319, 1358),
    ("Mongolian", 1359, 1388),
    ("Old_Church_Slavonic_(Cyrillic)", 1389, 1433),
    ("Oriya", 1434, 1479),
    ("Syriac_(Serto)", 1480, 1502),
    ("Sylheti", 1503, 1530),
    ("Tengwar", 1531, 1555),
    ("Tibetan", 1556, 1597),
    ("ULOG", 1598, 1623),
)

N_CHARACTERS = 1623  # characters in the whole of Omniglot
N_BACKGROUND = 964  # characters 1..964 are in images_background.npz
N_DRAWERS = 20  # drawers (images) per character
N_TRAIN_DRAWERS = 15  # drawers 0..14 -> train, 15..19 -> test (paper: 24,345 training images)
SOURCE_SIZE = 105  # side of the raw images
SOURCE_FILES = ("omniglot/images_background.npz", "omniglot/images_evaluation.npz")
RESIZE_METHODS = ("area", "antialias")
DEFAULT_SEED = 783435  # the reference code's default seed (docs/implementation.md §3.3)


# ----------------------------------------------------------------------------------------------
# labels
# ----------------------------------------------------------------------------------------------


def alphabet_of(char_id: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Alphabet index (0..49) and index within the alphabet of each character id.

    ``char_id``: LongTensor of any shape with values in 1..1623. Returns two LongTensors of the
    same shape.
    """
    char_id = torch.as_tensor(char_id, dtype=torch.long)
    if char_id.numel() and (char_id.min() < 1 or char_id.max() > N_CHARACTERS):
        raise ValueError(
            f"character ids must lie in 1..{N_CHARACTERS}, got range "
            f"{int(char_id.min())}..{int(char_id.max())}"
        )
    firsts = torch.tensor([first for _, first, _ in ALPHABETS])
    alphabet = torch.bucketize(char_id, firsts, right=True) - 1  # last alphabet with first <= id
    return alphabet, char_id - firsts[alphabet]


def alphabet_names() -> tuple[str, ...]:
    """Names of the 50 alphabets, indexed by the ``alphabet`` label."""
    return tuple(name for name, _, _ in ALPHABETS)


# ----------------------------------------------------------------------------------------------
# preprocessing: ink = 1, 105 -> 28
# ----------------------------------------------------------------------------------------------


def area_resize_matrix(n_in: int, n_out: int) -> torch.Tensor:
    r"""The box-filter resampling matrix :math:`R \in \mathbb{R}^{n_{out} \times n_{in}}`.

    :math:`R_{ij}` is the length of the overlap of output cell :math:`i`, the interval
    :math:`[i s, (i+1) s)` with :math:`s = n_{in}/n_{out}`, with input pixel :math:`[j, j+1)`,
    divided by :math:`s`; each row sums to one. Float64, shape ``[n_out, n_in]``.
    """
    if n_in < 1 or n_out < 1:
        raise ValueError(f"sizes must be positive, got n_in={n_in}, n_out={n_out}")
    s = n_in / n_out
    lo = torch.arange(n_out, dtype=torch.float64)[:, None] * s  # [n_out, 1] cell starts
    j = torch.arange(n_in, dtype=torch.float64)[None, :]  # [1, n_in] pixel starts
    overlap = (torch.minimum(lo + s, j + 1) - torch.maximum(lo, j)).clamp(min=0.0)
    return overlap / s


def resize_images(
    images: torch.Tensor, size: int = 28, *, method: str = "area", chunk: int = 4096
) -> torch.Tensor:
    """Down-sample square gray images ``[N, H, H]`` (values in [0, 1]) to ``[N, size, size]``.

    ``method="area"``: :math:`y = R x R^\\top` with :func:`area_resize_matrix` (exact box filter).
    ``method="antialias"``: bilinear interpolation with PyTorch's anti-aliasing filter.
    Processed ``chunk`` images at a time to bound memory; returns float32.
    """
    if method not in RESIZE_METHODS:
        raise ValueError(f"unknown resize method {method!r}; choose one of {RESIZE_METHODS}")
    if images.dim() != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"expected square images [N, H, H], got shape {tuple(images.shape)}")
    if size < 1 or size > images.shape[1]:
        raise ValueError(f"size must be in 1..{images.shape[1]}, got {size}")
    out = torch.empty(images.shape[0], size, size, dtype=torch.float32)
    R = area_resize_matrix(images.shape[1], size).float()  # [size, H]
    for start in range(0, images.shape[0], chunk):
        x = images[start : start + chunk].float()  # [n, H, H]
        if method == "area":
            y = R @ x @ R.T  # y = R x R^T, [n, size, size]
        else:
            y = F.interpolate(x[:, None], size=(size, size), mode="bilinear", antialias=True)[:, 0]
        out[start : start + chunk] = y.clamp_(0.0, 1.0)
    return out


def _load_raw(path: Path) -> tuple[torch.Tensor, np.ndarray]:
    """Images ``[n_chars, 20, 105, 105]`` as ink (True = stroke) and labels ``[n_chars, 20]``."""
    with np.load(path) as npz:
        images, labels = npz["images"], npz["labels"]
    if images.dtype != np.bool_ or images.shape[1:] != (N_DRAWERS, SOURCE_SIZE, SOURCE_SIZE):
        raise ValueError(f"{path}: unexpected images {images.dtype} {images.shape}")
    return torch.from_numpy(~images), labels  # invert: True = background -> ink = 1


def _cache_key(size: int, method: str) -> str:
    # the first 12 hex digits of each source digest: a new source file means a new cache entry
    digests = "-".join(lookup(name).sha256[:12] for name in SOURCE_FILES)
    return f"omniglot_gray_{size}px_{method}_{digests}.pt"


def gray_images(
    *,
    size: int = 28,
    resize: str = "area",
    mirror: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> torch.Tensor:
    """All Omniglot images as gray levels, float32 ``[1623, 20, size, size]``, ink = 1.

    Row ``c`` holds character id ``c + 1``, column ``d`` drawer ``d``. Cached on disk.
    """
    if resize not in RESIZE_METHODS:
        raise ValueError(f"unknown resize method {resize!r}; choose one of {RESIZE_METHODS}")
    cache = resolve_cache_dir(cache_dir) / "processed" / _cache_key(size, resize)
    if cache.is_file():
        return torch.load(cache)

    parts = []
    for name, first_label in zip(SOURCE_FILES, (0, N_BACKGROUND)):
        ink, labels = _load_raw(fetch(name, mirror=mirror, cache_dir=cache_dir, progress=progress))
        # label = char_id - 1 - offset; check that rows are in character order, one label per row
        expected = np.arange(ink.shape[0])[:, None]
        if not np.array_equal(labels, np.broadcast_to(expected, labels.shape)):
            raise ValueError(f"{name}: labels are not 0..n_chars-1 row by row")
        n_chars = ink.shape[0]
        flat = resize_images(ink.reshape(-1, SOURCE_SIZE, SOURCE_SIZE), size, method=resize)
        parts.append(flat.reshape(n_chars, N_DRAWERS, size, size))
    gray = torch.cat(parts)  # [1623, 20, size, size]
    if gray.shape[0] != N_CHARACTERS:
        raise ValueError(f"expected {N_CHARACTERS} characters, got {gray.shape[0]}")

    cache.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache.parent, prefix=f".{cache.name}.", suffix=".part")
    os.close(fd)
    try:
        torch.save(gray, tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, cache)  # atomic: a half-written cache is never picked up
    finally:
        Path(tmp).unlink(missing_ok=True)
    return gray


# ----------------------------------------------------------------------------------------------
# binarisation
# ----------------------------------------------------------------------------------------------


def dynamic_binarize(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A fresh draw :math:`b \\sim \\text{Bernoulli}(x)` of gray images ``x`` (any shape, [0, 1]).

    Used once per training batch (dynamic binarisation, docs/implementation.md §3.2); ``generator`` must live on
    ``x``'s device when given. Returns a float tensor of 0s and 1s, same shape and device as ``x``.
    """
    if not torch.is_floating_point(x):
        raise ValueError(f"expected a floating-point gray image tensor, got dtype {x.dtype}")
    return torch.bernoulli(x, generator=generator)


# ----------------------------------------------------------------------------------------------
# splits
# ----------------------------------------------------------------------------------------------


@dataclass
class OmniglotSplit:
    """One split. ``images`` float32 ``[N, 1, 28, 28]`` (gray, or {0, 1} when ``binarized``);
    ``char_id``, ``alphabet``, ``char_in_alphabet``, ``drawer``: LongTensors ``[N]``."""

    images: torch.Tensor
    char_id: torch.Tensor
    alphabet: torch.Tensor
    char_in_alphabet: torch.Tensor
    drawer: torch.Tensor
    binarized: bool

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, index: torch.Tensor) -> OmniglotSplit:
        """The images at positions ``index`` (LongTensor ``[M]`` or bool mask ``[N]``)."""
        return OmniglotSplit(
            self.images[index],
            self.char_id[index],
            self.alphabet[index],
            self.char_in_alphabet[index],
            self.drawer[index],
            self.binarized,
        )

    def of_alphabet(self, alphabet: int) -> OmniglotSplit:
        """The images of one alphabet (0..49), e.g. for the per-alphabet classifiers of Table 3."""
        if not 0 <= alphabet < len(ALPHABETS):
            raise ValueError(f"alphabet must be in 0..{len(ALPHABETS) - 1}, got {alphabet}")
        return self.subset(self.alphabet == alphabet)


@dataclass
class OmniglotData:
    """Train (gray), validation and test (binarised once) splits plus how they were made."""

    train: OmniglotSplit
    valid: OmniglotSplit
    test: OmniglotSplit
    size: int
    resize: str
    seed: int
    alphabets: tuple[str, ...] = field(default_factory=alphabet_names)

    def describe(self) -> str:
        return (
            f"Omniglot {self.size}x{self.size} ({self.resize} resize, seed {self.seed}): "
            f"train {len(self.train):,} gray, valid {len(self.valid):,} binarised, "
            f"test {len(self.test):,} binarised; {len(self.alphabets)} alphabets"
        )

    def __repr__(self) -> str:
        return f"OmniglotData<{self.describe()}>"


def _make_split(gray: torch.Tensor, char_idx: torch.Tensor, drawer: torch.Tensor, binarized: bool):
    """Gather images ``gray[char_idx, drawer]`` ``[N, 1, s, s]`` and their labels."""
    char_id = char_idx + 1
    alphabet, within = alphabet_of(char_id)
    return OmniglotSplit(gray[char_idx, drawer][:, None].contiguous(), char_id, alphabet, within,
                         drawer, binarized)


def _check_max(name: str, value: int | None, available: int) -> int:
    if value is None:
        return available
    if not 1 <= value <= available:
        raise ValueError(f"{name} must be in 1..{available} (or None for all), got {value}")
    return value


def load_omniglot(
    mirror: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    *,
    n_valid: int = 2000,
    seed: int = DEFAULT_SEED,
    size: int = 28,
    resize: str = "area",
    max_train: int | None = None,
    max_test: int | None = None,
    progress: bool = True,
) -> OmniglotData:
    """Omniglot for the VAE experiments (the paper, Section 4.1; docs/implementation.md §6.3).

    - training pool = drawers 0..14 of every character (24,345 images); a permutation seeded with
      ``seed + 1`` puts its last ``n_valid`` images into ``valid`` (binarised once with generator
      ``seed + 2``) and the rest into ``train`` (gray, kept in character / drawer order);
    - test = drawers 15..19 (8,115 images), binarised once with generator ``seed`` (the same draw
      whatever ``n_valid`` / ``max_*`` are);
    - ``max_train`` / ``max_test``: explicit subsampling for small profiles (a seeded random subset,
      kept in character / drawer order); ``None`` keeps everything.
    """
    total_train = N_CHARACTERS * N_TRAIN_DRAWERS
    if not 0 <= n_valid < total_train:
        raise ValueError(f"n_valid must be in 0..{total_train - 1}, got {n_valid}")
    max_train = _check_max("max_train", max_train, total_train - n_valid)
    max_test = _check_max("max_test", max_test, N_CHARACTERS * (N_DRAWERS - N_TRAIN_DRAWERS))

    gray = gray_images(size=size, resize=resize, mirror=mirror, cache_dir=cache_dir,
                       progress=progress)  # [1623, 20, s, s]

    # flat (character, drawer) index of every image, character-major
    def grid(drawers: range) -> tuple[torch.Tensor, torch.Tensor]:
        c, d = torch.meshgrid(torch.arange(N_CHARACTERS), torch.tensor(list(drawers)), indexing="ij")
        return c.reshape(-1), d.reshape(-1)

    pool_c, pool_d = grid(range(N_TRAIN_DRAWERS))  # [24345]
    test_c, test_d = grid(range(N_TRAIN_DRAWERS, N_DRAWERS))  # [8115]

    test = _make_split(gray, test_c, test_d, binarized=True)
    test.images = dynamic_binarize(test.images, torch.Generator().manual_seed(seed))
    if max_test < len(test):
        keep = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed + 3))
        test = test.subset(keep[:max_test].sort().values)

    perm = torch.randperm(total_train, generator=torch.Generator().manual_seed(seed + 1))
    valid_idx = perm[total_train - n_valid :].sort().values
    train_idx = perm[: total_train - n_valid][:max_train].sort().values

    valid = _make_split(gray, pool_c[valid_idx], pool_d[valid_idx], binarized=True)
    valid.images = dynamic_binarize(valid.images, torch.Generator().manual_seed(seed + 2))
    train = _make_split(gray, pool_c[train_idx], pool_d[train_idx], binarized=False)
    return OmniglotData(train=train, valid=valid, test=test, size=size, resize=resize, seed=seed)


__all__ = [
    "ALPHABETS",
    "OmniglotData",
    "OmniglotSplit",
    "alphabet_names",
    "alphabet_of",
    "area_resize_matrix",
    "dynamic_binarize",
    "gray_images",
    "load_omniglot",
    "resize_images",
]
