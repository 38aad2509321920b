"""Measured run times: the notebooks' headers print them, the main job records them.

Every course notebook opens with a cell that prints :func:`run_time_line`: the wall time the main
job (:mod:`duvae.book.run`) measured for it at each profile. The numbers are read, never typed: from
``notebooks/timings.csv``, the committed copy that ``python -m duvae.book.run --profile P
--record-timings`` (or ``python -m duvae.book.timings build/P/timings.csv``) fills with the rows of
one build, each with the date, the CPU, its core count, the 1-minute load average and the commit it
was measured on. When a local build has its own ``build/<profile>/timings.csv``, its time is added
("last run here").
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import os
import sys
from pathlib import Path

from duvae.book.sources import NOTEBOOK_DIR, REPO_ROOT

TIMINGS = NOTEBOOK_DIR / "timings.csv"
TIMING_FIELDS = ["notebook", "profile", "seconds", "measured_on", "cpu", "cores", "load_1min", "commit", "how"]
PROFILE_ORDER = ("smoke", "cpu", "paper")


def read_timings(path: Path = TIMINGS) -> list[dict[str, str]]:
    """The committed timings, one dict per (notebook, profile); empty if the file does not exist."""
    if not Path(path).is_file():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def record_timings(build_csv: Path, timings: Path = TIMINGS, how: str | None = None, **where: str) -> Path:
    """Merge the successful rows of one build's ``timings.csv`` into the committed ``timings``.

    A row replaces the committed row of the same notebook and profile; the machine (CPU model,
    cores, 1-minute load average now), the date and the commit are those of the current process,
    so call it on the machine that just ran the build. ``where`` overrides them (``measured_on``,
    ``cpu``, ``cores``, ``load_1min``, ``commit``) for times measured elsewhere or earlier.
    """
    from duvae.runs.results import cpu_model, git_commit

    with open(build_csv, newline="") as fh:
        new = [r for r in csv.DictReader(fh) if r.get("ok", "True") == "True"]
    if not new:
        raise ValueError(f"{build_csv} has no successful notebook run to record")
    machine = {
        "measured_on": _dt.date.today().isoformat(),
        "cpu": cpu_model(),
        "cores": str(os.cpu_count() or ""),
        "load_1min": f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "",
        "commit": _short_commit(git_commit()),
        "how": how or f"python -m duvae.book.run --profile {new[0]['profile']}",
    }
    unknown = set(where) - set(machine)
    if unknown:
        raise ValueError(f"unknown timing fields {sorted(unknown)}; choose from {sorted(machine)}")
    machine.update(where)
    rows = {(r["notebook"], r["profile"]): r for r in read_timings(timings)}
    for r in new:
        rows[r["notebook"], r["profile"]] = {"notebook": r["notebook"], "profile": r["profile"],
                                             "seconds": r["seconds"], **machine}
    order = {p: i for i, p in enumerate(PROFILE_ORDER)}
    with open(timings, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=TIMING_FIELDS)
        writer.writeheader()
        for key in sorted(rows, key=lambda k: (k[0], order.get(k[1], 99), k[1])):
            writer.writerow({f: rows[key].get(f, "") for f in TIMING_FIELDS})
    return Path(timings)


def _short_commit(commit: str) -> str:
    """``<40 hex digits>+dirty`` -> ``<12 hex digits>+dirty``."""
    head, plus, suffix = commit.partition("+")
    return head[:12] + plus + suffix


def _short_cpu(cpu: str) -> str:
    """``AMD EPYC 7B13 64-Core Processor`` -> ``AMD EPYC 7B13``."""
    words = [w for w in cpu.replace("(R)", "").replace("(TM)", "").split() if not w.endswith("-Core")]
    return " ".join(w for w in words if w not in ("Processor", "CPU")) or cpu


def _last_local_run(stem: str, profile: str) -> str | None:
    path = REPO_ROOT / "build" / profile / "timings.csv"
    if not path.is_file():
        return None
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("notebook") == stem and row.get("ok") == "True":
                return row.get("seconds")
    return None


def run_time_line(stem: str, timings: Path = TIMINGS) -> str:
    """One line for a notebook's header: its measured wall time per profile, where and when.

    E.g. ``measured run time: smoke 7.4 s (2026-12-04, AMD EPYC, 2 cores, load 1.9), cpu 10.0 s
    (...); not measured: paper``, read from ``timings`` (see the module docstring). The load is the
    1-minute load average when the times were recorded: above the core count, the machine was shared.
    """
    rows = [r for r in read_timings(timings) if r["notebook"] == stem]
    by_profile = {r["profile"]: r for r in rows}
    parts, missing = [], []
    for profile in PROFILE_ORDER:
        r = by_profile.get(profile)
        local = _last_local_run(stem, profile)
        if r is None:
            missing.append(profile + (f" (last run here: {local} s)" if local else ""))
            continue
        where = f"{r['measured_on']}, {_short_cpu(r['cpu'])}, {r['cores']} cores"
        if r.get("load_1min"):
            where += f", load {r['load_1min']}"
        if local:
            where += f"; last run here {local} s"
        parts.append(f"{profile} {float(r['seconds']):.1f} s ({where})")
    line = "measured run time: " + (", ".join(parts) if parts else "none recorded yet")
    if missing:
        line += "; not measured: " + ", ".join(missing)
    shown = Path(timings).relative_to(REPO_ROOT) if Path(timings).is_relative_to(REPO_ROOT) else timings
    return f"{line}  [{shown}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("build_csv", type=Path, help="a build's timings.csv, e.g. build/smoke/timings.csv")
    args = parser.parse_args(argv)
    print(f"recorded {args.build_csv} in {record_timings(args.build_csv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
