r"""The course's exercises: reference answers and the checks a student runs on their own code.

Every exercise of the theory and model notebooks asks for one short function. The reference answer
is the package's own function, the one the notebooks use and training runs (so the answer key, the
code that makes the figures and the code that trained the models cannot drift apart), and
``check_<name>(student_fn)`` compares the student's function with it on seeded random inputs of
several shapes and on the edge cases of the equation.

=====================  ======================================  ==========================================
check                  what the student writes                 reference (in the package)
=====================  ======================================  ==========================================
``check_eq3``          MPD per dimension (eq. 3)                :func:`duvae.theory.mpd`
``check_eq5``          conditional entropy per dimension (5)    :func:`duvae.theory.conditional_entropy`
``check_eq6``          variance dropout, given the mask (6)     :func:`duvae.theory.dropout_variance`
                                                                (calls :func:`duvae.theory.variance_dropout`)
``check_prop1_w``      :math:`\mathbb{E}_B[1/\hat\sigma^2]`     :func:`duvae.theory.expected_inverse_dropout_variance`
``check_eq9``          BN on the means, training mode (9)       :func:`duvae.theory.batchnorm_means`
``check_alg1_step9``   the scale renormalisation (Alg. 1, 9)    :func:`duvae.theory.renormalise_scales`
``check_prior_kl``     KL to :math:`\mathcal{N}(0, I)` (eq. 1)   :func:`duvae.theory.prior_kl`
``check_free_bits``    the free-bits KL                         :func:`duvae.objectives.free_bits_kl`
``check_aggregate``    the aggregated posterior :math:`q(z)`    :func:`duvae.aggregate_posterior.aggregate_posterior_density`
=====================  ======================================  ==========================================

The equations, in the notation of the paper (:math:`\sigma^2` for its :math:`\delta^2`; per dimension
:math:`d`, with :math:`\mathbb{E}` the mean over the :math:`N` posteriors):

- eq. 3: :math:`\mathrm{MPD}_d = \tfrac12\big(\mathbb{E}[(\mu_{1,d}-\mu_{2,d})^2/\sigma^2_{1,d}]
  + \mathbb{E}[\sigma^2_d]\,\mathbb{E}[1/\sigma^2_d] - 1\big)`, :math:`x_1, x_2` i.i.d. (pairs
  :math:`i = j` included);
- eq. 5: :math:`H_d = \tfrac12\log 2\pi e + \tfrac12\,\mathbb{E}[\log\sigma^2_d]`;
- eq. 6: :math:`\hat\sigma^2 = g\,(\sigma^2 - \alpha) + \alpha`, :math:`g = \mathrm{keep}/p`,
  :math:`\mathrm{keep} \sim \mathrm{Bernoulli}(p)`;
- Proposition 1: :math:`w = \mathbb{E}_B[1/\hat\sigma^2] = p/u + (1-p)/\alpha`,
  :math:`u = \alpha + (\sigma^2-\alpha)/p`;
- eq. 9: :math:`\hat\mu_d = \gamma_{\mu_d}(\mu_d - \mu_{\mathcal{B}_d})/\sqrt{\sigma^2_{\mathcal{B}_d} + \epsilon}
  + \beta_{\mu_d}` with the biased batch variance;
- Algorithm 1, step 9: :math:`\gamma_\mu \leftarrow \gamma\,\gamma_\mu / \sqrt{\mathbb{E}_d[\gamma_{\mu_d}^2]}`;
- eq. 1's KL term: :math:`\tfrac12(\mu^2 + \sigma^2 - \log\sigma^2 - 1)` per entry;
- free bits: :math:`\sum_d \max(\lambda, \mathrm{mean}_n \mathrm{KL}_{n,d})`;
- aggregated posterior: :math:`q(z) = \frac1N\sum_n \mathcal{N}(z; \mu_n, \mathrm{diag}\,\sigma^2_n)`.

What a check does, in order:

1. It calls the student's function on every case (copies of the inputs, float64). A
   ``NotImplementedError`` (the stub of the student edition, :mod:`duvae.book.course`) is not a failure:
   the check returns a :class:`CheckResult` that says "not implemented yet", so a student can run a
   whole notebook before answering anything.
2. Any other exception, an input changed in place, a wrong shape or a value outside the tolerance
   raises :class:`ExerciseFailed` (an ``AssertionError``). Before it does, the wrong output is
   compared with a catalogue of the usual mistakes of that equation (forgetting the
   :math:`\tfrac12`, a standard deviation where a variance belongs, :math:`p` for :math:`1-p`, the
   log of a mean for the mean of a log, ...), each computed from the reference on the same input; the
   first one that reproduces the student's numbers gives the hint. Otherwise the message names the
   case, the expected and the obtained values, and a general hint.
3. When every case agrees, it returns a :class:`CheckResult` that says "correct".

A :class:`CheckResult` is true only when the answer is correct, and shows as its message in a notebook.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor

from duvae import theory as T

from duvae import montecarlo as MC

DTYPE = torch.float64
LOG_2PI = math.log(2.0 * math.pi)


class ExerciseFailed(AssertionError):
    """A student's answer disagrees with the reference; the message carries the hint."""


@dataclass
class CheckResult:
    """What a check found: ``status`` is ``"correct"`` or ``"not implemented"`` (a wrong answer raises)."""

    exercise: str
    status: str
    message: str

    def __bool__(self) -> bool:
        return self.status == "correct"

    def __repr__(self) -> str:
        return self.message


@dataclass
class Case:
    """One input of a check: a name for the messages, the arguments of the function, and arguments that
    only the reference sees (eq. 6: the seed of the generator that drew the mask)."""

    name: str
    args: tuple
    reference_kwargs: dict = field(default_factory=dict)


