r"""Your own data: a user's sentences or images, read, checked and turned into the package's data sets.

Two kinds of input (docs/your_data.md):

**Text** (``kind="text"``, the run's data set ``"yours_text"``)
    - a folder holding ``train.txt``, ``valid.txt`` and ``test.txt``, or
    - one ``.txt`` file, split into train / valid / test by a permutation of its lines seeded with
      :data:`SPLIT_SEED` in the ratio :data:`SPLIT` (80 / 10 / 10; the last two rounded, train
      takes the rest).

    One whitespace-tokenised document per line, UTF-8. A line may carry a label, ``label<TAB>text``:
    then every line of every file must carry one. The vocabulary is built from the training file only
    (after the length cap): the words by decreasing count, ties alphabetically
    (:meth:`~duvae.data.text.Vocab.build`), at most ``max_vocab`` entries including the 4 special
    tokens; every other word is the unknown token, and :class:`YourTextCorpus` ``report`` says which
    share of each split's words that is. Documents with more than ``max_len`` words are dropped, and
    counted per split (never silently).

**Images** (``kind="image"``, the run's data set ``"yours_image"``)
    an ``.npz`` holding ``images`` ``[N, H, W]`` (or a single array) and optionally ``labels`` ``[N]``,
    or an ``.npy`` of the images alone; values binary or gray levels in :math:`[0, 1]` (``bool``
    accepted). The networks of the paper (ResNet encoder, PixelCNN decoder) take
    :data:`IMAGE_SIDES` square images. Split like one text file (:data:`SPLIT`, :data:`SPLIT_SEED`);
    then binarised as the paper does for Omniglot (docs/implementation.md §3.2): training images stay gray and are
    binarised afresh for every batch, validation and test images are binarised **once**, with fixed
    seeds, :math:`x \sim \text{Bernoulli}(\text{gray})` (a binary image is left as it is).

**Checks before anything runs.** :func:`read_text` and :func:`read_images` read every file in full
and raise one :class:`DataError` naming the file and the line (text, 1-based) or the image index
(0-based) of the first problem: an empty file, a missing split, bytes that are not UTF-8, a blank
line, a label on some lines and not on others, an empty label; images with NaN, values outside
[0, 1], the wrong number of dimensions or an unsupported size, labels whose count does not match.

**Identity.** :func:`fingerprint` is the SHA-256 of the files' bytes (and of the split rule), the
``data_hash`` of the run's :class:`~duvae.runs.config.TrainConfig`: changed data makes new runs, while the
folder the files live in (``data_path``) is not part of the run id. A run reads its data through
:func:`text_corpus_of` / :func:`image_data_of` (from :func:`duvae.runs.run_data.load_run_data`), which
refuse files whose hash is no longer the one the run was planned with.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from duvae.data.omniglot import dynamic_binarize
from duvae.data.registry import absolute_path
from duvae.data.text import TextCorpus, TextDataset, Vocab

KINDS = ("text", "image")
#: the run's data set (:data:`duvae.runs.config.YOUR_DATASETS`) of each kind
DATASET_OF = {"text": "yours_text", "image": "yours_image"}
#: the three files of a text folder
TEXT_FILES = ("train.txt", "valid.txt", "test.txt")
SPLITS = ("train", "valid", "test")
#: how one text file or one image array is split: train / valid / test shares, and the seed of the permutation
SPLIT = (0.8, 0.1, 0.1)
SPLIT_SEED = 0
#: the fewest documents / images one file must hold to be split (each split gets at least one)
MIN_TO_SPLIT = 10
#: the square image sides the networks of :func:`duvae.runs.zoo.build_model` take (ResNet encoder, PixelCNN decoder)
IMAGE_SIDES = (28,)
IMAGE_SUFFIXES = (".npz", ".npy")
#: seeds of the one-off binarisation of validation and test images (as :func:`duvae.data.omniglot.load_omniglot`)
BINARIZE_SEED = 783435
#: the version of the rules above that enters :func:`fingerprint` (a new rule: new run ids)
FORMAT = "duvae-yours-1"


class DataError(ValueError):
    """A user's data file cannot be used; the message names the file and the line or index."""


