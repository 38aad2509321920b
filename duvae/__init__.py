"""duvae: a literate re-implementation of DU-VAE (Shen et al., IJCAI-21).

The package holds the code; the notebooks in ``notebooks/`` import it and explain it.

Modules
-------
- :mod:`duvae.theory`   closed forms of the paper's Section 3 (MPD, conditional entropy,
  variance dropout, Proposition 1, the BN scale renormalisation).
- :mod:`duvae.data`     verified downloads and the four data sets (Omniglot, Yahoo,
  short Yelp, synthetic text).
- :mod:`duvae.profiles` the ``smoke`` / ``cpu`` / ``paper`` sizes used by the notebooks.
- :mod:`duvae.device`   CUDA when present, else CPU; seeding.
"""

__version__ = "0.1.0"