@dataclass
class Mistake:
    """A usual wrong answer: ``answer`` computes it (same signature as the exercise), ``hint`` says why."""

    hint: str
    answer: Callable[..., Any]


@dataclass
class Exercise:
    """One exercise: the reference, the cases, the catalogue of mistakes and the tolerance."""

    key: str
    title: str  # e.g. "Eq. 3 (MPD per dimension)"
    notebook: str
    function: str  # the name the student's function has in the notebook
    signature: str  # what it takes and returns
    reference: Callable[..., Tensor]
    source: str  # the package function the reference is (or calls)
    cases: Callable[[], list[Case]]
    mistakes: list[Mistake]
    hint: str  # when no known mistake matches
    rtol: float = 1e-5
    atol: float = 1e-8


# --------------------------------------------------------------------------------------------------
# comparing outputs
# --------------------------------------------------------------------------------------------------


def _as_tensor(value: Any, like: Tensor) -> Tensor | None:
    """The student's output (a tensor, a NumPy array or a number) as a float64 tensor, or None."""
    try:
        out = value if torch.is_tensor(value) else torch.as_tensor(
            value, dtype=like.dtype if isinstance(value, (int, float, list, tuple)) else None)
    except (TypeError, ValueError, RuntimeError):
        return None
    if out.dtype == torch.bool or not (out.is_floating_point() or out.dtype in (torch.int32, torch.int64)):
        return None
    return out.detach().to(dtype=like.dtype, device="cpu")


def _close(got: Tensor | None, want: Tensor, rtol: float, atol: float) -> bool:
    if got is None or got.shape != want.shape:
        return False
    return bool(torch.isclose(got, want.detach().cpu().to(got.dtype), rtol=rtol, atol=atol, equal_nan=True).all())


def _copy(value: Any) -> Any:
    return value.clone() if torch.is_tensor(value) else value


def _call(fn: Callable, case: Case, reference: bool = False) -> Any:
    """``fn`` on copies of the case's arguments (plus the reference-only ones if ``reference``)."""
    return fn(*[_copy(a) for a in case.args], **(case.reference_kwargs if reference else {}))


def _short(t: Tensor | None, n: int = 4) -> str:
    if t is None:
        return "not a tensor"
    flat = t.reshape(-1)
    body = ", ".join(f"{v:.6g}" for v in flat[:n].tolist())
    more = ", ..." if flat.numel() > n else ""
    return f"[{body}{more}] (shape {list(t.shape)})"


def _inputs_changed(case: Case, originals: list[Any]) -> bool:
    return any(torch.is_tensor(v) and not torch.equal(v, o) for v, o in zip(case.args, originals))


def check(exercise: Exercise | str, fn: Callable) -> CheckResult:
    """Compare ``fn`` with the reference answer of ``exercise`` (see the module docstring)."""
    ex = EXERCISES[exercise] if isinstance(exercise, str) else exercise
    if not callable(fn):
        raise ExerciseFailed(f"{ex.title}: check_{ex.key} takes your function itself, e.g. "
                             f"check_{ex.key}({ex.function}), not the result of calling it")
    cases = ex.cases()
    for case in cases:
        originals = [_copy(v) for v in case.args]
        try:
            raw = fn(*case.args)
        except NotImplementedError:
            return CheckResult(ex.key, "not implemented",
                               f"{ex.title}: not implemented yet. Write {ex.function}{ex.signature} above "
                               f"and run this cell again.")
        except Exception as err:  # a bug in the student's code: say where, keep the traceback
            raise ExerciseFailed(
                f"{ex.title}: {ex.function} raised {type(err).__name__}: {err}\n"
                f"  on the case '{case.name}'.\n  Hint: {ex.hint}"
            ) from err
        if _inputs_changed(case, originals):
            raise ExerciseFailed(f"{ex.title}: {ex.function} changed its input in place on the case "
                                 f"'{case.name}'. Compute a new tensor (x = x - a, not x -= a).")
        want = _call(ex.reference, case, reference=True)
        got = _as_tensor(raw, want)
        if _close(got, want, ex.rtol, ex.atol):
            continue
        raise ExerciseFailed(_diagnose(ex, case, got, want))
    return CheckResult(ex.key, "correct",
                       f"{ex.title}: correct ({len(cases)} cases agree with the reference, {ex.source}).")


def _diagnose(ex: Exercise, case: Case, got: Tensor | None, want: Tensor) -> str:
    """The failure message: the matching mistake's hint, else the values and the general hint."""
    head = f"{ex.title}: {ex.function} is not right yet (case '{case.name}')."
    if got is None:
        return f"{head}\n  It returned something that is not an array of numbers.\n  Hint: {ex.hint}"
    for mistake in ex.mistakes:
        try:
            wrong = _call(mistake.answer, case)
        except Exception:  # a mistake that does not apply to this case
            continue
        if _close(got, _as_tensor(wrong, want), ex.rtol, ex.atol):
            return f"{head}\n  Hint: {mistake.hint}"
    if got.shape != want.shape:
        return (f"{head}\n  It returned shape {list(got.shape)}; the answer has shape {list(want.shape)}."
                f"\n  Hint: {ex.hint}")
    diff = (got - want).abs()
    worst = int(torch.nan_to_num(diff, nan=math.inf).reshape(-1).argmax())
    return (f"{head}\n  expected {_short(want)}\n  got      {_short(got)}\n"
            f"  largest difference {diff.reshape(-1)[worst].item():.3g} at flat index {worst}.\n  Hint: {ex.hint}")


# --------------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------------


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _family(kind: str, n: int, nz: int, seed: int) -> tuple[Tensor, Tensor]:
    return MC.synthetic_family(kind, n, nz, _gen(seed), "cpu", DTYPE)


