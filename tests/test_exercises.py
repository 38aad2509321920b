"""The exercise checks (duvae.book.exercises): the reference answers pass, the usual mistakes fail with their hint.

The reference answers tested here are the ones the notebooks hold in their ``solution`` cells, read
from the notebook sources, so a notebook whose answer drifts from the package fails here without a
kernel. Independently written wrong answers (not the catalogue's own lambdas) check that the
diagnosis recognises a student's code, and each catalogue entry is checked to be reachable: its
own output gets its own hint, not another one's.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from duvae.book import exercises as E
from duvae.book.course import course_notebooks, is_solution, solution_functions


def _solutions() -> dict[str, str]:
    """``{function name: source}`` of every solution code cell in the course notebooks."""
    import jupytext

    out = {}
    for path in course_notebooks():
        for cell in jupytext.read(path).cells:
            if cell.cell_type == "code" and is_solution(cell):
                for name in solution_functions(cell.source):
                    out[name] = cell.source
    return out


SOLUTIONS = _solutions()


def _function(source: str, name: str):
    namespace: dict = {}
    exec(compile(source, f"<{name}>", "exec"), namespace)
    return namespace[name]


def _check(key: str):
    return getattr(E, f"check_{key}")


def test_every_exercise_has_its_check_and_a_solution_in_its_notebook():
    assert set(E.EXERCISES) == {"eq3", "eq5", "eq6", "prop1_w", "eq9", "alg1_step9", "prior_kl", "free_bits",
                                "aggregate"}
    for key, ex in E.EXERCISES.items():
        assert callable(_check(key)), key
        assert ex.function in SOLUTIONS, (key, ex.function)
        assert f"{ex.function}(" in SOLUTIONS[ex.function]
        assert len(ex.mistakes) >= 3, key


@pytest.mark.parametrize("key", list(E.EXERCISES))
def test_the_notebook_answer_passes(key):
    ex = E.EXERCISES[key]
    result = _check(key)(_function(SOLUTIONS[ex.function], ex.function))
    assert result and result.status == "correct", result
    assert "correct" in repr(result) and ex.source in repr(result)


@pytest.mark.parametrize("key", list(E.EXERCISES))
def test_the_reference_is_the_package_function(key):
    """``source`` names an importable function, and the check's reference gives its values."""
    import importlib

    ex = E.EXERCISES[key]
    module, _, name = ex.source.rpartition(".")
    function = getattr(importlib.import_module(module), name)
    case = ex.cases()[0]
    want = ex.reference(*case.args, **case.reference_kwargs)
    if key == "eq6":  # the reference draws the mask from the case's seeded generator
        got = function(case.args[0], case.args[2], case.args[3], generator=torch.Generator().manual_seed(
            case.reference_kwargs["seed"]))
    else:
        got = function(*case.args)
    torch.testing.assert_close(got, want)


def test_the_mask_given_to_the_student_is_the_one_the_package_draws():
    for case in E.EXERCISES["eq6"].cases():
        var, keep, p, alpha = case.args
        var_hat = E.EXERCISES["eq6"].reference(*case.args, **case.reference_kwargs)
        kept = (var_hat - alpha).abs() > 0
        torch.testing.assert_close(var_hat, torch.where(keep, alpha + (var - alpha) / p, torch.full_like(var, alpha)))
        assert bool((kept <= keep).all())


@pytest.mark.parametrize("key", list(E.EXERCISES))
def test_a_stub_is_not_implemented_yet_and_does_not_raise(key):
    def stub(*args):
        raise NotImplementedError("your answer")

    result = _check(key)(stub)
    assert not result and result.status == "not implemented"
    assert "not implemented yet" in repr(result) and E.EXERCISES[key].function in repr(result)


@pytest.mark.parametrize("key,index", [(k, i) for k, ex in E.EXERCISES.items() for i in range(len(ex.mistakes))])
def test_each_catalogued_mistake_fails_with_its_own_hint(key, index):
    mistake = E.EXERCISES[key].mistakes[index]
    with pytest.raises(E.ExerciseFailed) as err:
        _check(key)(mistake.answer)
    assert mistake.hint in str(err.value)
    assert isinstance(err.value, AssertionError)


# Wrong answers as a student would write them (not the catalogue's own code).


def _mpd_with_std(mu, var):
    sd = var.sqrt()  # the std where the variance belongs
    c = (mu - mu.mean(0)) ** 2
    return 0.5 * (((c + c.mean(0)) / sd).mean(0) + sd.mean(0) * (1 / sd).mean(0) - 1)


def _mpd_without_half(mu, var):
    c = (mu - mu.mean(0)) ** 2
    return ((c + c.mean(0)) / var).mean(0) + var.mean(0) * (1 / var).mean(0) - 1


def _mpd_brute_force_without_diagonal(mu, var):
    n = mu.shape[0]
    d = (mu[:, None] - mu[None]) ** 2 / var[None] + var[:, None] / var[None]  # [N, N, nz]
    off = ~torch.eye(n, dtype=torch.bool)
    return 0.5 * (d[off].mean(0) - 1)


def _ce_without_half(var):
    return 0.5 * math.log(2 * math.pi * math.e) + torch.log(var).mean(0)