# ----------------------------------------------------------------------------------------------
# kind and identity
# ----------------------------------------------------------------------------------------------


def detect_kind(path: str | os.PathLike, kind: str | None = "auto") -> str:
    """``"text"`` for a folder or a ``.txt`` file, ``"image"`` for ``.npz`` / ``.npy``; a ``kind`` that
    is given must agree. Raises :class:`DataError` for a path that does not exist or is neither."""
    path = absolute_path(path)
    if kind not in (None, "auto", *KINDS):
        raise DataError(f"kind must be one of auto, {', '.join(KINDS)}; got {kind!r}")
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir() or path.suffix == ".txt":
        found = "text"
    elif path.suffix in IMAGE_SUFFIXES:
        found = "image"
    else:
        raise DataError(f"{path}: not a folder, a .txt file (text) or an {' / '.join(IMAGE_SUFFIXES)} file (images)")
    if kind not in (None, "auto") and kind != found:
        raise DataError(f"{path}: kind={kind!r} was asked for, but this is {found} input "
                        f"({'a folder or .txt file' if found == 'text' else 'an image array'})")
    return found


def data_files(path: str | os.PathLike, kind: str) -> dict[str, Path]:
    """The files the data is read from: ``{split: file}`` for a text folder, ``{"all": file}`` otherwise.

    A folder must hold all of :data:`TEXT_FILES` (:class:`DataError` naming the missing ones).
    """
    path = absolute_path(path)
    if kind == "text" and path.is_dir():
        missing = [name for name in TEXT_FILES if not (path / name).is_file()]
        if missing:
            raise DataError(
                f"{path}: missing split {', '.join(str(path / m) for m in missing)}. A text folder holds "
                f"{', '.join(TEXT_FILES)} (one document per line); or give one .txt file, split "
                f"{'/'.join(f'{round(100 * s)}' for s in SPLIT)} with seed {SPLIT_SEED}"
            )
        return {split: path / name for split, name in zip(SPLITS, TEXT_FILES)}
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    return {"all": path}


def fingerprint(path: str | os.PathLike, kind: str) -> str:
    """SHA-256 (hex) of the data's files, their roles and the split rule: the run's ``data_hash``."""
    digest = hashlib.sha256(f"{FORMAT} {kind} split={SPLIT} seed={SPLIT_SEED}\n".encode())
    for role, file in data_files(path, kind).items():
        digest.update(f"{role} {file.stat().st_size}\n".encode())
        with open(file, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _stamp(files: dict[str, Path]) -> tuple:
    """What changes when a file changes (the key of the in-process caches)."""
    return tuple((role, str(f), f.stat().st_size, f.stat().st_mtime_ns) for role, f in files.items())


def split_index(n: int, where: str) -> dict[str, torch.Tensor]:
    """Indices of train / valid / test among ``n`` items: a permutation seeded with :data:`SPLIT_SEED`,
    :data:`SPLIT` of it (valid and test rounded, at least one each; train the rest), each part sorted."""
    if n < MIN_TO_SPLIT:
        raise DataError(f"{where}: {n} item(s); at least {MIN_TO_SPLIT} are needed to split one file into "
                        f"train / valid / test")
    n_valid, n_test = (max(1, round(share * n)) for share in SPLIT[1:])
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))
    parts = perm.split([n - n_valid - n_test, n_valid, n_test])
    return {split: part.sort().values for split, part in zip(SPLITS, parts)}


# ----------------------------------------------------------------------------------------------
# text
# ----------------------------------------------------------------------------------------------


@dataclass
class TextSource:
    """Every document of a text input, checked, before any cap: per split the word lists, their line
    numbers (1-based, in their file) and labels (``None`` without labels)."""

    path: Path
    files: dict[str, Path]  # {split: file} of a folder, {"all": file} of one file
    docs: dict[str, list[list[str]]]
    lines: dict[str, list[int]]
    labels: dict[str, list[str] | None]

    @property
    def labelled(self) -> bool:
        return self.labels["train"] is not None

    def file_of(self, split: str) -> Path:
        return self.files.get(split, self.files.get("all"))


