"""What the notebooks' cells call: their first cell, and the code beside an equation.

- :func:`theory_setup`: the first cell of a theory notebook (01-05): the profile's Monte Carlo sizes,
  the device, a seeded generator and the figures' style, in one call.
- :func:`notebook_results`: the first cell of an experiment notebook (06-10): the committed results
  of its experiment (:mod:`duvae.runs.results`), its missing runs run first only at ``smoke``.
- :func:`show_source`: print, next to an equation, the lines of the package that compute it.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import torch

from duvae import experiments

from duvae.sweep import engine as sweep
from duvae.book.sources import REPO_ROOT
from duvae.runs.device import pick_device, seed_everything
from duvae.runs.profiles import TheoryProfile, theory_profile
from duvae.experiments import current_results


def theory_setup(profile: str, seed: int, device: str) -> tuple[TheoryProfile, torch.device, torch.Generator]:
    """``(P, dev, gen)``: the profile's Monte Carlo sizes, the device, a generator seeded with ``seed``.

    Also seeds Python / NumPy / torch globally and sets the seaborn style of the figures.
    """
    import seaborn as sns

    P = theory_profile(profile)
    dev = pick_device(device)
    gen = seed_everything(seed)
    sns.set_theme(style="whitegrid")
    return P, dev, gen


def notebook_results(experiment: str, profile: str, seeds: int, device=None, run_missing: bool | None = None
                     ) -> list[dict]:
    """What an experiment notebook shows: the current results of ``experiment`` for ``seeds`` seeds.

    With ``run_missing`` (``None``: only at the ``smoke`` profile, where runs take seconds) the missing
    runs are first run in this process; otherwise nothing is trained. Prints how many runs are
    finished, on which CPUs, and the sweep command that makes the missing ones.
    """
    if run_missing or (run_missing is None and profile == "smoke"):
        sweep.main([experiment, "--profile", profile, "--seeds", str(seeds), "--executor", "inline"]
                   + (["--device", str(device)] if device is not None else []))
    results = current_results(profile, experiment, seeds)
    expected = len(experiments.get(experiment).runs(profile, seeds))
    machines = sorted({r.get("machine", {}).get("cpu", "unknown") for r in results})
    print(f"{experiment}: {len(results)} of {expected} runs finished; made on: {', '.join(machines) or '-'}")
    if len(results) < expected:
        print(f"missing runs show as empty cells; run them with "
              f"`python -m duvae.sweep {experiment} --profile {profile} --seeds {seeds}`")
    return results


def source(obj, contains: str | None = None) -> str:
    """The source of ``obj`` headed by ``file:line``; with ``contains``, only the lines that hold it.

    Used by the notebooks to print, next to an equation, the line of the package that computes it.
    """
    lines, start = inspect.getsourcelines(obj)
    path = Path(inspect.getsourcefile(obj)).resolve()
    try:
        where = path.relative_to(REPO_ROOT)
    except ValueError:
        where = path
    numbered = [(start + i, line.rstrip("\n")) for i, line in enumerate(lines)]
    if contains is not None:
        numbered = [(n, line) for n, line in numbered if contains in line]
        if not numbered:
            raise ValueError(f"no line of {obj.__qualname__} contains {contains!r}")
    body = "\n".join(f"{n:4d}  {line}" for n, line in numbered)
    return f"# {where} :: {obj.__qualname__}\n{body}"


def show_source(obj, contains: str | None = None) -> None:
    """Print :func:`source`."""
    print(source(obj, contains))