def _posterior_cases() -> list[Case]:
    """Families of posteriors ``(mu, var)``, ``[N, nz]``, for eq. 3 (general cases first, then the edges)."""
    mu, var = _family("loguniform", 64, 5, 1)
    mu_h, var_h = _family("heavy_tailed", 33, 3, 2)
    mu_w, var_w = _family("wide_variance", 17, 4, 3)
    mu_s, var_s = _family("loguniform", 3, 6, 4)
    mu_c, var_c = _family("collapsed_means", 20, 2, 5)
    mu_1, var_1 = _family("near_floor", 40, 1, 6)
    return [
        Case("64 posteriors, 5 dimensions, variances in [alpha, 1]", (mu, var)),
        Case("33 heavy-tailed means, 3 dimensions", (mu_h, var_h)),
        Case("17 posteriors with variances up to 10", (mu_w, var_w)),
        Case("only 3 posteriors", (mu_s, var_s)),
        Case("every mean the same, variances differ", (mu_c, var_c)),
        Case("one dimension, variances near the floor", (mu_1, var_1)),
        Case("identical posteriors (MPD must be 0)", (torch.full((10, 3), 0.3, dtype=DTYPE),
                                                      torch.full((10, 3), 0.4, dtype=DTYPE))),
        Case("a single posterior (N = 1)", (mu[:1], var[:1])),
    ]


def _variance_cases() -> list[Case]:
    """Variances ``[N, nz]`` for eq. 5."""
    _, var = _family("loguniform", 64, 5, 11)
    _, var_w = _family("wide_variance", 9, 2, 12)
    tiny = torch.exp(torch.linspace(-30, -2, 12, dtype=DTYPE)).reshape(6, 2)
    return [
        Case("64 posteriors, 5 dimensions, variances in [alpha, 1]", (var,)),
        Case("9 posteriors with variances up to 10", (var_w,)),
        Case("every variance at the floor alpha (entropy 0)", (torch.full((7, 3), T.ALPHA, dtype=DTYPE),)),
        Case("variances down to 1e-13 (negative entropy)", (tiny,)),
        Case("a single posterior, one dimension", (var[:1, :1],)),
    ]


def _masked(var: Tensor, p: float, seed: int, alpha: float = T.ALPHA) -> Case:
    """A dropout case: the keep mask is the one the training function :func:`duvae.theory.variance_dropout`
    (hence :func:`duvae.theory.dropout_variance`) draws with this seed: on a unit excess and alpha = 0 it
    returns g = keep / p, positive exactly where the entry is kept."""
    keep = T.variance_dropout(torch.ones_like(var), p, 0.0, _gen(seed)) > 0  # the same draw as eq. 6's
    return Case(f"shape {list(var.shape)}, p = {p}" + ("" if alpha == T.ALPHA else f", alpha = {alpha}"),
                (var, keep, p, alpha), {"seed": seed})


def _dropout_cases() -> list[Case]:
    """Eq. 6 inputs: ``(var, keep, p, alpha)``; ``var >= alpha``; any shape (eq. 6 is elementwise)."""
    _, var = _family("loguniform", 32, 4, 21)
    _, var_w = _family("wide_variance", 3, 5, 22)
    big_alpha = 0.2 + torch.rand((5, 2, 3), generator=_gen(23), dtype=DTYPE)
    return [
        _masked(var, 0.8, 101),
        _masked(var_w, 0.5, 102),
        _masked(var[:, 0], 0.1, 103),
        _masked(big_alpha, 0.7, 104, alpha=0.2),
        _masked(torch.full((4, 3), T.ALPHA, dtype=DTYPE), 0.6, 105),
        _masked(var, 1.0, 106),
    ]


def _w_cases() -> list[Case]:
    """Proposition 1's ``w``: ``(var, p, alpha)``."""
    _, var = _family("loguniform", 16, 4, 31)
    _, var_w = _family("wide_variance", 5, 3, 32)
    return [
        Case("16 x 4 variances in [alpha, 1], p = 0.8", (var, 0.8, T.ALPHA)),
        Case("variances up to 10, p = 0.3", (var_w, 0.3, T.ALPHA)),
        Case("alpha = 0.25, p = 0.5", (0.25 + var_w, 0.5, 0.25)),
        Case("every variance at the floor, p = 0.4", (torch.full((3, 2), T.ALPHA, dtype=DTYPE), 0.4, T.ALPHA)),
        Case("p = 1 (no dropout)", (var, 1.0, T.ALPHA)),
    ]


def _bn_cases() -> list[Case]:
    """Eq. 9 inputs ``(m, w, b, eps)``: raw means ``[B, nz]`` of arbitrary location and spread."""
    def batch(b: int, nz: int, seed: int) -> tuple[Tensor, Tensor, Tensor]:
        g = _gen(seed)
        loc = 3 * torch.randn(nz, generator=g, dtype=DTYPE)
        spread = torch.exp(torch.randn(nz, generator=g, dtype=DTYPE))
        m = loc + spread * torch.randn(b, nz, generator=g, dtype=DTYPE)
        w = torch.exp(0.5 * torch.randn(nz, generator=g, dtype=DTYPE))
        bias = 0.3 * torch.randn(nz, generator=g, dtype=DTYPE)
        return m, w, bias

    m, w, b = batch(64, 6, 41)
    m2, w2, b2 = batch(2, 3, 42)
    m3, w3, b3 = batch(16, 4, 43)
    m4, w4, b4 = batch(9, 1, 44)
    m5, w5, b5 = batch(12, 3, 45)
    m5[:, 1] = 1.5  # a dimension whose raw means do not vary
    return [
        Case("a batch of 64, 6 dimensions, eps = 1e-5", (m, w, b, 1e-5)),
        Case("a batch of 2", (m2, w2, b2, 1e-5)),
        Case("eps = 0.5 (large on purpose)", (m3, w3, b3, 0.5)),
        Case("negative scales, one dimension", (m4, -w4, b4, 1e-5)),
        Case("one dimension constant over the batch", (m5, w5, b5, 1e-5)),
    ]


