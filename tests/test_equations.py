"""From an equation of the paper to the ONE function that computes it, which training runs and the book calls.

``EQUATIONS`` maps each numbered equation the package implements (and the importance weights of the
NLL, Section 4.1) to exactly one function, by qualified name. For every row the tests check:

(a) the function exists, and its docstring opens with the row's tag (``Eq. 6``, ...): the package's
    convention for "this is the implementation of that equation" (a wrapper's opens otherwise, e.g.
    "The notebooks' form of eq. 6");
(b) nothing else implements it: no other function of the package opens its docstring with that tag,
    no other function contains the row's computing line (``computes``, regexes on the code with its
    docstring and comments removed), the old duplicates are gone, and every other form of it is a
    thin wrapper that calls it and is tested equal to it here (``WRAPPER_CHECKS``, same draws);
(c) training reaches it: during one training step of DU-VAE / DU-IAF, or the evaluation the trainer
    runs (``metrics.evaluate``), a spy on the function (every module's reference to it replaced by a
    ``unittest.mock`` wrapper) is called; rows training never computes say why (the analysis of
    Proposition 1); and the notebooks / the exercises' answer key that teach it reference the
    function or one of its tested wrappers in their code.

``duvae/book/exercises.py`` is left out of the scans of (b): its catalogue of usual mistakes holds wrong
variants of the equations on purpose, and its checks name the equation they check (its reference
answers are the package functions, ``tests/test_exercises.py``).
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import math
import pathlib
import re
import sys
from dataclasses import dataclass
from unittest import mock

import pytest
import torch

REPO = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = REPO / "duvae"
NOT_SCANNED = {"duvae/book/exercises.py"}  # wrong variants on purpose (module docstring)


@dataclass(frozen=True)
class Equation:
    label: str  # the paper's numbering
    function: str  # qualified name of the one function
    opens: str  # regex its docstring opens with, and no other docstring of the package
    computes: tuple[str, ...] = ()  # regexes of its computing line(s), found in no other function
    wrappers: tuple[str, ...] = ()  # other forms: thin wrappers calling it, tested equal in WRAPPER_CHECKS
    training: tuple[str, ...] = ()  # TRAINING_PATHS that must call it
    not_in_training: str = ""  # why, when training never computes it
    readers: tuple[str, ...] = ()  # notebooks / answer key whose code references it (or a wrapper)


EQUATIONS = [
    Equation("eq. 1 (the KL term)", "duvae.theory.prior_kl", r"Eq\. 1\b",
             computes=(r"mu(\.pow\(2\)| \*\* 2) \+ (var|\w+\.exp\(\)) - (torch\.log\(var\)|log_?var|var\.log\(\))",),
             wrappers=("duvae.sa_vae.prior_kl_from_logvar",),
             training=("DU-VAE training step",),
             readers=("notebooks/03_batchnorm_on_means.py", "duvae/book/exercises.py")),
    Equation("eq. 2 (MPD as the mean symmetric KL)", "duvae.theory.pairwise_skl_mpd", r"Eq\. 2\b",
             not_in_training="the O(N^2) definition, a check of eq. 3: evaluation computes eq. 3's closed form",
             readers=("notebooks/01_diversity_and_uncertainty.py",)),
    Equation("eq. 3 (MPD)", "duvae.theory.mpd", r"Eq\. 3\b",
             computes=(r"var\.mean\(dim=-2\) \* inv_var\.mean\(dim=-2\)",),
             wrappers=("duvae.metrics.mpd_of",),
             training=("evaluation",),
             readers=("notebooks/01_diversity_and_uncertainty.py", "notebooks/02_proposition1_monte_carlo.py",
                      "notebooks/03_batchnorm_on_means.py", "duvae/book/exercises.py")),
    Equation("eq. 4-5 (conditional entropy)", "duvae.theory.conditional_entropy", r"Eq\. (4|5|4-5)\b",
             computes=(r"0\.5 \* LOG_2PI_E \+ 0\.5 \* torch\.log\(var\)\.mean",),
             wrappers=("duvae.metrics.conditional_entropy_of",),
             training=("evaluation",),
             readers=("notebooks/01_diversity_and_uncertainty.py", "notebooks/02_proposition1_monte_carlo.py",
                      "duvae/book/exercises.py")),
    Equation("eq. 6 (dropout on the variances)", "duvae.theory.variance_dropout", r"Eq\. 6\b",
             computes=(r"bernoulli\(torch\.full_like", r"\bg \* \(?(excess|var - alpha)\b", r"\)\s*<\s*p(_keep)?\)"),
             wrappers=("duvae.theory.dropout_variance",),
             training=("DU-VAE training step", "DU-IAF training step"),
             readers=("notebooks/02_proposition1_monte_carlo.py", "notebooks/03_batchnorm_on_means.py",
                      "duvae/book/exercises.py")),
    Equation("eq. 7, line 2 (MPD under dropout)", "duvae.theory.expected_mpd_under_dropout", r"Eq\. 7\b(?!, line [13])",
             not_in_training="Proposition 1 averages over the masks; training draws them (eq. 6)",
             readers=("notebooks/02_proposition1_monte_carlo.py", "notebooks/03_batchnorm_on_means.py")),
    Equation("eq. 7, line 3 (entropy under dropout)", "duvae.theory.expected_ce_under_dropout",
             r"Eq\. 7\b(?!, line [12])",
             not_in_training="Proposition 1 averages over the masks; training draws them (eq. 6)",
             readers=("notebooks/02_proposition1_monte_carlo.py",)),
    Equation("eq. 8 (the MPD bound)", "duvae.theory.mpd_dropout_bound", r"Eq\. 8\b",
             not_in_training="a bound the analysis compares with; training has nothing to bound",
             readers=("notebooks/02_proposition1_monte_carlo.py", "notebooks/03_batchnorm_on_means.py")),
    Equation("eq. 9 (BN on the means)", "duvae.theory.batchnorm_means", r"Eq\. 9\b",
             computes=(r"\bbatch_norm\(", r"/ torch\.sqrt\(\w+ \+ eps\)"),
             training=("DU-VAE training step", "DU-IAF training step"),
             readers=("notebooks/03_batchnorm_on_means.py", "duvae/book/exercises.py")),
    Equation("Algorithm 1, line 9 (the fixed mean scale)", "duvae.theory.renormalise_scales",
             r"Alg(orithm|\.) 1,? (line|step) 9\b",
             computes=(r"pow\(2\)\.mean\(\)\.sqrt\(\)", r"sqrt\(\(\w+ \*\* 2\)\.mean\(\)\)"),
             training=("DU-VAE training step", "DU-IAF training step"),
             readers=("notebooks/03_batchnorm_on_means.py", "duvae/book/exercises.py")),
    Equation("Section 4.1 (importance weights of the NLL)", "duvae.metrics.log_importance_weights",
             r"(Log )?[Ii]mportance weights\b",
             computes=(r"log_likelihood\([^()]*\)(\.to\(\w+\))? \+ (model\.)?prior\.log_prob\(",),
             training=("evaluation",),
             readers=("duvae/experiments/inside.py",)),
]

# rows whose function training never computes: the analysis of Proposition 1 and the brute-force eq. 2
ANALYSIS_ONLY = {"eq. 2 (MPD as the mean symmetric KL)", "eq. 7, line 2 (MPD under dropout)",
                 "eq. 7, line 3 (entropy under dropout)", "eq. 8 (the MPD bound)"}

# the duplicates this map replaced: gone, or the same object as the one function
GONE = ["duvae.theory.MeanBatchNorm", "duvae.sa_vae.gaussian_kl", "duvae.experiments.inside.log_weights"]
SAME_OBJECT = {
    "duvae.posteriors.du.variance_dropout": "duvae.theory.variance_dropout",
    "duvae.posteriors.iaf.variance_dropout": "duvae.theory.variance_dropout",
    "duvae.posteriors.variance_dropout": "duvae.theory.variance_dropout",
    "duvae.posteriors.batchnorm.batchnorm_means": "duvae.theory.batchnorm_means",
    "duvae.posteriors.batchnorm.renormalise_scales": "duvae.theory.renormalise_scales",
    "duvae.posteriors.gaussian.prior_kl": "duvae.theory.prior_kl",
}


def resolve(qualname: str):
    """``duvae.a.b.name`` (or ``duvae.a.Class.method``) -> the object; AttributeError if it does not exist."""
    parts = qualname.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise AttributeError(qualname)


# ----------------------------------------------------------------------------------------------
# the package's source: every def, its docstring and its code without docstring or comments
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Def:
    qualname: str
    doc: str
    code: str


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _defs() -> list[Def]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if str(path.relative_to(REPO)) in NOT_SCANNED:
            continue
        module = _module_name(path)
        tree = ast.parse(path.read_text())

        def visit(nodes, prefix):
            for node in nodes:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    name = f"{prefix}.{node.name}"
                    doc = ast.get_docstring(node) or ""
                    body = node.body[1:] if doc else node.body
                    inner = [n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
                    own = [n for n in body if n not in inner] if isinstance(node, ast.ClassDef) else body
                    out.append(Def(name, doc, "\n".join(ast.unparse(n) for n in own)))
                    if isinstance(node, ast.ClassDef):
                        visit(inner, name)

        visit(tree.body, module)
    return out


DEFS = _defs()


def _referenced_names(path: pathlib.Path) -> set[str]:
    """Names the code of ``path`` references (a notebook: its code cells; markdown and comments excluded)."""
    if path.parts[-2] == "notebooks":
        import jupytext

        sources = [c.source for c in jupytext.read(path).cells if c.cell_type == "code"]
    else:
        sources = [path.read_text()]
    names: set[str] = set()
    for source in sources:
        code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
            elif isinstance(node, ast.alias):
                names.add(node.name.rsplit(".", 1)[-1])
    return names


# ----------------------------------------------------------------------------------------------
# (c) training: what the trainer runs, on the smoke networks
# ----------------------------------------------------------------------------------------------


def _sentences(n: int = 8, length: int = 9, seed: int = 0) -> torch.Tensor:
    x = torch.randint(4, 40, (n, length), generator=torch.Generator().manual_seed(seed))
    x[:, 0], x[:, -1] = 1, 2  # <s> ... </s>
    return x


def _training_step(name: str):
    def run():
        from duvae.objectives import training_loss
        from duvae.runs.zoo import build_model, run_config

        torch.manual_seed(0)
        cfg = run_config(name, "synthetic", "smoke")
        model = build_model(cfg, vocab_size=40).train()
        training_loss(model, _sentences(), 1.0, cfg.model).loss.backward()  # kl_weight 1: floor and dropout on

    return run


def _evaluation():
    from duvae.metrics import evaluate
    from duvae.runs.zoo import build_model, run_config

    torch.manual_seed(0)
    cfg = run_config("du_vae", "synthetic", "smoke")
    model = build_model(cfg, vocab_size=40)
    evaluate(model, [_sentences(seed=1), _sentences(seed=2)], n_iw=3)  # the trainer's validation / test call


TRAINING_PATHS = {
    "DU-VAE training step": _training_step("du_vae"),
    "DU-IAF training step": _training_step("du_iaf"),
    "evaluation": _evaluation,
}


@contextlib.contextmanager
def spy_on(qualname: str):
    """Replace every reference a ``duvae`` module holds to the function by a mock that wraps it."""
    fn = resolve(qualname)
    spy = mock.MagicMock(wraps=fn)
    with contextlib.ExitStack() as stack:
        for name, module in list(sys.modules.items()):
            if module is not None and (name == "duvae" or name.startswith("duvae.")):
                for attr, value in list(vars(module).items()):
                    if value is fn:
                        stack.enter_context(mock.patch.object(module, attr, spy))
        yield spy


# ----------------------------------------------------------------------------------------------
# the wrappers, each equal to its function on the same inputs (the same draws)
# ----------------------------------------------------------------------------------------------


def _family(seed: int = 0, n: int = 32, nz: int = 4):
    from duvae import theory as T
    from duvae import montecarlo as MC

    return MC.synthetic_family("loguniform", n, nz, torch.Generator().manual_seed(seed))


def _check_prior_kl_from_logvar():
    from duvae.sa_vae import prior_kl_from_logvar
    from duvae.theory import prior_kl

    mu, var = _family()
    logvar = var.log()
    assert torch.equal(prior_kl_from_logvar(mu, logvar), prior_kl(mu, logvar.exp(), log_var=logvar).sum(-1))
    torch.testing.assert_close(prior_kl_from_logvar(mu, logvar), prior_kl(mu, var).sum(-1))


def _check_dropout_variance():
    from duvae.theory import ALPHA, dropout_variance, variance_dropout

    _, var = _family(1)
    for p in (0.2, 0.8, 1.0):
        g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
        assert torch.equal(dropout_variance(var, p, generator=g1), variance_dropout(var - ALPHA, p, ALPHA, g2))
        assert torch.equal(torch.rand(2, generator=g1), torch.rand(2, generator=g2))


def _check_mpd_of():
    from duvae.metrics import mpd_of
    from duvae.theory import mpd

    mu, var = _family(2)
    total, per_dim = mpd_of(mu, var)
    assert torch.equal(per_dim, mpd(mu, var)) and total == float(mpd(mu, var).sum())


def _check_conditional_entropy_of():
    from duvae.metrics import conditional_entropy_of
    from duvae.theory import conditional_entropy

    _, var = _family(3)
    total, per_dim = conditional_entropy_of(var)
    assert torch.equal(per_dim, conditional_entropy(var)) and total == float(conditional_entropy(var).sum())


WRAPPER_CHECKS = {
    "duvae.sa_vae.prior_kl_from_logvar": _check_prior_kl_from_logvar,
    "duvae.theory.dropout_variance": _check_dropout_variance,
    "duvae.metrics.mpd_of": _check_mpd_of,
    "duvae.metrics.conditional_entropy_of": _check_conditional_entropy_of,
}


# ----------------------------------------------------------------------------------------------
# the tests
# ----------------------------------------------------------------------------------------------

IDS = [e.label for e in EQUATIONS]


def test_the_map_has_one_row_per_equation_and_one_function_per_row():
    labels = [e.label for e in EQUATIONS]
    functions = [e.function for e in EQUATIONS]
    assert len(set(labels)) == len(labels) and len(set(functions)) == len(functions)
    assert {e.label for e in EQUATIONS if not e.training} == ANALYSIS_ONLY  # no probe quietly dropped
    assert all(bool(e.training) != bool(e.not_in_training) for e in EQUATIONS)
    assert {w for e in EQUATIONS for w in e.wrappers} == set(WRAPPER_CHECKS)


@pytest.mark.parametrize("eq", EQUATIONS, ids=IDS)
def test_a_the_function_exists_and_says_which_equation_it_is(eq):
    fn = resolve(eq.function)
    assert callable(fn)
    assert re.match(eq.opens, (fn.__doc__ or "").lstrip()), f"{eq.function}'s docstring must open with {eq.opens!r}"


@pytest.mark.parametrize("eq", EQUATIONS, ids=IDS)
def test_b_no_other_function_opens_with_the_tag(eq):
    tagged = [d.qualname for d in DEFS if re.match(eq.opens, d.doc)]
    assert tagged == [eq.function], f"{eq.label}: implemented by {tagged}"


@pytest.mark.parametrize("eq", [e for e in EQUATIONS if e.computes], ids=[e.label for e in EQUATIONS if e.computes])
def test_b_no_other_function_computes_it(eq):
    own = next(d for d in DEFS if d.qualname == eq.function)
    for pattern in eq.computes:
        where = [d.qualname for d in DEFS if re.search(pattern, d.code)]
        assert all(q == eq.function for q in where), f"{eq.label}: {pattern!r} is also computed in {where}"
    assert any(re.search(p, own.code) for p in eq.computes), f"{eq.function} no longer matches its own pattern"


@pytest.mark.parametrize("qualname", GONE)
def test_b_the_old_duplicates_are_gone(qualname):
    with pytest.raises(AttributeError):
        resolve(qualname)


@pytest.mark.parametrize("alias, qualname", SAME_OBJECT.items())
def test_b_the_training_modules_hold_the_theory_functions_themselves(alias, qualname):
    assert resolve(alias) is resolve(qualname)


@pytest.mark.parametrize("wrapper", WRAPPER_CHECKS)
def test_b_each_wrapper_calls_the_function_and_equals_it(wrapper):
    eq = next(e for e in EQUATIONS if wrapper in e.wrappers)
    code = next(d.code for d in DEFS if d.qualname == wrapper)
    assert re.search(rf"\b{eq.function.rsplit('.', 1)[-1]}\(", code), f"{wrapper} does not call {eq.function}"
    WRAPPER_CHECKS[wrapper]()


def test_b_no_two_public_functions_of_the_math_modules_share_a_name():
    """The numerical modules (the experiments share protocol names like ``runs`` and ``table`` by design)."""
    math_modules = ("duvae.theory", "duvae.metrics", "duvae.sa_vae", "duvae.mae", "duvae.objectives", "duvae.vae",
                    "duvae.posteriors")
    classes = {d.qualname for d in DEFS}
    seen: dict[str, str] = {}
    for d in DEFS:
        module, _, name = d.qualname.rpartition(".")
        if not module.startswith(math_modules) or name.startswith("_") or module in classes:  # methods: own namespace
            continue
        assert name not in seen, f"{name} is defined in {seen.get(name)} and in {module}"
        seen[name] = module
    assert "gaussian_kl" in seen and seen["gaussian_kl"] == "duvae.theory"


@pytest.mark.parametrize("eq, path", [(e, p) for e in EQUATIONS for p in e.training],
                         ids=[f"{e.label} <- {p}" for e in EQUATIONS for p in e.training])
def test_c_training_reaches_the_function(eq, path):
    with spy_on(eq.function) as spy:
        TRAINING_PATHS[path]()
    assert spy.called, f"{path} never called {eq.function}"


def test_c_the_spy_sees_a_function_training_does_not_call():
    """The probe can fail: the analysis-only eq. 8 is not called by a training step."""
    with spy_on("duvae.theory.mpd_dropout_bound") as spy:
        TRAINING_PATHS["DU-VAE training step"]()
    assert not spy.called


@pytest.mark.parametrize("eq, reader", [(e, r) for e in EQUATIONS for r in e.readers],
                         ids=[f"{e.label} <- {r}" for e in EQUATIONS for r in e.readers])
def test_c_the_book_reaches_the_function(eq, reader):
    names = {q.rsplit(".", 1)[-1] for q in (eq.function, *eq.wrappers)}
    assert names & _referenced_names(REPO / reader), f"{reader} references none of {sorted(names)}"


def test_the_theory_module_documents_the_map():
    """duvae.theory's docstring lists the same functions (a reader starts there)."""
    from duvae import theory

    for eq in EQUATIONS:
        if eq.function.startswith("duvae.theory."):
            assert f":func:`{eq.function.rsplit('.', 1)[-1]}`" in theory.__doc__, eq.function
    assert math.isclose(theory.ALPHA, 1 / (2 * math.pi * math.e))  # eq. 4-5's alpha = 1/(2 pi e)
