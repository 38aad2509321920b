"""Data: verified downloads and the four data sets of the paper.

- :mod:`duvae.data.registry`   pinned files (URL, size, SHA-256) and :func:`fetch` (cache, mirror, download).
- :mod:`duvae.data.omniglot`   28x28 Omniglot, 15/5 drawer split, fixed and dynamic binarisation.
- :mod:`duvae.data.text`       vocabulary, encoded sentences, length-bucketed batches.
- :mod:`duvae.data.yahoo`      Yahoo Answers (mirror variant or He et al.'s full files).
- :mod:`duvae.data.short_yelp` short Yelp sentiment splits and Table 2's labelled subsets.
- :mod:`duvae.data.synthetic`  synthetic text from a 2-D, 5-component latent (Figure 1).
"""

from duvae.data.omniglot import OmniglotData, OmniglotSplit, dynamic_binarize, load_omniglot
from duvae.data.registry import FILES, ChecksumError, DownloadError, default_cache_dir, fetch
from duvae.data.short_yelp import LABEL_SUBSET_SIZES, labelled_subset, load_short_yelp
from duvae.data.synthetic import SyntheticConfig, load_synthetic, mixture_log_density
from duvae.data.text import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    TextCorpus,
    TextDataset,
    Vocab,
    bucket_batches,
)
from duvae.data.yahoo import load_yahoo

__all__ = [
    "BOS_ID",
    "EOS_ID",
    "FILES",
    "LABEL_SUBSET_SIZES",
    "PAD_ID",
    "UNK_ID",
    "ChecksumError",
    "DownloadError",
    "OmniglotData",
    "OmniglotSplit",
    "SyntheticConfig",
    "TextCorpus",
    "TextDataset",
    "Vocab",
    "bucket_batches",
    "default_cache_dir",
    "dynamic_binarize",
    "fetch",
    "labelled_subset",
    "load_omniglot",
    "load_short_yelp",
    "load_synthetic",
    "load_yahoo",
    "mixture_log_density",
]