def _scale_cases() -> list[Case]:
    """Algorithm 1, step 9 inputs ``(w, gamma)``."""
    g = _gen(51)
    w = torch.exp(0.5 * torch.randn(8, generator=g, dtype=DTYPE))
    signed = torch.randn(6, generator=g, dtype=DTYPE)
    spread = torch.linspace(0.0, 2.0, 5, dtype=DTYPE)
    return [
        Case("8 positive scales, gamma = 0.5", (w, 0.5)),
        Case("scales of both signs, gamma = 1.2", (signed, 1.2)),
        Case("scales from 0 to 2, gamma = 0.6", (spread, 0.6)),
        Case("one dimension, a negative scale", (torch.tensor([-0.3], dtype=DTYPE), 0.5)),
        Case("already renormalised (step 9 changes nothing)", (T.renormalise_scales(w, 0.5), 0.5)),
    ]


def _prior_kl_cases() -> list[Case]:
    """Eq. 1's KL term per entry: ``(mu, var)`` of any shape."""
    mu, var = _family("wide_variance", 20, 4, 61)
    return [
        Case("20 x 4 posteriors", (mu, var)),
        Case("the prior itself, N(0, 1) (KL 0)", (torch.zeros(3, 2, dtype=DTYPE), torch.ones(3, 2, dtype=DTYPE))),
        Case("zero means, small variances", (torch.zeros(5, dtype=DTYPE), torch.linspace(1e-4, 0.5, 5, dtype=DTYPE))),
        Case("unit variances, means far away", (torch.linspace(-5, 5, 6, dtype=DTYPE), torch.ones(6, dtype=DTYPE))),
    ]


def _free_bits_cases() -> list[Case]:
    """Free bits inputs ``(kl_per_dim [B, nz], lam)``."""
    g = _gen(71)
    kl = torch.rand(32, 6, generator=g, dtype=DTYPE) ** 3  # per-dimension means from ~0 to ~0.5
    kl[:, 0] *= 0.01
    kl[:, 1] += 1.0
    kl2 = torch.rand(4, 3, generator=g, dtype=DTYPE) * torch.tensor([0.05, 0.5, 3.0], dtype=DTYPE)
    return [
        Case("a batch of 32, 6 dimensions, lambda = 0.2", (kl, 0.2)),
        Case("a batch of 4, lambda = 0.4", (kl2, 0.4)),
        Case("lambda = 0 (the plain KL)", (kl2, 0.0)),
        Case("lambda larger than every KL", (kl2, 10.0)),
        Case("one example", (kl[:1], 0.3)),
    ]


def _aggregate_cases() -> list[Case]:
    """Aggregated posterior inputs ``(mu [N, nz], var [N, nz], points [M, nz])``."""
    g = _gen(81)
    mu, var = _family("loguniform", 50, 2, 82)
    pts = 3 * (2 * torch.rand(40, 2, generator=g, dtype=DTYPE) - 1)
    mu3, var3 = _family("wide_variance", 7, 3, 83)
    pts3 = torch.randn(10, 3, generator=g, dtype=DTYPE)
    return [
        Case("50 posteriors in 2-D, 40 points in [-3, 3]^2", (mu, var, pts)),
        Case("7 posteriors in 3-D", (mu3, var3, pts3)),
        Case("one posterior: q(z) is its density", (mu[:1], var[:1], pts[:5])),
        Case("a point at a posterior's mean", (mu[:4], var[:4], mu[2:3])),
    ]


# --------------------------------------------------------------------------------------------------
# the exercises, with the usual mistakes
# --------------------------------------------------------------------------------------------------


def _mean_term(mu: Tensor, weight: Tensor, unbiased: bool = False) -> Tensor:
    """E over pairs of (mu_1 - mu_2)^2 * weight_2, as in duvae.theory (optionally with the N-1 variance)."""
    var_mu = mu.var(dim=0, unbiased=unbiased, keepdim=True)
    return (weight * ((mu - mu.mean(0, keepdim=True)) ** 2 + var_mu)).mean(0)


def _eq6(var: Tensor, keep: Tensor, p: float, alpha: float, *, seed: int) -> Tensor:
    """Eq. 6's reference: the package's ``dropout_variance`` (training's ``variance_dropout`` from sigma^2)
    with the generator that drew ``keep``."""
    return T.dropout_variance(var, p, alpha, generator=_gen(seed))


def _free_bits(kl: Tensor, lam: float) -> Tensor:
    from duvae.objectives import free_bits_kl

    return free_bits_kl(kl, lam)


def _aggregate(mu: Tensor, var: Tensor, points: Tensor) -> Tensor:
    from duvae.aggregate_posterior import aggregate_posterior_density

    return aggregate_posterior_density(mu, var, points)


def _log_normal(points: Tensor, mu: Tensor, var: Tensor) -> Tensor:
    """``[M, N]``: log N(z_m; mu_n, diag var_n)."""
    z, m, v = points[:, None, :], mu[None], var[None]
    return (-0.5 * (LOG_2PI + v.log() + (z - m) ** 2 / v)).sum(-1)