def _read_lines(file: Path) -> list[tuple[str | None, list[str]]]:
    """``(label or None, words)`` of every line of ``file``; :class:`DataError` at the first bad line."""
    raw = file.read_bytes()
    if not raw.strip():
        raise DataError(f"{file}: empty file (no document); one whitespace-tokenised document per line")
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark
        raw = raw[3:]
    pieces = raw.split(b"\n")
    if pieces[-1] == b"":  # the newline that ends the last line
        pieces.pop()
    out, first_labelled = [], None
    for number, piece in enumerate(pieces, start=1):
        try:
            line = piece.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DataError(f"{file}, line {number}: not UTF-8 text (byte 0x{piece[err.start]:02x} at column "
                            f"{err.start + 1}); save the file as UTF-8") from None
        line = line.rstrip("\r")
        labelled = "\t" in line
        label, text = line.split("\t", 1) if labelled else (None, line)
        if not text.strip():
            raise DataError(f"{file}, line {number}: blank line (no words); every line must be a document, "
                            "remove blank lines")
        if first_labelled is None:
            first_labelled = labelled
        elif labelled != first_labelled:
            has, lacks = ("has", "has no") if labelled else ("has no", "has")
            raise DataError(f"{file}, line {number} {has} label (label<TAB>text), but line 1 {lacks}: give every "
                            "line a label or none")
        if labelled and not label.strip():
            raise DataError(f"{file}, line {number}: empty label before the TAB")
        out.append((label.strip() if labelled else None, text.split()))
    return out


def read_text(path: str | os.PathLike) -> TextSource:
    """Read and check a text input (module docstring); cached while its files do not change."""
    path = absolute_path(path)
    files = data_files(path, "text")
    return _read_text(path, _stamp(files))


@functools.lru_cache(maxsize=4)
def _read_text(path: Path, stamp: tuple) -> TextSource:
    files = {role: Path(name) for role, name, _, _ in stamp}
    per_file = {role: _read_lines(file) for role, file in files.items()}
    labelled = {role: rows[0][0] is not None for role, rows in per_file.items()}
    if len(set(labelled.values())) > 1:
        with_ = [str(files[r]) for r, v in labelled.items() if v]
        without = [str(files[r]) for r, v in labelled.items() if not v]
        raise DataError(f"{without[0]}, line 1 has no label, but {with_[0]} has labels: give every line of "
                        "every file a label (label<TAB>text) or none")
    if "all" in per_file:
        rows = per_file["all"]
        index = split_index(len(rows), str(files["all"]))
        chosen = {split: [(i + 1, rows[i]) for i in idx.tolist()] for split, idx in index.items()}
    else:
        chosen = {split: [(i + 1, row) for i, row in enumerate(per_file[split])] for split in SPLITS}
    docs = {s: [row[1] for _, row in chosen[s]] for s in SPLITS}
    lines = {s: [n for n, _ in chosen[s]] for s in SPLITS}
    any_labels = next(iter(labelled.values()))
    labels = {s: [row[0] for _, row in chosen[s]] if any_labels else None for s in SPLITS}
    return TextSource(path, files, docs, lines, labels)


@dataclass(repr=False)
class YourTextCorpus(TextCorpus):
    """A :class:`~duvae.data.text.TextCorpus` of your own documents, with ``label_names`` (label id ->
    the label as written) and ``report``: per split the documents read, dropped by the length cap, cut
    by the profile's size cap, used, and the share of their words that became the unknown token."""

    label_names: tuple[str, ...] = ()
    report: dict = field(default_factory=dict)


def _label_ids(source_labels: dict[str, list | None]) -> tuple[tuple, dict[str, list[int] | None]]:
    if source_labels["train"] is None:
        return (), {s: None for s in source_labels}
    names = tuple(sorted({lab for labs in source_labels.values() for lab in labs}))
    ids = {lab: i for i, lab in enumerate(names)}
    return names, {s: [ids[lab] for lab in labs] for s, labs in source_labels.items()}


