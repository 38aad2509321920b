"""Yahoo Answers documents (Yang et al. 2017 sample, as used by He et al. 2019 and DU-VAE).

The paper trains on 100k / 10k / 10k documents (docs/implementation.md §6.1). Only the
official validation and test splits (10,000 documents each) and the 20,000-entry vocabulary are
public in a form we can pin, so two variants exist:

``"mirror-valid-split"`` (default, from the pinned public files)
    train = the first 9,000 documents of the official validation split, valid = its last 1,000,
    test = the official 10,000 test documents; vocabulary = ``vocab.txt`` (``token<TAB>id``, ids
    0..3 = ``<pad> <bos> <eos> _UNK``, mapped to the pad / bos / eos / unk roles). Rare words are
    already ``_UNK`` in the text. Numbers from this variant are **not** comparable with the paper's
    Table 1 (11x less training data).

``"he2019-full"`` (when ``full_dir`` is given)
    He et al.'s own ``yahoo.train.txt`` / ``yahoo.valid.txt`` / ``yahoo.test.txt`` from a directory
    the user provides; vocabulary from ``vocab.txt`` in that directory if present, else the pinned
    public ``vocab.txt`` (same 20k-token sample vocabulary).

Every document becomes ``<s> w_1 .. w_L </s>`` (docs/implementation.md §2.1); documents have 20..200 words.
"""

from __future__ import annotations

import os
from pathlib import Path

from duvae.data.registry import fetch
from duvae.data.text import TextCorpus, TextDataset, Vocab, read_tokenized

N_MIRROR_TRAIN = 9_000  # first 9,000 documents of the official validation split -> train
FULL_FILES = ("yahoo.train.txt", "yahoo.valid.txt", "yahoo.test.txt")


def load_yahoo(
    mirror: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    *,
    full_dir: str | os.PathLike | None = None,
    max_train: int | None = None,
    max_eval: int | None = None,
    max_valid: int | None = None,
    max_len: int | None = None,
    max_vocab: int | None = None,
    vocab_source: str = "file",
    progress: bool = True,
) -> TextCorpus:
    """Load Yahoo as a :class:`~duvae.data.text.TextCorpus` (see the module docstring).

    ``mirror`` / ``cache_dir``: where the pinned files come from / are cached (see
    :func:`duvae.data.registry.fetch`). ``full_dir``: a directory with He et al.'s three full
    files, which switches to the ``"he2019-full"`` variant. Explicit subsampling for small
    profiles: ``max_len`` drops documents with more words (in every split), ``max_train`` keeps the
    first ``max_train`` training documents, ``max_eval`` the first ``max_eval`` valid / test ones
    (``max_valid``, if given, the first ``max_valid`` valid ones instead);
    ``max_vocab`` keeps the first ``max_vocab`` entries of the vocabulary (the 4 specials, then the
    words by decreasing frequency in He et al.'s training set, the file's order), every other word
    becomes ``_UNK``.

    ``vocab_source="train"`` (a factor of the Yahoo NLL-gap study, an alternative a
    re-implementation could take) builds the vocabulary from the training documents actually used
    instead (after ``max_len`` /
    ``max_train``): the 4 specials, then their words by decreasing count, ties alphabetically
    (:meth:`Vocab.build`), ``max_vocab`` entries in all (every word type if ``max_vocab`` is None);
    ``_UNK`` in the text stays the unknown id. The default ``"file"`` is the pinned ``vocab.txt``.
    """
    if vocab_source not in ("file", "train"):
        raise ValueError(f"vocab_source must be 'file' or 'train', got {vocab_source!r}")

    def get(name: str) -> Path:
        return fetch(f"yahoo/{name}", mirror=mirror, cache_dir=cache_dir, progress=progress)

    if full_dir is not None:
        full_dir = Path(full_dir).expanduser()
        missing = [f for f in FULL_FILES if not (full_dir / f).is_file()]
        if missing:
            raise FileNotFoundError(
                f"full_dir={str(full_dir)!r} lacks {missing}; it must hold He et al.'s {FULL_FILES}"
            )
        vocab_file = full_dir / "vocab.txt"
        vocab = Vocab.from_file(vocab_file if vocab_file.is_file() else get("vocab.txt"))
        train_docs, valid_docs, test_docs = (read_tokenized(full_dir / f) for f in FULL_FILES)
        variant = "he2019-full"
        notes = f"He et al. 2019 splits read from {full_dir}"
    else:
        vocab = Vocab.from_file(get("vocab.txt"))
        public_valid = read_tokenized(get("yahoo.valid.txt"))
        train_docs, valid_docs = public_valid[:N_MIRROR_TRAIN], public_valid[N_MIRROR_TRAIN:]
        test_docs = read_tokenized(get("yahoo.test.txt"))
        variant = "mirror-valid-split"
        notes = (
            "train/valid = first 9,000 / last 1,000 of the public 10k validation split "
            "(the paper's 100k training split is not public); not comparable with Table 1"
        )

    if max_vocab is not None and max_vocab < 5:
        raise ValueError(f"max_vocab must be >= 5 (4 specials and a word), got {max_vocab}")
    if vocab_source == "train":
        used = [d for d in train_docs if max_len is None or len(d) <= max_len]
        used = used if max_train is None else used[:max_train]
        vocab = Vocab.build(used, max_size=max_vocab)
        notes += f"; vocabulary built from the {len(used):,} training documents"
    elif max_vocab is not None:
        vocab = Vocab(vocab.itos[:max_vocab])
    splits = {
        "train": (train_docs, max_train),
        "valid": (valid_docs, max_eval if max_valid is None else max_valid),
        "test": (test_docs, max_eval),
    }
    data = {
        split: TextDataset.from_sentences(docs, vocab, name=f"yahoo/{split}").subsample(max_len, n)
        for split, (docs, n) in splits.items()
    }
    if any(v is not None for v in (max_train, max_eval, max_valid, max_len, max_vocab)):
        notes += (f"; subsampled: max_train={max_train}, max_eval={max_eval}, max_len={max_len}, "
                  f"max_vocab={max_vocab}" + (f", max_valid={max_valid}" if max_valid is not None else ""))
    return TextCorpus("yahoo", variant, vocab, data["train"], data["valid"], data["test"], notes)


__all__ = ["load_yahoo"]