EQ3 = Exercise(
    key="eq3",
    title="Eq. 3 (MPD per dimension)",
    notebook="01_diversity_and_uncertainty",
    function="my_mpd",
    signature="(mu, var) -> [nz]",
    reference=T.mpd,
    source="duvae.theory.mpd",
    cases=_posterior_cases,
    mistakes=[
        Mistake("your values are eq. 3 summed over the dimensions. Return one value per dimension, "
                "shape [nz] (the paper's MPD is their sum).", lambda mu, var: T.mpd(mu, var).sum()),
        Mistake("your values are exactly twice eq. 3's. D_SKL is the *mean* of the two KLs, so eq. 3 "
                "carries a factor 1/2 (the paper writes 2 MPD on its left-hand side).",
                lambda mu, var: 2 * T.mpd(mu, var)),
        Mistake("your values are eq. 3 plus 1/2 in every dimension: the '-1' inside the bracket is "
                "missing. Identical posteriors must give MPD = 0.", lambda mu, var: T.mpd(mu, var) + 0.5),
        Mistake("your values are eq. 3 minus 1/2: the constant inside the bracket is -1 (the '-2' of "
                "1/4 (... - 2) becomes -1 once the 1/2 is out). Identical posteriors must give MPD = 0.",
                lambda mu, var: T.mpd(mu, var) - 0.5),
        Mistake("your answer is eq. 3 with the standard deviation sigma in place of the variance: `var` "
                "already holds sigma^2, so do not take its square root.",
                lambda mu, var: T.mpd(mu, var.sqrt())),
        Mistake("your answer is eq. 3 with sigma^4 in place of sigma^2: `var` is already the variance, "
                "do not square it.", lambda mu, var: T.mpd(mu, var**2)),
        Mistake("the second term is E[sigma^2] * E[1/sigma^2] (x_1 and x_2 are independent), not "
                "E[sigma^2 / sigma^2] = 1 of a single posterior.",
                lambda mu, var: 0.5 * _mean_term(mu, 1 / var)),
        Mistake("E over the pairs (x_1, x_2) includes x_1 = x_2 and is a mean over all N^2 ordered pairs; "
                "your answer leaves out the pairs i = j (it is N/(N-1) times eq. 3).",
                lambda mu, var: T.mpd(mu, var) * mu.shape[0] / (mu.shape[0] - 1)),
        Mistake("the spread of the means uses the biased variance (divide by N, not N - 1): p_D is the "
                "empirical distribution of the N posteriors.",
                lambda mu, var: 0.5 * (_mean_term(mu, 1 / var, unbiased=True)
                                       + var.mean(0) * (1 / var).mean(0) - 1)),
        Mistake("you summed over the pairs instead of averaging: E over (x_1, x_2) divides by N^2.",
                lambda mu, var: T.mpd(mu, var) * mu.shape[0] ** 2),
    ],
    hint="per dimension, MPD_d = 1/2 (E[(mu_1 - mu_2)^2 / sigma^2_2] + E[sigma^2] E[1/sigma^2] - 1) with x_1, x_2 "
         "i.i.d. over the N posteriors (pairs i = j included); average over the posteriors with .mean(0), "
         "and E_1[(mu_1 - mu_2)^2] = (mu_2 - mean mu)^2 + Var[mu] (biased variance).",
)

EQ5 = Exercise(
    key="eq5",
    title="Eq. 5 (conditional entropy per dimension)",
    notebook="01_diversity_and_uncertainty",
    function="my_conditional_entropy",
    signature="(var) -> [nz]",
    reference=T.conditional_entropy,
    source="duvae.theory.conditional_entropy",
    cases=_variance_cases,
    mistakes=[
        Mistake("your values are eq. 5 summed over the dimensions. Return one value per dimension, shape [nz].",
                lambda var: T.conditional_entropy(var).sum()),
        Mistake("the constant per dimension is 1/2 log(2 pi e); the paper's n/2 log(2 pi e) is its sum over "
                "the n dimensions.",
                lambda var: var.shape[-1] * 0.5 * T.LOG_2PI_E + 0.5 * var.log().mean(0)),
        Mistake("the 1/2 in front of E[log sigma^2] is missing: H = 1/2 log(2 pi e sigma^2) halves the log "
                "of the variance too.", lambda var: 0.5 * T.LOG_2PI_E + var.log().mean(0)),
        Mistake("both halves are missing: the entropy of N(mu, sigma^2) is 1/2 log(2 pi e sigma^2).",
                lambda var: 2 * T.conditional_entropy(var)),
        Mistake("your answer uses the standard deviation: 1/2 log(2 pi e sigma^2) takes the variance, and "
                "`var` already holds sigma^2 (log sigma = 1/2 log sigma^2).",
                lambda var: T.conditional_entropy(var.sqrt())),
        Mistake("you took the log of the mean variance. Eq. 5 averages the logs, E[log sigma^2], which is "
                "smaller than log E[sigma^2] (log is concave).",
                lambda var: 0.5 * T.LOG_2PI_E + 0.5 * var.mean(0).log()),
        Mistake("the constant 1/2 log(2 pi e) per dimension is missing (the entropy must be 0 at "
                "sigma^2 = alpha = 1/(2 pi e)).", lambda var: 0.5 * var.log().mean(0)),
        Mistake("the constant is 1/2 log(2 pi e), with the e: 1/2 log(2 pi) is the Gaussian's "
                "log-density at its mean, not its entropy.", lambda var: 0.5 * LOG_2PI + 0.5 * var.log().mean(0)),
        Mistake("eq. 5 averages the log of the variance, not the variance itself.",
                lambda var: 0.5 * T.LOG_2PI_E + 0.5 * var.mean(0)),
    ],
    hint="per dimension, H_d = 1/2 log(2 pi e) + 1/2 E[log sigma^2_d], the mean over the N posteriors "
         "(axis 0) of the log of the variances; math.log(2 * math.pi * math.e) is the constant.",
)