def _ce_log_of_mean(var):
    return 0.5 * math.log(2 * math.pi * math.e) + 0.5 * torch.log(var.mean(0))


def _dropout_one_minus_p(var, keep, p, alpha):
    return keep.double() / (1 - p) * (var - alpha) + alpha


def _dropout_whole_variance(var, keep, p, alpha):
    return torch.where(keep, var / p, torch.zeros_like(var))


def _bn_unbiased(m, w, b, eps):
    return w * (m - m.mean(0)) / torch.sqrt(m.var(0) + eps) + b  # torch's default: N - 1


def _bn_std_plus_eps(m, w, b, eps):
    return w * (m - m.mean(0)) / (m.std(0, unbiased=False) + eps) + b


def _scales_by_mean(w, gamma):
    return gamma * w / w.mean()


def _scales_by_norm(w, gamma):
    return gamma * w / torch.linalg.vector_norm(w)


def _kl_log_std(mu, var):
    return 0.5 * (mu**2 + var - torch.log(var.sqrt()) - 1)


def _free_bits_per_example(kl, lam):
    return torch.maximum(kl, torch.tensor(lam)).mean(0).sum()


def _aggregate_sum(mu, var, points):
    dist = torch.distributions.Normal(mu[None], var[None].sqrt())
    return dist.log_prob(points[:, None]).sum(-1).exp().sum(1)


WRONG = [
    ("eq3", _mpd_with_std, "standard deviation"),
    ("eq3", _mpd_without_half, "twice"),
    ("eq3", _mpd_brute_force_without_diagonal, "i = j"),
    ("eq5", _ce_without_half, "The 1/2 in front of E[log sigma^2] is missing"),
    ("eq5", _ce_log_of_mean, "log of the mean variance"),
    ("eq6", _dropout_one_minus_p, "*keep* probability"),
    ("eq6", _dropout_whole_variance, "drop the excess"),
    ("eq9", _bn_unbiased, "biased batch variance"),
    ("eq9", _bn_std_plus_eps, "inside the square root"),
    ("alg1_step9", _scales_by_mean, "root-mean-square"),
    ("alg1_step9", _scales_by_norm, "mean over the dimensions, not a sum"),
    ("prior_kl", _kl_log_std, "log of the standard deviation"),
    ("free_bits", _free_bits_per_example, "clamped every example first"),
    ("aggregate", _aggregate_sum, "*mean* of the N posterior densities"),
]


@pytest.mark.parametrize("key,answer,hint", WRONG, ids=[f"{k}-{f.__name__}" for k, f, _ in WRONG])
def test_a_students_wrong_answer_gets_the_hint(key, answer, hint):
    with pytest.raises(E.ExerciseFailed) as err:
        _check(key)(answer)
    assert hint.lower() in str(err.value).lower(), str(err.value)


def test_an_unknown_mistake_names_the_case_and_the_values():
    def odd(var):
        return torch.log(var).mean(0) * 0.3

    with pytest.raises(E.ExerciseFailed) as err:
        E.check_eq5(odd)
    message = str(err.value)
    assert "case '64 posteriors" in message and "expected" in message and "largest difference" in message
    assert E.EXERCISES["eq5"].hint in message


def test_a_crash_is_reported_with_the_case_and_chained():
    def crashes(mu, var):
        return mu @ var  # [N, nz] @ [N, nz]: a shape error

    with pytest.raises(E.ExerciseFailed) as err:
        E.check_eq3(crashes)
    assert "raised RuntimeError" in str(err.value) and "case '" in str(err.value)
    assert isinstance(err.value.__cause__, RuntimeError)


def test_an_answer_that_changes_its_input_is_refused():
    def in_place(w, gamma):
        w *= gamma / w.pow(2).mean().sqrt()
        return w

    with pytest.raises(E.ExerciseFailed, match="in place"):
        E.check_alg1_step9(in_place)


def test_the_wrong_shape_is_named():
    def per_example(var):
        return 0.5 * math.log(2 * math.pi * math.e) + 0.5 * torch.log(var).mean(1)

    with pytest.raises(E.ExerciseFailed, match=r"shape \[64\]; the answer has shape \[5\]"):
        E.check_eq5(per_example)


def test_numpy_and_python_numbers_are_accepted():
    assert E.check_eq5(lambda var: 0.5 * np.log(2 * np.pi * np.e) + 0.5 * np.log(var.numpy()).mean(0))
    assert E.check_free_bits(lambda kl, lam: float(kl.mean(0).clamp(min=lam).sum()))


def test_passing_the_result_instead_of_the_function_is_explained():
    with pytest.raises(E.ExerciseFailed, match="your function itself"):
        E.check_eq3(torch.zeros(3))


def test_the_exercise_table_lists_every_exercise():
    rows = E.exercise_table()
    assert [r["check"] for r in rows] == [f"duvae.book.exercises.check_{k}" for k in E.EXERCISES]
    assert {r["notebook"] for r in rows} == {"01_diversity_and_uncertainty", "02_proposition1_monte_carlo",
                                            "03_batchnorm_on_means", "04_models", "05_latent_space_synthetic"}
