"""The data of one run: the data set of a :class:`~duvae.runs.config.RunConfig`, batched for training.

The trainer and the metrics see data through :class:`RunData`:

- ``train_batches(epoch)``: one epoch of training inputs, in an order that depends only on the
  run's seed and the epoch (so an interrupted run resumes into the same batches). Text: length-
  bucketed ``[B, L]`` token ids, batches smaller than ``min_batch_size`` skipped (docs/implementation.md §3.1).
  Images: shuffled ``[B, 1, 28, 28]`` gray images binarised afresh per batch (dynamic binarisation,
  docs/implementation.md §3.2).
- ``sample_train_batch(generator)``: one random training batch (Agg-VAE's inner loop).
- ``valid`` / ``test``: fixed evaluation batches (text: length-bucketed; images: binarised once).

Profiles shrink data only through the explicit ``max_*`` fields of :class:`~duvae.runs.config.TrainConfig`;
:meth:`RunData.describe` says what was used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch

from duvae.runs.config import RunConfig

EVAL_BATCH_SIZE = {"text": 64, "image": 50}


@dataclass
class RunData:
    kind: str  # "text" | "image"
    train_batches: Callable[[int], Iterator[torch.Tensor]]
    sample_train_batch: Callable[[torch.Generator], torch.Tensor]
    n_train_batches: int
    valid: list[torch.Tensor]
    test: list[torch.Tensor]
    description: str
    vocab_size: int | None = None
    corpus: object = field(default=None, repr=False)  # the TextCorpus / OmniglotData it came from
    n_train: int | None = None  # training examples (the nominal N_train / batch_size of KL annealing)  # the TextCorpus / OmniglotData it came from

    def describe(self) -> str:
        return self.description

    def n_tokens(self, batch: torch.Tensor) -> int:
        """Predicted tokens of a text batch (words + ``</s>``, docs/implementation.md §4.5)."""
        return int(batch.shape[0] * (batch.shape[1] - 1))


def _epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch) % (2**63 - 1)


#: a directory holding He et al. 2019's full files in ``yahoo/`` and ``yelp/`` (read at the paper profile)
HE2019_ENV = "DUVAE_HE2019_DIR"


def he2019_dir(dataset: str, profile: str, full_dir=None) -> Path | None:
    """He et al.'s full files for ``dataset``: ``full_dir``, else ``$DUVAE_HE2019_DIR/<dataset>`` at the
    ``paper`` profile (the ``cpu`` profile always uses the pinned mirror, so its results stay comparable)."""
    if full_dir is not None:
        return Path(full_dir)
    env = os.environ.get(HE2019_ENV)
    if env and profile == "paper" and dataset in ("yahoo", "yelp") and (Path(env) / dataset).is_dir():
        return Path(env) / dataset
    return None


def _load_corpus(cfg: RunConfig, mirror=None, cache_dir=None, full_dir=None):
    """The text corpus of ``cfg.dataset`` with the profile's explicit subsampling."""
    from duvae.data.short_yelp import load_short_yelp
    from duvae.data.synthetic import load_synthetic
    from duvae.data.yahoo import load_yahoo

    t = cfg.train
    if cfg.dataset == "yours_text":  # your own documents, with the schedule's caps (duvae.data.your_files)
        from duvae.data.your_files import text_corpus_of

        return text_corpus_of(cfg)
    full = he2019_dir(cfg.dataset, cfg.profile, full_dir)
    if cfg.dataset == "yahoo":
        # valid: the first max_valid documents if set, else max_test (the cpu profile's 394 = all <= 60 words)
        return load_yahoo(mirror, cache_dir, full_dir=full, max_train=t.max_train, max_eval=t.max_test,
                          max_valid=t.max_valid, max_len=t.max_len, max_vocab=t.max_vocab,
                          **({} if t.vocab_source == "file" else {"vocab_source": t.vocab_source}))
    if t.max_vocab is not None and cfg.dataset != "yahoo":
        raise ValueError(f"max_vocab is implemented for yahoo only, not {cfg.dataset!r}")
    if t.vocab_source != "file":
        raise ValueError(f"vocab_source={t.vocab_source!r} is implemented for yahoo only, not {cfg.dataset!r}")
    if cfg.dataset == "short_yelp":
        sizes = {}
        for key, value in (("n_train", t.max_train), ("n_valid", t.max_valid), ("n_test", t.max_test)):
            if value is not None:
                sizes[key] = value - value % 2  # label-balanced splits need even sizes
        return load_short_yelp(mirror, cache_dir, **sizes)
    if cfg.dataset == "synthetic":
        overrides = {}
        if t.max_train is not None:
            overrides["n_train"] = t.max_train
        if t.max_test is not None:
            overrides["n_test"] = t.max_test
        return load_synthetic(**overrides)
    if cfg.dataset == "yelp":
        if full is None:
            raise FileNotFoundError(
                "the long Yelp corpus of Yang et al. 2017 is not public in a form this project can pin "
                f"(see data/README.md): set {HE2019_ENV}=<dir> with He et al.'s files in <dir>/yelp/ (paper "
                "profile) or pass full_dir=; without them Table 1's Yelp column is not available"
            )
        from duvae.data.yelp import load_yelp

        return load_yelp(full, max_train=t.max_train, max_eval=t.max_test, max_len=t.max_len)
    raise ValueError(f"{cfg.dataset!r} is not a text data set")


