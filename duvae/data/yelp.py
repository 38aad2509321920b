"""The long Yelp corpus of Table 1 (Yang et al. 2017, as used by He et al. 2019 and DU-VAE).

It is not public in a form this project can pin (docs/implementation.md §6.1), so there is no
mirror variant: the corpus is read from He et al.'s own files when the user has them, in a
directory named by ``full_dir`` (or, through :func:`duvae.runs.run_data.load_run_data` at the ``paper``
profile, ``$DUVAE_HE2019_DIR/yelp``):

``"he2019-full"``
    ``yelp.train.txt`` / ``yelp.valid.txt`` / ``yelp.test.txt`` (100k / 10k / 10k reviews, one
    whitespace-tokenised review per line, rare words already unknown-ed); vocabulary from
    ``vocab.txt`` in that directory if present (``token`` or ``token<TAB>id`` per line, the first
    four the specials), else built from the training split as He et al.'s code does.

Every review becomes ``<s> w_1 .. w_L </s>`` (docs/implementation.md §2.1).
"""

from __future__ import annotations

import os
from pathlib import Path

from duvae.data.text import TextCorpus, TextDataset, Vocab, read_tokenized

FULL_FILES = ("yelp.train.txt", "yelp.valid.txt", "yelp.test.txt")


def load_yelp(
    full_dir: str | os.PathLike,
    *,
    max_train: int | None = None,
    max_eval: int | None = None,
    max_len: int | None = None,
) -> TextCorpus:
    """Load He et al.'s Yelp files from ``full_dir`` as a :class:`~duvae.data.text.TextCorpus`."""
    full_dir = Path(full_dir).expanduser()
    missing = [f for f in FULL_FILES if not (full_dir / f).is_file()]
    if missing:
        raise FileNotFoundError(f"full_dir={str(full_dir)!r} lacks {missing}; it must hold He et al.'s {FULL_FILES}")
    train_docs, valid_docs, test_docs = (read_tokenized(full_dir / f) for f in FULL_FILES)
    vocab_file = full_dir / "vocab.txt"
    vocab = Vocab.from_file(vocab_file) if vocab_file.is_file() else Vocab.build(train_docs)
    data = {
        split: TextDataset.from_sentences(docs, vocab, name=f"yelp/{split}").subsample(max_len, n)
        for split, docs, n in (("train", train_docs, max_train), ("valid", valid_docs, max_eval),
                               ("test", test_docs, max_eval))
    }
    notes = f"He et al. 2019 splits read from {full_dir}"
    return TextCorpus("yelp", "he2019-full", vocab, data["train"], data["valid"], data["test"], notes)


__all__ = ["load_yelp"]
