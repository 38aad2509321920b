"""The main job: execute every notebook through papermill with one profile.

Each ``notebooks/NN_name.py`` (jupytext ``py:percent``, the reviewed source) is converted to an
unexecuted ``.ipynb`` and run by papermill with the parameters ``profile``, ``seed`` and
``device`` injected into its ``parameters`` cell. Outputs go under ``--output`` (default
``build/<profile>``)::

    build/<profile>/notebooks/NN_name.ipynb   executed notebooks (build artefacts, git-ignored)
    build/<profile>/notebooks/NN_name.kernel.log   what the kernel process wrote outside the notebook
    build/<profile>/figures/*.png              figures saved by the notebooks
    build/<profile>/tables/*.csv|*.md          tables saved by the notebooks
    build/<profile>/timings.csv                wall time and status of every notebook

The notebooks find that folder through the ``DUVAE_OUTPUT_DIR`` environment variable.

The kernels run in ``notebooks/`` (so that a notebook's relative paths are its own), not in the
directory the command was run in. The directory variables (``DUVAE_DATA_MIRROR``,
``DUVAE_DATA_DIR``, ``DUVAE_RUNS_DIR``, ``DUVAE_RESULTS_DIR``, ``DUVAE_HE2019_DIR``) are therefore
made absolute first, against the directory the command was run in, before any kernel starts:
``DUVAE_DATA_MIRROR=../shared/data make notebooks`` means the ``shared/data`` beside the clone
(:func:`duvae.data.registry.absolute_env_paths`).

Usage::

    python -m duvae.book.run --profile cpu            # every notebook
    python -m duvae.book.run --profile smoke 01 02    # only notebooks whose name starts so
    python -m duvae.book.run --profile cpu --record-timings   # and commit the times the course
                                                                   # notebooks print (notebooks/timings.csv)
    python -m duvae.book.run --profile cpu 13 --data path/to/corpus/   # notebook 13 on your own data
                                                                   # (docs/your_data.md)

``--data`` and ``--kind`` are handed to the notebooks whose ``parameters`` cell declares them (13).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from duvae.book.sources import NOTEBOOK_DIR, REPO_ROOT, list_notebooks
from duvae.book.timings import record_timings
from duvae.data.registry import absolute_env_paths
from duvae.runs.profiles import PROFILES, check_profile


#: ipykernel's own log (not the notebook's output; a failing cell reaches papermill either way) at
#: CRITICAL only: otherwise every kernel warns "Kernel is running over TCP without encryption" on
#: the main job's terminal, once per notebook (the kernel listens on the loopback interface only,
#: as nbclient starts it), and, on a loaded machine, now and then logs the ERROR "KeyboardInterrupt
#: caught in kernel." because jupyter_client interrupts every kernel before shutting it down.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]


def kernel_manager_logging_to(log: Path):
    """A kernel manager whose kernel writes its own stdout and stderr to ``log``, not the terminal.

    What a cell prints reaches the notebook through the kernel's messages either way; what reaches
    the kernel's file descriptors directly does not: C libraries and the process's own exit. On a
    loaded machine libzmq now and then aborts as the kernel process exits, after the notebook is
    done and saved, with ``Assertion failed: pfd.revents & POLLIN (src/signaler.cpp:238)``. That
    line belongs in the notebook's kernel log (``build/<profile>/notebooks/NN_name.kernel.log``),
    which the main job names when a notebook fails, not among the main job's one line per notebook.
    """
    from jupyter_client.manager import AsyncKernelManager

    class KernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw):
            with open(log, "ab") as fh:  # the kernel process holds its own copy of the descriptor
                kw.setdefault("stdout", fh)
                kw.setdefault("stderr", fh)
                return await super().start_kernel(**kw)

    return KernelManager


@dataclass
class NotebookRun:
    name: str
    seconds: float
    ok: bool
    error: str = ""
    kernel_log: Path | None = None


def run_notebook(
    source: Path,
    output_dir: Path,
    *,
    profile: str = "cpu",
    seed: int = 0,
    device: str = "auto",
    timeout: int | None = None,
    extra: dict | None = None,
) -> NotebookRun:
    """Convert ``source`` to ``.ipynb`` and execute it with papermill into ``output_dir/notebooks``.

    Returns the wall time; a failing cell is reported in ``NotebookRun.error`` (papermill still
    writes the partially executed notebook, with the traceback, next to the others). ``extra``:
    more parameters, each passed only if the notebook's ``parameters`` cell declares it. Relative
    directory variables are made absolute against the current directory first (a no-op once
    :func:`main` has done so), since the kernel runs in ``source``'s folder.
    """
    import jupytext
    import papermill

    check_profile(profile)
    absolute_env_paths()
    output_dir = Path(output_dir).resolve()
    nb_dir = output_dir / "notebooks"
    nb_dir.mkdir(parents=True, exist_ok=True)
    unexecuted = nb_dir / f".{source.stem}.input.ipynb"
    executed = nb_dir / f"{source.stem}.ipynb"
    kernel_log = nb_dir / f"{source.stem}.kernel.log"
    kernel_log.unlink(missing_ok=True)
    notebook = jupytext.read(source)
    jupytext.write(notebook, unexecuted)
    declared = declared_parameters(notebook)
    parameters = {"profile": profile, "seed": seed, "device": device}
    parameters.update({k: v for k, v in (extra or {}).items() if k in declared and v is not None})

    os.environ["DUVAE_OUTPUT_DIR"] = str(output_dir)  # inherited by the kernel
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(unexecuted),
            str(executed),
            parameters=parameters,
            cwd=str(source.parent),
            kernel_name="python3",
            progress_bar=False,
            execution_timeout=timeout,
            extra_arguments=KERNEL_ARGUMENTS,
            kernel_manager_class=kernel_manager_logging_to(kernel_log),
        )
        ok, error = True, ""
    except Exception as exc:  # papermill raises PapermillExecutionError with the cell's traceback
        ok, error = False, _describe(exc)
    finally:
        unexecuted.unlink(missing_ok=True)
    seconds = time.perf_counter() - start
    if kernel_log.is_file() and not kernel_log.stat().st_size:
        kernel_log.unlink()  # the usual case: nothing was written outside the notebook
    return NotebookRun(source.stem, seconds, ok, error, kernel_log if kernel_log.is_file() else None)


def declared_parameters(notebook) -> set[str]:
    """The names the notebook's ``parameters`` cell assigns (``name = ...`` at the start of a line)."""
    names = set()
    for cell in notebook.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            names |= set(re.findall(r"^([A-Za-z_]\w*)\s*=", cell.source, flags=re.M))
    return names