def text_corpus(path: str | os.PathLike, *, max_len: int | None = None, max_vocab: int | None = None,
                max_train: int | None = None, max_valid: int | None = None, max_test: int | None = None,
                name: str | None = None) -> YourTextCorpus:
    """Your documents as a :class:`YourTextCorpus` (module docstring).

    ``max_len``: documents with more words are dropped (counted in ``report``); ``max_vocab``: the
    vocabulary's size cap including the 4 specials (``None``: every training word);
    ``max_train`` / ``max_valid`` / ``max_test``: keep the first so many documents of a split (the
    profiles' explicit sizes; ``None``: all). A split left empty by the length cap is a :class:`DataError`.
    """
    source = read_text(path)
    names, label_ids = _label_ids(source.labels)
    caps = {"train": max_train, "valid": max_valid, "test": max_test}
    kept, report = {}, {}
    for split in SPLITS:
        docs = source.docs[split]
        keep = [i for i, d in enumerate(docs) if max_len is None or len(d) <= max_len]
        if not keep:
            longest = min(len(d) for d in docs)
            raise DataError(f"{source.file_of(split)}: no {split} document has at most {max_len} words (the "
                            f"length cap; the shortest has {longest}), so the {split} split would be empty")
        cut = keep if caps[split] is None else keep[: caps[split]]
        kept[split] = cut
        report[split] = {"file": str(source.file_of(split)), "read": len(docs), "over_length_cap": len(docs) - len(keep),
                         "over_size_cap": len(keep) - len(cut), "used": len(cut)}
    vocab = Vocab.build((source.docs["train"][i] for i in kept["train"]), max_size=max_vocab)
    data = {}
    for split in SPLITS:
        docs = [source.docs[split][i] for i in kept[split]]
        labels = None if label_ids[split] is None else [label_ids[split][i] for i in kept[split]]
        words = sum(len(d) for d in docs)
        unknown = sum(w not in vocab.stoi for d in docs for w in d)
        report[split]["words"] = words
        report[split]["unknown_share"] = unknown / max(words, 1)
        data[split] = TextDataset.from_sentences(docs, vocab, labels=labels, name=f"{name or 'yours'}/{split}")
    report["max_len"], report["max_vocab"], report["vocabulary"] = max_len, max_vocab, len(vocab)
    report["labels"] = list(names)
    how = ("folder of train.txt / valid.txt / test.txt" if "all" not in source.files
           else f"one file split {'/'.join(str(round(100 * s)) for s in SPLIT)} with seed {SPLIT_SEED}")
    dropped = ", ".join(f"{s} {report[s]['over_length_cap']:,} of {report[s]['read']:,}" for s in SPLITS)
    unk = ", ".join(f"{s} {100 * report[s]['unknown_share']:.1f} %" for s in SPLITS)
    notes = (f"{source.path} ({how}); documents over {max_len} words dropped: {dropped}; vocabulary "
             f"{len(vocab):,} from the training documents (cap {max_vocab}), unknown words: {unk}")
    cut = [f"{s} {report[s]['used']:,} of {report[s]['read'] - report[s]['over_length_cap']:,}"
           for s in SPLITS if report[s]["over_size_cap"]]
    if cut:
        notes += f"; the profile keeps the first documents: {', '.join(cut)}"
    if names:
        notes += f"; labels {list(names)}"
    return YourTextCorpus(name or "yours", "yours-text", vocab, data["train"], data["valid"], data["test"], notes,
                          label_names=names, report=report)


# ----------------------------------------------------------------------------------------------
# images
# ----------------------------------------------------------------------------------------------