def load_run_data(cfg: RunConfig, *, mirror=None, cache_dir=None, device=None, full_dir=None) -> RunData:
    """Load and batch the data set of ``cfg`` (downloads are verified and cached, see duvae.data).

    ``full_dir`` (or ``$DUVAE_HE2019_DIR/<dataset>`` at the paper profile) reads He et al.'s full
    Yahoo / Yelp files instead of the mirror; ``describe()`` names the variant that ran.
    """
    cfg.validate()
    t = cfg.train
    if cfg.is_text:
        corpus = _load_corpus(cfg, mirror, cache_dir, full_dir)
        train, valid, test = corpus.train, corpus.valid, corpus.test
        if t.max_len is not None:
            train, valid, test = (d.shorter_than(t.max_len) for d in (train, valid, test))
        if t.max_train is not None and len(train) > t.max_train:
            train = train.head(t.max_train)
        if t.max_valid is not None and len(valid) > t.max_valid:
            valid = valid.head(t.max_valid)
        if t.max_test is not None and len(test) > t.max_test:
            test = test.head(t.max_test)

        def train_batches(epoch: int) -> Iterator[torch.Tensor]:
            return train.batches(t.batch_size, seed=_epoch_seed(t.seed, epoch), min_batch_size=t.min_batch_size,
                                 with_labels=False, device=device)

        n_train_batches = len(train.batch_indices(t.batch_size, min_batch_size=t.min_batch_size))
        if n_train_batches == 0:
            raise ValueError(
                f"no training batch of at least {t.min_batch_size} sentences of equal length in "
                f"{len(train)} sentences; lower min_batch_size or use more data"
            )
        lengths = train.lengths

        def sample_train_batch(generator: torch.Generator) -> torch.Tensor:
            # a random sentence, then a random batch among those of its length (Agg-VAE inner loop)
            i = int(torch.randint(len(train), (1,), generator=generator))
            same = torch.nonzero(lengths == lengths[i]).squeeze(1)
            pick = same[torch.randperm(len(same), generator=generator)[: t.batch_size]]
            return train.gather(pick).to(device)

        def eval_batches(d) -> list[torch.Tensor]:
            return list(d.batches(EVAL_BATCH_SIZE["text"], with_labels=False, device=device))

        description = (
            f"{corpus.name} [{corpus.variant}]: train {len(train):,}, valid {len(valid):,}, "
            f"test {len(test):,} sentences; vocabulary {len(corpus.vocab):,}"
            + (f"; max_len {t.max_len}" if t.max_len else "")
        )
        return RunData("text", train_batches, sample_train_batch, n_train_batches, eval_batches(valid),
                       eval_batches(test), description, vocab_size=len(corpus.vocab), corpus=corpus,
                       n_train=len(train))

    from duvae.data.omniglot import dynamic_binarize, load_omniglot

    n_valid = t.max_valid if t.max_valid is not None else 2000
    if cfg.dataset == "yours_image":  # your own images, split and binarised as Omniglot (duvae.data.your_files)
        from duvae.data.your_files import image_data_of

        data = image_data_of(cfg)
    else:
        data = load_omniglot(mirror, cache_dir, n_valid=n_valid, max_train=t.max_train, max_test=t.max_test)
    train_images = data.train.images

    def train_batches(epoch: int) -> Iterator[torch.Tensor]:
        generator = torch.Generator().manual_seed(_epoch_seed(t.seed, epoch))
        order = torch.randperm(len(train_images), generator=generator)
        for index in order.split(t.batch_size):
            if len(index) >= t.min_batch_size:
                yield dynamic_binarize(train_images[index], generator).to(device)

    def sample_train_batch(generator: torch.Generator) -> torch.Tensor:
        index = torch.randint(len(train_images), (t.batch_size,), generator=generator)
        return dynamic_binarize(train_images[index], generator).to(device)

    n_train_batches = sum(1 for i in range(0, len(train_images), t.batch_size)
                          if min(t.batch_size, len(train_images) - i) >= t.min_batch_size)
    bs = EVAL_BATCH_SIZE["image"]
    valid = [b.to(device) for b in data.valid.images.split(bs)]
    test = [b.to(device) for b in data.test.images.split(bs)]
    return RunData("image", train_batches, sample_train_batch, n_train_batches, valid, test, data.describe(),
                   corpus=data, n_train=len(train_images))