def _describe(exc: Exception) -> str:
    """A readable one-paragraph error: the failing cell's exception and its traceback, no colours."""
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    tb = "\n".join(getattr(exc, "traceback", []) or [])
    tb = re.sub(r"\x1b\[[0-9;]*m", "", tb)
    return f"{ename}: {evalue}\n{tb}".strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("only", nargs="*", help="run only notebooks whose name starts with one of these")
    parser.add_argument("--profile", default="cpu", choices=PROFILES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--output", type=Path, default=None, help="default: build/<profile>")
    parser.add_argument("--keep-going", action="store_true", help="run the rest after a failure")
    parser.add_argument("--data", default=None,
                        help="your own data for the notebooks that take it (13): docs/your_data.md")
    parser.add_argument("--kind", default=None, choices=("auto", "text", "image"), help="the kind of --data")
    parser.add_argument("--record-timings", action="store_true",
                        help="also merge the wall times into notebooks/timings.csv (duvae.book.timings)")
    args = parser.parse_args(argv)
    # before any kernel starts: relative paths mean the directory this command was run in
    relative = absolute_env_paths()

    output = args.output or REPO_ROOT / "build" / args.profile
    # your own data (notebook 13): a path relative to the directory this command was run in
    extra = {"data": None if args.data is None else str(Path(args.data).expanduser().absolute()), "kind": args.kind}
    notebooks = list_notebooks(only=args.only)
    if not notebooks:
        print(f"no notebook matches {args.only} in {NOTEBOOK_DIR}", file=sys.stderr)
        return 2
    print(f"running {len(notebooks)} notebooks with profile={args.profile!r} -> {output}")
    for name, (given, absolute) in relative.items():
        print(f"  {name}={given} is {absolute}")
    runs: list[NotebookRun] = []
    live = sys.stdout.isatty()  # on a terminal, "NAME ..." while it runs, overwritten by its result
    for source in notebooks:
        if live:
            print(f"  {source.stem} ...", end="", flush=True)
        run = run_notebook(source, output, profile=args.profile, seed=args.seed, device=args.device, extra=extra)
        runs.append(run)
        print(f"{chr(13) if live else ''}  {source.stem}: {'ok' if run.ok else 'FAILED'} ({run.seconds:.1f} s)",
              flush=True)
        if not run.ok:
            print(f"    {run.error.splitlines()[0] if run.error else ''}", file=sys.stderr)
            print(f"    see {output / 'notebooks' / (source.stem + '.ipynb')}", file=sys.stderr)
            if run.kernel_log is not None:
                print(f"    and the kernel's own output, {run.kernel_log}", file=sys.stderr)
            if not args.keep_going:
                break
    with open(output / "timings.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["notebook", "profile", "seconds", "ok"])
        for r in runs:
            writer.writerow([r.name, args.profile, f"{r.seconds:.1f}", r.ok])
    if args.record_timings and any(r.ok for r in runs):
        print(f"recorded in {record_timings(output / 'timings.csv')}")
    total = sum(r.seconds for r in runs)
    failed = [r.name for r in runs if not r.ok]
    print(f"done in {total:.0f} s; {len(runs) - len(failed)} ok, {len(failed)} failed {failed or ''}")
    return 1 if failed or len(runs) < len(notebooks) else 0


if __name__ == "__main__":
    sys.exit(main())
