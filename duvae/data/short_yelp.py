r"""Short Yelp: the sentiment-labelled sentences of Table 2, re-created from public files.

DU-VAE's Table 2 uses Li et al. (2019)'s "short Yelp": 100k / 10k / 10k sentences of Shen et al.
(2017)'s Yelp sentiment corpus (lower-cased, at most 15 tokens, label 0 = negative, 1 = positive),
vocabulary 8,411 entries incl. specials (docs/implementation.md §6.2). Li et al.'s split is
not public; only Shen et al.'s dev and test files are pinned here (75,556 negative and 114,597
positive sentences), so we re-create a split of the same sizes and document how:

1. **Pool.** All sentences of ``sentiment.{dev,test}.{0,1}``, grouped by label (dev then test).
   With ``dedupe=True`` (default) a sentence is kept once per label, and the few sentences that
   occur with *both* labels are dropped, so the three splits are disjoint as *texts* (not only as
   line numbers) and no test sentence is seen in training.
2. **Balanced split.** For each label :math:`y \in \{0, 1\}` a seeded permutation of its pool
   gives :math:`n_{train}/2` training, then :math:`n_{valid}/2` validation, then
   :math:`n_{test}/2` test sentences; each split is shuffled. Every split is exactly 50/50.
3. **Vocabulary** from the training split only: words seen at least ``min_count`` (default 2)
   times, plus the 4 specials; other words become ``<unk>``. With the defaults this gives about
   8.3k entries, close to the reference's 8,411 (the exact count is in ``describe()``).

Labelled subsets for Table 2 (:func:`labelled_subset`): ``N`` in {100, 500, 1000, 2000, 10000}
training sentences, **class-balanced** (``N/2`` per label) and **nested** (the subset of size 500
contains the one of size 100, ...), drawn from a per-label permutation seeded with 783435 (the seed
of Li et al.'s sampling script). Li et al.'s script can sample balanced or not; which option made
the published files is unknown (docs/implementation.md §6.2), balanced is our documented choice.
"""

from __future__ import annotations

import os

import torch

from duvae.data.registry import fetch
from duvae.data.text import TextCorpus, TextDataset, Vocab, read_tokenized

LABEL_SUBSET_SIZES = (100, 500, 1_000, 2_000, 10_000)
DEFAULT_SEED = 783435  # seed of the reference code and of Li et al.'s label-sampling script
SOURCE_FILES = {
    label: (f"yelp_sentiment/sentiment.dev.{label}", f"yelp_sentiment/sentiment.test.{label}")
    for label in (0, 1)
}


def _check_even(name: str, value: int) -> int:
    if value < 2 or value % 2:
        raise ValueError(f"{name} must be a positive even number (50/50 labels), got {value}")
    return value


def sentence_pools(
    mirror: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    *,
    dedupe: bool = True,
    progress: bool = True,
) -> dict[int, list[list[str]]]:
    """The tokenised sentences of each label, ``{0: [...], 1: [...]}`` (dev then test files).

    With ``dedupe`` each sentence appears once per label and sentences found under both labels
    are removed.
    """
    pools = {}
    for label, names in SOURCE_FILES.items():
        sentences = []
        for name in names:
            path = fetch(name, mirror=mirror, cache_dir=cache_dir, progress=progress)
            sentences += read_tokenized(path)
        pools[label] = sentences
    if dedupe:
        texts = {label: {" ".join(s) for s in pool} for label, pool in pools.items()}
        ambiguous = texts[0] & texts[1]
        for label, pool in pools.items():
            seen: set[str] = set()
            kept = []
            for sentence in pool:
                text = " ".join(sentence)
                if text not in seen and text not in ambiguous:
                    seen.add(text)
                    kept.append(sentence)
            pools[label] = kept
    return pools


def load_short_yelp(
    mirror: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    *,
    n_train: int = 100_000,
    n_valid: int = 10_000,
    n_test: int = 10_000,
    seed: int = DEFAULT_SEED,
    min_count: int = 2,
    dedupe: bool = True,
    progress: bool = True,
) -> TextCorpus:
    """Seeded, label-balanced, disjoint train / valid / test splits (module docstring).

    Sizes must be even (exact 50/50 balance); smaller sizes are the explicit subsampling used by
    small profiles. Labels: 0 = negative, 1 = positive (``TextDataset.labels``).
    """
    sizes = {
        "train": _check_even("n_train", n_train),
        "valid": _check_even("n_valid", n_valid),
        "test": _check_even("n_test", n_test),
    }
    pools = sentence_pools(mirror, cache_dir, dedupe=dedupe, progress=progress)
    per_label = sum(sizes.values()) // 2
    generator = torch.Generator().manual_seed(seed)

    # per label: one permutation, consecutive slices -> train, valid, test
    sentences: dict[str, list[list[str]]] = {split: [] for split in sizes}
    labels: dict[str, list[int]] = {split: [] for split in sizes}
    for label in (0, 1):
        pool = pools[label]
        if per_label > len(pool):
            raise ValueError(
                f"label {label} has {len(pool):,} sentences but n_train + n_valid + n_test = "
                f"{2 * per_label:,} needs {per_label:,} per label"
            )
        order = torch.randperm(len(pool), generator=generator).tolist()
        start = 0
        for split, size in sizes.items():
            sentences[split] += [pool[i] for i in order[start : start + size // 2]]
            labels[split] += [label] * (size // 2)
            start += size // 2

    vocab = Vocab.build(sentences["train"], min_count=min_count)
    data = {}
    for split in sizes:
        # shuffle each split so that the labels are interleaved
        shuffle = torch.randperm(sizes[split], generator=generator)
        data[split] = TextDataset.from_sentences(
            [sentences[split][i] for i in shuffle.tolist()],
            vocab,
            labels=torch.tensor(labels[split])[shuffle],
            name=f"short_yelp/{split}",
        )
    notes = (
        f"re-created from Shen et al.'s dev+test files (dedupe={dedupe}, seed={seed}); "
        f"vocabulary = training words with count >= {min_count} (reference: 8,411 incl. specials)"
    )
    variant = "shen-dev-test-balanced"
    return TextCorpus("short_yelp", variant, vocab, data["train"], data["valid"], data["test"], notes)


def labelled_subset(data: TextDataset, n: int, *, seed: int = DEFAULT_SEED) -> TextDataset:
    """A class-balanced labelled subset of ``n`` sentences of ``data`` (Table 2).

    ``n/2`` sentences per label, the first ``n/2`` of a per-label permutation drawn from
    ``torch.Generator().manual_seed(seed)``: subsets of increasing ``n`` with the same seed are
    nested. Returned in dataset order.
    """
    if data.labels is None:
        raise ValueError(f"dataset {data.name!r} has no labels")
    if len(data) == 0 or data.labels.min() < 0 or data.labels.max() > 1:
        raise ValueError(f"expected binary labels in {{0, 1}} in dataset {data.name!r}")
    _check_even("n", n)
    generator = torch.Generator().manual_seed(seed)
    keep = []
    for label in (0, 1):
        members = (data.labels == label).nonzero().squeeze(1)
        if n // 2 > len(members):
            raise ValueError(
                f"n={n} needs {n // 2} sentences of label {label}, only {len(members)} exist"
            )
        keep.append(members[torch.randperm(len(members), generator=generator)[: n // 2]])
    return data.subset(torch.cat(keep).sort().values, name=f"{data.name}[{n} labelled]")


__all__ = ["LABEL_SUBSET_SIZES", "labelled_subset", "load_short_yelp", "sentence_pools"]