def read_images(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Images ``[N, H, W]`` (float32 in [0, 1]) and labels ``[N]`` (or ``None``) of an ``.npz`` / ``.npy``,
    checked (module docstring); cached while the file does not change."""
    path = absolute_path(path)
    files = data_files(path, "image")
    return _read_images(path, _stamp(files))


def _first_bad(mask: np.ndarray) -> tuple[int, tuple[int, ...]]:
    """The first image index and pixel where ``mask [N, H, W]`` is True."""
    where = np.argwhere(mask)[0]
    return int(where[0]), tuple(int(v) for v in where[1:])


@functools.lru_cache(maxsize=4)
def _read_images(path: Path, stamp: tuple) -> tuple[np.ndarray, np.ndarray | None]:
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as err:  # noqa: BLE001 - numpy raises ValueError, OSError, zipfile errors, ...
        raise DataError(f"{path}: not a readable {path.suffix} file ({type(err).__name__}: {err})") from None
    labels = None
    if isinstance(loaded, np.ndarray):
        images, key = loaded, "the array"
    else:
        with loaded as npz:
            keys = list(npz.keys())
            image_keys = [k for k in keys if k != "labels"]
            if "images" in keys:
                key = "images"
            elif len(image_keys) == 1:
                key = image_keys[0]
            else:
                raise DataError(f"{path}: holds {keys}; name the image array 'images' (and the labels 'labels')")
            images = npz[key]
            labels = npz["labels"] if "labels" in keys else None
        key = f"array {key!r}"
    if images.ndim != 3:
        raise DataError(f"{path}: {key} has {images.ndim} dimension(s), shape {tuple(images.shape)}; images must be "
                        "[N, H, W] (one gray or binary channel)")
    n, h, w = images.shape
    if n == 0:
        raise DataError(f"{path}: {key} holds no image (shape {tuple(images.shape)})")
    if h != w or h not in IMAGE_SIDES:
        sides = " or ".join(f"{s} x {s}" for s in IMAGE_SIDES)
        raise DataError(f"{path}: images of {h} x {w} pixels; the networks (the paper's ResNet encoder and PixelCNN "
                        f"decoder) take {sides} images: resize them first")
    if images.dtype == np.bool_:
        images = images.astype(np.float32)
    if not (np.issubdtype(images.dtype, np.floating) or np.issubdtype(images.dtype, np.integer)):
        raise DataError(f"{path}: {key} has dtype {images.dtype}; images must be numbers (binary or in [0, 1])")
    images = images.astype(np.float32, copy=False)
    nan = np.isnan(images)
    if nan.any():
        i, pixel = _first_bad(nan)
        raise DataError(f"{path}: image {i} (0-based) has NaN at pixel {pixel} (NaN in {int(nan.any((1, 2)).sum())} "
                        f"of the {n} images)")
    outside = (images < 0) | (images > 1)
    if outside.any():
        i, pixel = _first_bad(outside)
        hint = " (0..255 gray levels? divide by 255)" if images.max() > 1 and images.max() <= 255 else ""
        raise DataError(f"{path}: image {i} (0-based) has the value {images[i][pixel]:g} at pixel {pixel}, outside "
                        f"[0, 1]{hint}; {int(outside.any((1, 2)).sum())} of the {n} images have values outside [0, 1]")
    if labels is not None:
        if labels.ndim != 1 or len(labels) != n:
            raise DataError(f"{path}: 'labels' has shape {tuple(labels.shape)} but there are {n} images; one label "
                            "per image, [N]")
        if labels.dtype.kind == "f":
            bad = ~np.isfinite(labels) | (labels != np.round(labels))
            if bad.any():
                i = int(np.argwhere(bad)[0][0])
                raise DataError(f"{path}: label {i} (0-based) is {labels[i]!r}; labels must be whole numbers or strings")
        elif labels.dtype.kind not in "iubUS":
            raise DataError(f"{path}: 'labels' has dtype {labels.dtype}; labels must be whole numbers or strings")
    return images, labels


@dataclass
class ImageSplit:
    """One split: ``images`` float32 ``[N, 1, H, W]`` (gray, or {0, 1} when ``binarized``), ``labels``
    LongTensor ``[N]`` or ``None``, ``index`` the images' positions in your file."""

    images: torch.Tensor
    labels: torch.Tensor | None
    index: torch.Tensor
    binarized: bool

    def __len__(self) -> int:
        return self.images.shape[0]


@dataclass
class YourImages:
    """Train (gray), validation and test (binarised once) splits of your images, as
    :class:`~duvae.data.omniglot.OmniglotData` has them (:func:`duvae.runs.run_data.load_run_data` batches both)."""

    train: ImageSplit
    valid: ImageSplit
    test: ImageSplit
    path: Path
    label_names: tuple = ()
    report: dict = field(default_factory=dict)

    def describe(self) -> str:
        side = self.train.images.shape[-1]
        text = (f"{self.path} ({side}x{side} images, split {'/'.join(str(round(100 * s)) for s in SPLIT)} with seed "
                f"{SPLIT_SEED}): train {len(self.train):,} gray, valid {len(self.valid):,} binarised, "
                f"test {len(self.test):,} binarised")
        cut = [f"{s} {self.report[s]['used']:,} of {self.report[s]['read']:,}" for s in SPLITS
               if self.report[s]["used"] < self.report[s]["read"]]
        if cut:
            text += f"; the profile keeps the first images: {', '.join(cut)}"
        if self.label_names:
            text += f"; {len(self.label_names)} labels"
        return text


def image_data(path: str | os.PathLike, *, max_train: int | None = None, max_valid: int | None = None,
               max_test: int | None = None) -> YourImages:
    """Your images as :class:`YourImages` (module docstring); ``max_*``: keep the first so many images of a
    split (the profiles' explicit sizes; ``None``: all)."""
    path = absolute_path(path)
    images, labels = read_images(path)
    index = split_index(len(images), str(path))
    names, label_ids = (), None
    if labels is not None:
        names = tuple(sorted(set(labels.tolist())))
        lookup = {v: i for i, v in enumerate(names)}
        label_ids = torch.tensor([lookup[v] for v in labels.tolist()], dtype=torch.long)
    gray = torch.from_numpy(images)[:, None]  # [N, 1, H, W]
    caps = {"train": max_train, "valid": max_valid, "test": max_test}
    seeds = {"valid": BINARIZE_SEED + 2, "test": BINARIZE_SEED}
    splits, report = {}, {}
    for split in SPLITS:
        idx = index[split]
        report[split] = {"read": len(idx)}
        if caps[split] is not None:
            idx = idx[: caps[split]]
        report[split]["used"] = len(idx)
        x = gray[idx]
        if split != "train":  # binarised once, with a fixed seed (the whole split, before any cap)
            x = dynamic_binarize(gray[index[split]], torch.Generator().manual_seed(seeds[split]))[: len(idx)]
        splits[split] = ImageSplit(x.contiguous(), None if label_ids is None else label_ids[idx], idx, split != "train")
    report["labels"] = [str(v) for v in names]
    report["binary"] = bool(np.isin(images, (0.0, 1.0)).all())
    return YourImages(splits["train"], splits["valid"], splits["test"], path, names, report)


# ----------------------------------------------------------------------------------------------
# a run's data (duvae.runs.run_data.load_run_data)
# ----------------------------------------------------------------------------------------------


def _checked_path(cfg) -> Path:
    t = cfg.train
    kind = "text" if cfg.dataset == DATASET_OF["text"] else "image"
    if not t.data_path or not t.data_hash:
        raise DataError(f"run {cfg.run_id()}: a run on your own data needs train.data_path and train.data_hash")
    path = absolute_path(t.data_path)
    now = fingerprint(path, kind)
    if now != t.data_hash:
        raise DataError(f"{path}: the data changed since run {cfg.run_id()} was planned (hash {t.data_hash[:12]}, now "
                        f"{now[:12]}); plan the runs again (the sweep or the notebook does), they are new runs")
    return path


def text_corpus_of(cfg) -> YourTextCorpus:
    """The corpus of a ``"yours_text"`` run, with its schedule's caps (checked against its ``data_hash``)."""
    t = cfg.train
    return text_corpus(_checked_path(cfg), max_len=t.max_len, max_vocab=t.max_vocab, max_train=t.max_train,
                       max_valid=t.max_valid, max_test=t.max_test)


def image_data_of(cfg) -> YourImages:
    """The images of a ``"yours_image"`` run, with its schedule's caps (checked against its ``data_hash``)."""
    t = cfg.train
    return image_data(_checked_path(cfg), max_train=t.max_train, max_valid=t.max_valid, max_test=t.max_test)


def usable_share(lengths: torch.Tensor, batch_size: int, min_batch_size: int) -> float:
    """The share of training documents in the length buckets training uses (docs/implementation.md §3.1)."""
    from duvae.data.text import bucket_batches

    used = sum(len(b) for b in bucket_batches(lengths, batch_size, min_batch_size=min_batch_size))
    return used / max(len(lengths), 1)


# ----------------------------------------------------------------------------------------------
# demo data: what notebook 13 runs on when it is given none
# ----------------------------------------------------------------------------------------------


def demo_text(folder: str | os.PathLike, *, n_docs: int = 300, words: tuple[int, int] = (20, 25), mirror=None) -> Path:
    """A small labelled corpus from the pinned Yahoo files: the first ``n_docs`` documents of the public
    validation split with ``words[0]`` to ``words[1]`` words, as ``folder/yahoo_demo.txt``, labelled
    ``short`` / ``long`` (more words than the median of these documents). Few distinct lengths, so that
    the length buckets training uses are full batches (a demo at ``cpu`` trains in minutes). Written
    once (the same bytes every time, hence the same runs)."""
    from duvae.data.registry import fetch

    source = fetch("yahoo/yahoo.valid.txt", mirror=mirror, progress=False)
    docs = []
    with open(source, encoding="utf-8") as fh:
        for line in fh:
            doc = line.split()
            if words[0] <= len(doc) <= words[1]:
                docs.append(doc)
                if len(docs) == n_docs:
                    break
    median = sorted(len(d) for d in docs)[len(docs) // 2]
    text = "".join(f"{'long' if len(d) > median else 'short'}\t{' '.join(d)}\n" for d in docs)
    return _write_once(Path(folder) / "yahoo_demo.txt", text.encode("utf-8"))


def demo_images(folder: str | os.PathLike, *, n: int = 600, side: int = 28, seed: int = 0) -> Path:
    """A small generated image set, ``folder/shapes_demo.npz``: ``n`` binary ``side x side`` images of
    one of three shapes (label 0 a filled square, 1 a ring, 2 a cross) at a random place and size."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side]
    images = np.zeros((n, side, side), dtype=np.float32)
    labels = rng.integers(0, 3, n)
    for i in range(n):  # a few hundred small drawings
        r = rng.uniform(4, 9)
        cy, cx = rng.uniform(r + 1, side - r - 1, 2)
        if labels[i] == 0:
            shape = (np.abs(yy - cy) <= r * 0.8) & (np.abs(xx - cx) <= r * 0.8)
        elif labels[i] == 1:
            d = np.hypot(yy - cy, xx - cx)
            shape = (d <= r) & (d >= r - 2)
        else:
            shape = ((np.abs(yy - cy) <= 1) & (np.abs(xx - cx) <= r)) | ((np.abs(xx - cx) <= 1) & (np.abs(yy - cy) <= r))
        images[i] = shape
    return _write_once(Path(folder) / "shapes_demo.npz", _npz_bytes(images=images, labels=labels))


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    """The bytes of an ``.npz`` of ``arrays`` with fixed time stamps (``np.savez`` stamps the current
    time into the archive, which would make every demo file, hence its run ids, new)."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(info, "w") as fh:
                np.lib.format.write_array(fh, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def _write_once(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` (atomically) unless it already holds exactly those bytes."""
    if path.is_file() and path.read_bytes() == data:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


__all__ = [
    "DATASET_OF",
    "IMAGE_SIDES",
    "KINDS",
    "SPLIT",
    "SPLIT_SEED",
    "TEXT_FILES",
    "DataError",
    "ImageSplit",
    "TextSource",
    "YourImages",
    "YourTextCorpus",
    "data_files",
    "demo_images",
    "demo_text",
    "detect_kind",
    "fingerprint",
    "image_data",
    "image_data_of",
    "read_images",
    "read_text",
    "text_corpus",
    "text_corpus_of",
    "usable_share",
]