EQ6 = Exercise(
    key="eq6",
    title="Eq. 6 (dropout on the variances)",
    notebook="02_proposition1_monte_carlo",
    function="my_dropout_variance",
    signature="(var, keep, p, alpha) -> var_hat",
    reference=_eq6,
    source="duvae.theory.dropout_variance",
    cases=_dropout_cases,
    mistakes=[
        Mistake("p is the *keep* probability: g = keep / p (so E[g] = 1), not keep / (1 - p).",
                lambda var, keep, p, alpha: keep / (1 - p) * (var - alpha) + alpha),
        Mistake("`keep` is True where the variance is kept; you dropped those entries and kept the others.",
                lambda var, keep, p, alpha: (~keep) / p * (var - alpha) + alpha),
        Mistake("the Bernoulli mask must be normalised, g = keep / p; without the 1/p the mean variance "
                "shrinks to alpha + p (sigma^2 - alpha) instead of staying sigma^2 (Proposition 1, line 1).",
                lambda var, keep, p, alpha: keep * (var - alpha) + alpha),
        Mistake("g = keep / p: you multiplied by p instead of dividing.",
                lambda var, keep, p, alpha: keep * p * (var - alpha) + alpha),
        Mistake("drop the excess sigma^2 - alpha, not the whole variance: a dropped entry must land on the "
                "floor alpha, never on 0.", lambda var, keep, p, alpha: keep / p * var),
        Mistake("after scaling the excess, add alpha back: sigma_hat^2 = g (sigma^2 - alpha) + alpha.",
                lambda var, keep, p, alpha: keep / p * (var - alpha)),
        Mistake("scale the excess and add alpha, but do not subtract alpha from the dropped entries "
                "twice: g (sigma^2 - alpha) + alpha.",
                lambda var, keep, p, alpha: keep / p * var + alpha),
    ],
    hint="sigma_hat^2 = g (sigma^2 - alpha) + alpha with g = keep / p, elementwise; `keep` is a boolean "
         "tensor (True = kept, probability p), and keep / p (or keep.to(var.dtype) / p) turns it into g.",
)

PROP1_W = Exercise(
    key="prop1_w",
    title="Proposition 1 (w = E_B[1 / var_hat])",
    notebook="02_proposition1_monte_carlo",
    function="my_expected_inverse_variance",
    signature="(var, p, alpha) -> w",
    reference=T.expected_inverse_dropout_variance,
    source="duvae.theory.expected_inverse_dropout_variance",
    cases=_w_cases,
    mistakes=[
        Mistake("1 / E[sigma_hat^2] = 1 / sigma^2 is not E[1 / sigma_hat^2]: 1/s is convex, so the "
                "expectation of the inverse is larger (Jensen). Average over the two outcomes of the mask.",
                lambda var, p, alpha: 1 / var),
        Mistake("the dropped outcome is missing: with probability 1 - p the variance is alpha, which "
                "contributes (1 - p) / alpha.",
                lambda var, p, alpha: p / (alpha + (var - alpha) / p)),
        Mistake("the kept value is u = alpha + (sigma^2 - alpha) / p (divided by p, eq. 6), not "
                "alpha + p (sigma^2 - alpha).",
                lambda var, p, alpha: p / (alpha + p * (var - alpha)) + (1 - p) / alpha),
        Mistake("weight each outcome by its probability: p / u + (1 - p) / alpha, not 1 / u + 1 / alpha.",
                lambda var, p, alpha: 1 / (alpha + (var - alpha) / p) + 1 / alpha),
        Mistake("p is the keep probability: the kept value u has weight p and the floor alpha weight 1 - p.",
                lambda var, p, alpha: (1 - p) / (alpha + (var - alpha) / p) + p / alpha),
    ],
    hint="sigma_hat^2 is u = alpha + (sigma^2 - alpha) / p with probability p and alpha otherwise, so "
         "w = p / u + (1 - p) / alpha, elementwise.",
)

EQ9 = Exercise(
    key="eq9",
    title="Eq. 9 (batch normalisation of the means)",
    notebook="03_batchnorm_on_means",
    function="my_batchnorm_means",
    signature="(m, w, b, eps) -> mu_hat",
    reference=T.batchnorm_means,
    source="duvae.theory.batchnorm_means",
    cases=_bn_cases,
    mistakes=[
        Mistake("BN uses the biased batch variance (divide by B, not B - 1): m.var(0, unbiased=False).",
                lambda m, w, b, eps: w * (m - m.mean(0)) / torch.sqrt(m.var(0) + eps) + b),
        Mistake("eps goes inside the square root: divide by sqrt(sigma_B^2 + eps).",
                lambda m, w, b, eps: w * (m - m.mean(0)) / (m.var(0, unbiased=False).sqrt() + eps) + b),
        Mistake("eps is missing: divide by sqrt(sigma_B^2 + eps) (it keeps a constant dimension finite).",
                lambda m, w, b, eps: w * (m - m.mean(0)) / m.var(0, unbiased=False).sqrt() + b),
        Mistake("divide by the batch standard deviation sqrt(sigma_B^2 + eps), not by the variance (the "
                "paper's delta_B is a standard deviation).",
                lambda m, w, b, eps: w * (m - m.mean(0)) / (m.var(0, unbiased=False) + eps) + b),
        Mistake("the statistics are per dimension d over the batch, i.e. along axis 0 of m [B, nz]; you "
                "normalised each example over its dimensions.",
                lambda m, w, b, eps: w * (m - m.mean(1, keepdim=True))
                / torch.sqrt(m.var(1, unbiased=False, keepdim=True) + eps) + b),
        Mistake("the shift beta_mu (b) is missing: mu_hat = gamma_mu * normalised + beta_mu.",
                lambda m, w, b, eps: w * (m - m.mean(0)) / torch.sqrt(m.var(0, unbiased=False) + eps)),
        Mistake("the scale gamma_mu (w) is missing: mu_hat = gamma_mu * normalised + beta_mu.",
                lambda m, w, b, eps: (m - m.mean(0)) / torch.sqrt(m.var(0, unbiased=False) + eps) + b),
        Mistake("centre the means first: (m - batch mean) / batch std; you scaled m without subtracting "
                "its batch mean.", lambda m, w, b, eps: w * m / torch.sqrt(m.var(0, unbiased=False) + eps) + b),
    ],
    hint="mu_hat = w * (m - m.mean(0)) / sqrt(m.var(0, unbiased=False) + eps) + b: batch mean and biased "
         "batch variance of each dimension (axis 0), then the scale w and the shift b.",
)

