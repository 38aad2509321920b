r"""The verdict rule: when does a measured difference support a statement of the paper?

One rule judges every comparison in the repository: the tables of notebooks 06-10
(:mod:`duvae.experiments`) and the claims of the report (:mod:`duvae.report.claims`). A comparison has a
*difference* :math:`d`, oriented so that a positive value is what the paper says (e.g. the other
model's NLL minus DU-VAE's), and a *spread* :math:`s`, the larger seed-to-seed standard deviation
of its two sides (so it needs at least two seeds on each side):

.. math::
    \text{verdict}(d, s) = \begin{cases}
      \text{holds} & d > s \\
      \text{within the spread (paper's / opposite sign)} & |d| \le s,\ d \ne 0 \\
      \text{does not hold} & d < -s \\
    \end{cases}

- ``holds``: the paper's sign, beyond the noise;
- ``within the spread (paper's sign)`` / ``within the spread (opposite sign)``: no larger than the
  spread in size; the sign is said, since a wrong-sign difference inside the noise is not a
  refutation (``(no difference)`` when it is exactly 0);
- ``does not hold``: the opposite sign beyond the spread (or exactly no difference where the
  seeds agree exactly, spread 0: the claimed difference is absent);
- ``inconclusive (...)``: runs missing, one seed (no spread), or a data set not available here.

A statement that needs several comparisons at once (DU-VAE beats *each* other classic VAE) is their
conjunction (:func:`combine`): it does not hold if any part does not hold; else it is inconclusive
if any part is; else it holds if every part holds; else it is within the spread, with the opposite
sign if any part has it.

**Statements counted over seeds rather than over means** (:func:`seed_share_verdict`; the report's
C7, about each seed's picture): the share of seeds showing what the paper shows. All seeds (at least 2) -> ``holds``; none -> ``does not
hold``; some -> ``within the spread`` (the seeds disagree), with the paper's sign if more than half
agree with it.

**How a mean over seeds is written** (:func:`mean_sd`): ``mean ± sd`` with the sample standard
deviation (``n - 1``), the spread the rule above compares with; one seed shows its value alone.
"""

from __future__ import annotations

import math
import statistics

HOLDS = "holds"
WITHIN_SAME = "within the spread (paper's sign)"
WITHIN_OPPOSITE = "within the spread (opposite sign)"
WITHIN_NONE = "within the spread (no difference)"
DOES_NOT_HOLD = "does not hold"
ONE_SEED = "inconclusive (one seed: no spread to judge by)"
MISSING = "inconclusive (missing runs)"
NOT_AVAILABLE = "inconclusive (not available here)"
#: the four kinds of verdict, in the order tables sort them
KINDS = ("holds", "within the spread", "does not hold", "inconclusive")


def verdict(diff: float | None, spread: float | None, seeds: int = 2) -> str:
    """The verdict of one comparison (module docstring).

    ``diff``: the difference of the means, positive in the paper's direction (None: no results);
    ``spread``: the larger seed std of the two sides; ``seeds``: the fewer seeds of the two sides.
    """
    if diff is None or seeds < 1 or (isinstance(diff, float) and math.isnan(diff)):
        return MISSING
    if seeds < 2 or spread is None or (isinstance(spread, float) and math.isnan(spread)):
        return ONE_SEED
    if diff > spread:
        return HOLDS
    if diff < -spread:
        return DOES_NOT_HOLD
    if diff > 0:
        return WITHIN_SAME
    if diff < 0:
        return WITHIN_OPPOSITE
    return DOES_NOT_HOLD if spread == 0 else WITHIN_NONE


def kind(v: str) -> str:
    """Which of :data:`KINDS` a verdict string is (older wordings and ``no results`` included)."""
    if v == HOLDS:
        return "holds"
    if v == DOES_NOT_HOLD:
        return "does not hold"
    if v.startswith("within the spread") or v.startswith("same direction"):
        return "within the spread"
    return "inconclusive"  # "inconclusive (...)", "no results", a one-seed note


def normalise(v: str) -> str:
    """A verdict in this module's words (the experiment modules say ``no results`` for missing runs)."""
    return MISSING if v == "no results" else v


def combine(verdicts: list[str]) -> str:
    """The verdict of a conjunction of comparisons (module docstring); no parts -> missing runs."""
    vs = [normalise(v) for v in verdicts]
    if not vs:
        return MISSING
    kinds = [kind(v) for v in vs]
    if "does not hold" in kinds:
        return DOES_NOT_HOLD
    if "inconclusive" in kinds:
        reasons = [v for v in vs if kind(v) == "inconclusive"]
        return MISSING if MISSING in reasons else reasons[0]
    if all(k == "holds" for k in kinds):
        return HOLDS
    if WITHIN_OPPOSITE in vs:
        return WITHIN_OPPOSITE
    if WITHIN_SAME in vs:
        return WITHIN_SAME
    return WITHIN_NONE


def seed_share_verdict(agree: int, seeds: int) -> str:
    """A per-seed claim (C7): how many of ``seeds`` seeds show what the paper shows."""
    if seeds == 0:
        return MISSING
    if seeds == 1:
        return ONE_SEED
    if agree == seeds:
        return HOLDS
    if agree == 0:
        return DOES_NOT_HOLD
    return WITHIN_SAME if agree > seeds / 2 else WITHIN_OPPOSITE


def mean_sd(values: list[float], digits: int) -> str:
    """``"mean ± sd"`` over seeds (sample sd), ``"value"`` for one seed, ``""`` for none; ``None`` values are skipped."""
    values = [float(x) for x in values if x is not None]
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"