ALG1_STEP9 = Exercise(
    key="alg1_step9",
    title="Algorithm 1, step 9 (renormalising the BN scales)",
    notebook="03_batchnorm_on_means",
    function="my_renormalise_scales",
    signature="(w, gamma) -> w_new",
    reference=T.renormalise_scales,
    source="duvae.theory.renormalise_scales",
    cases=_scale_cases,
    mistakes=[
        Mistake("divide by the root-mean-square sqrt(mean_d w_d^2), not by the mean of w or of |w| "
                "(afterwards the *mean square* must be gamma^2).", lambda w, gamma: w * gamma / w.mean()),
        Mistake("the square root is missing: the factor is gamma / sqrt(mean_d w_d^2).",
                lambda w, gamma: w * gamma / (w**2).mean()),
        Mistake("E_d is a mean over the dimensions, not a sum: with the norm ||w|| in the denominator the "
                "mean square becomes gamma^2 / n.", lambda w, gamma: w * gamma / (w**2).sum().sqrt()),
        Mistake("multiply by gamma, not gamma^2: the mean square must come out as gamma^2.",
                lambda w, gamma: w * gamma**2 / (w**2).mean().sqrt()),
        Mistake("every scale is multiplied by the *same* factor, which keeps their direction; setting all "
                "of them to gamma is BN-VAE's fixed scale, not DU-VAE's step 9.",
                lambda w, gamma: torch.full_like(w, gamma)),
        Mistake("keep the signs of the scales: multiply w itself, not |w|.",
                lambda w, gamma: w.abs() * gamma / (w**2).mean().sqrt()),
    ],
    hint="w_new = w * gamma / sqrt(mean_d w_d^2); then mean_d w_new_d^2 = gamma^2, and applying it twice "
         "changes nothing.",
)

PRIOR_KL = Exercise(
    key="prior_kl",
    title="Eq. 1's KL term (KL to the prior N(0, I), per entry)",
    notebook="04_models",
    function="my_prior_kl",
    signature="(mu, var) -> kl",
    reference=T.prior_kl,
    source="duvae.theory.prior_kl",
    cases=_prior_kl_cases,
    mistakes=[
        Mistake("your values are twice the KL: it is 1/2 (mu^2 + sigma^2 - log sigma^2 - 1).",
                lambda mu, var: 2 * T.prior_kl(mu, var)),
        Mistake("the '-1' is missing: the KL of the prior to itself (mu = 0, sigma^2 = 1) must be 0.",
                lambda mu, var: T.prior_kl(mu, var) + 0.5),
        Mistake("the log term is -log sigma^2 (minus the log of the variance); you used log sigma, the "
                "log of the standard deviation.",
                lambda mu, var: 0.5 * (mu**2 + var - 0.5 * var.log() - 1)),
        Mistake("the sign of the log term: KL = 1/2 (mu^2 + sigma^2 - log sigma^2 - 1).",
                lambda mu, var: 0.5 * (mu**2 + var + var.log() - 1)),
        Mistake("`var` already holds sigma^2; you squared it.", lambda mu, var: T.prior_kl(mu, var**2)),
        Mistake("`var` already holds sigma^2; you took its square root.",
                lambda mu, var: T.prior_kl(mu, var.sqrt())),
        Mistake("the mean enters squared: mu^2, not mu.", lambda mu, var: 0.5 * (mu + var - var.log() - 1)),
    ],
    hint="per entry, KL[N(mu, sigma^2) || N(0, 1)] = 1/2 (mu^2 + sigma^2 - log sigma^2 - 1); no sum, "
         "the output has the shape of mu.",
)

FREE_BITS = Exercise(
    key="free_bits",
    title="Free bits (the KL term of FB)",
    notebook="04_models",
    function="my_free_bits",
    signature="(kl_per_dim, lam) -> scalar",
    reference=_free_bits,
    source="duvae.objectives.free_bits_kl",
    cases=_free_bits_cases,
    mistakes=[
        Mistake("clamp the batch-mean KL of each dimension: sum_d max(lambda, mean_n KL_{n,d}); you "
                "clamped every example first, then averaged.",
                lambda kl, lam: kl.clamp(min=lam).mean(0).sum()),
        Mistake("free bits act per dimension: sum_d max(lambda, mean_n KL_{n,d}); you clamped the total KL.",
                lambda kl, lam: kl.sum(1).mean().clamp(min=lam)),
        Mistake("max, not min: a dimension below lambda is counted as lambda.",
                lambda kl, lam: kl.mean(0).clamp(max=lam).sum()),
        Mistake("sum over the dimensions after clamping, not mean.",
                lambda kl, lam: kl.mean(0).clamp(min=lam).mean()),
        Mistake("average over the batch (mean_n), do not sum over the examples.",
                lambda kl, lam: kl.sum(0).clamp(min=lam).sum()),
    ],
    hint="FB = sum over d of max(lambda, mean over the batch of KL_{n,d}): kl_per_dim.mean(0), then "
         ".clamp(min=lam), then .sum(); a scalar.",
)

AGGREGATE = Exercise(
    key="aggregate",
    title="The aggregated posterior q(z) (Figure 1, top row)",
    notebook="05_latent_space_synthetic",
    function="my_aggregate_density",
    signature="(mu, var, points) -> [M]",
    reference=_aggregate,
    source="duvae.aggregate_posterior.aggregate_posterior_density",
    cases=_aggregate_cases,
    mistakes=[
        Mistake("q(z) is the *mean* of the N posterior densities (1/N sum_n), not their sum.",
                lambda mu, var, pts: _log_normal(pts, mu, var).exp().sum(1)),
        Mistake("`var` holds sigma^2: you used it as a standard deviation (the density's exponent is "
                "-(z - mu)^2 / (2 sigma^2) and its normaliser 1 / sqrt(2 pi sigma^2)).",
                lambda mu, var, pts: _log_normal(pts, mu, var**2).exp().mean(1)),
        Mistake("`var` holds sigma^2: do not take its square root.",
                lambda mu, var, pts: _log_normal(pts, mu, var.sqrt()).exp().mean(1)),
        Mistake("average the densities, not the log-densities: q(z) = 1/N sum_n N(z; mu_n, sigma_n^2).",
                lambda mu, var, pts: _log_normal(pts, mu, var).mean(1).exp()),
        Mistake("the normaliser of each Gaussian is missing: N(z; mu, diag sigma^2) = prod_d "
                "exp(-(z_d - mu_d)^2 / (2 sigma_d^2)) / sqrt(2 pi sigma_d^2).",
                lambda mu, var, pts: torch.exp(-0.5 * ((pts[:, None] - mu[None]) ** 2 / var[None]).sum(-1)).mean(1)),
        Mistake("the exponent has a 1/2: exp(-(z - mu)^2 / (2 sigma^2)).",
                lambda mu, var, pts: (torch.exp(-((pts[:, None] - mu[None]) ** 2 / var[None]).sum(-1))
                                      / torch.sqrt((2 * math.pi * var[None]).prod(-1))).mean(1)),
    ],
    hint="q(z_m) = 1/N sum_n prod_d exp(-(z_{m,d} - mu_{n,d})^2 / (2 sigma^2_{n,d})) / sqrt(2 pi sigma^2_{n,d}); "
         "broadcast points[:, None, :] against mu[None, :, :] to get an [M, N] table, then average over n.",
)

EXERCISES: dict[str, Exercise] = {ex.key: ex for ex in (EQ3, EQ5, EQ6, PROP1_W, EQ9, ALG1_STEP9, PRIOR_KL,
                                                        FREE_BITS, AGGREGATE)}


# --------------------------------------------------------------------------------------------------
# what the notebooks call
# --------------------------------------------------------------------------------------------------


def check_eq3(my_mpd: Callable) -> CheckResult:
    """Eq. 3: ``my_mpd(mu, var)``, ``[N, nz]`` each, returns MPD per dimension ``[nz]``."""
    return check(EQ3, my_mpd)


def check_eq5(my_conditional_entropy: Callable) -> CheckResult:
    """Eq. 5: ``my_conditional_entropy(var)``, ``[N, nz]``, returns the entropy per dimension ``[nz]``."""
    return check(EQ5, my_conditional_entropy)


def check_eq6(my_dropout_variance: Callable) -> CheckResult:
    """Eq. 6: ``my_dropout_variance(var, keep, p, alpha)``; ``keep`` is the boolean mask (True = kept)."""
    return check(EQ6, my_dropout_variance)


def check_prop1_w(my_expected_inverse_variance: Callable) -> CheckResult:
    """Proposition 1: ``my_expected_inverse_variance(var, p, alpha)`` returns ``E_B[1 / var_hat]`` elementwise."""
    return check(PROP1_W, my_expected_inverse_variance)


def check_eq9(my_batchnorm_means: Callable) -> CheckResult:
    """Eq. 9: ``my_batchnorm_means(m, w, b, eps)``, ``m [B, nz]``, ``w, b [nz]``, returns ``[B, nz]``."""
    return check(EQ9, my_batchnorm_means)


def check_alg1_step9(my_renormalise_scales: Callable) -> CheckResult:
    """Algorithm 1, step 9: ``my_renormalise_scales(w, gamma)`` returns the rescaled ``[nz]`` scales."""
    return check(ALG1_STEP9, my_renormalise_scales)


def check_prior_kl(my_prior_kl: Callable) -> CheckResult:
    """Eq. 1's KL term: ``my_prior_kl(mu, var)`` returns the KL to N(0, 1) per entry (shape of ``mu``)."""
    return check(PRIOR_KL, my_prior_kl)


def check_free_bits(my_free_bits: Callable) -> CheckResult:
    """Free bits: ``my_free_bits(kl_per_dim, lam)``, ``kl_per_dim [B, nz]``, returns a scalar."""
    return check(FREE_BITS, my_free_bits)


def check_aggregate(my_aggregate_density: Callable) -> CheckResult:
    """Figure 1: ``my_aggregate_density(mu, var, points)``, ``[N, nz], [N, nz], [M, nz]``, returns ``[M]``."""
    return check(AGGREGATE, my_aggregate_density)


def exercise_table() -> list[dict[str, str]]:
    """One row per exercise: notebook, equation, the function to write, the check, the reference."""
    return [{"notebook": ex.notebook, "exercise": ex.title, "student writes": f"{ex.function}{ex.signature}",
             "check": f"duvae.book.exercises.check_{ex.key}",
             "reference": ex.source,
             "hints for": str(len(ex.mistakes)) + " usual mistakes"} for ex in EXERCISES.values()]
