"""The sweep engine: run an experiment's runs on submitit (local processes or Slurm), commit their results.

::

    python -m duvae.sweep figure1 --profile cpu --seeds 3 --executor local --jobs 2
    python -m duvae.sweep figure1 --profile paper --seeds 3 --executor slurm --partition gpu \\
        --time 600 --gpus-per-node 1 --cpus-per-task 8
    python -m duvae.sweep figure1 --profile smoke --executor inline      # in this process (debugging)
    python -m duvae.sweep figure1 --profile cpu --seeds 3 --list         # what is done, what would be copied, what would run
    python -m duvae.sweep table1 --models sa_vae agg_vae --datasets omniglot   # a part of it
    python -m duvae.sweep yours --data path/to/corpus/ --models vae bn_vae du_vae --seeds 3   # your own data
                                                                      # (docs/your_data.md; results in yours/)

What it does:

1. ``duvae.experiments.<name>.runs(profile, seeds)`` lists the runs; those whose result
   ``results/<profile>/<name>/<run_id>.json`` exists are skipped (a killed sweep resumes where it
   stopped; an interrupted run resumes from its last epoch checkpoint under ``runs/``). A run that
   another experiment of the same profile has committed (same run id and config, e.g. a Figure 2
   cell that is a Table 1 row) is copied, with its wall time and machine, not trained again, when
   this experiment's extras follow from the config alone (:func:`copy_shared`).
2. The rest go to submitit: with ``--executor local``, ``--jobs`` worker processes with
   ``cores / jobs`` torch threads each, which walk the same list of runs and each take the next run
   that no other worker has claimed (one file created exclusively per run), so a worker whose runs
   were short takes more of them instead of idling beside a long one; with ``--executor slurm``, a
   job array of one task per run (``--parallel`` tasks at once). ``--executor inline`` runs them in
   this process. Scheduling is submitit's and Slurm's, not ours.
3. Each run is :func:`duvae.runs.trainer.train_or_load` under the run directory's lock (two jobs can never
   train one run at once), then the experiment's extras, then the result JSON
   (:mod:`duvae.runs.results`). A failing run does not stop the others: it is reported at the end with
   its error and its log file.
4. Progress: a bar over the runs and one line per finished run (model, seed, wall time, NLL).

``--restart RUN_ID`` deletes that run's directory and result first (e.g. after a damaged checkpoint).
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from duvae.runs.config import RunConfig
from duvae.runs.profiles import PROFILES

EXECUTORS = ("local", "slurm", "inline")


@dataclass
class Outcome:
    """What one run of a sweep came to."""

    run_id: str
    model: str
    seed: int
    ok: bool
    seconds: float = 0.0
    nll: float | None = None
    error: str = ""
    log: str = ""
    details: dict = field(default_factory=dict)


def _result_path(results_dir, cfg: RunConfig, experiment: str) -> Path:
    from duvae.runs.results import result_path

    return result_path(results_dir, cfg.profile, experiment, cfg.run_id())


def plan(experiment: str, profile: str, seeds: int, results_dir=None, models=None, datasets=None
         ) -> tuple[list[RunConfig], list[RunConfig]]:
    """``(to_run, finished)``: the experiment's runs (of ``models`` and ``datasets`` only, if given)
    split by whether their result exists."""
    import inspect

    from duvae import experiments

    runs = experiments.get(experiment).runs
    # an experiment whose models are the user's choice (yours) plans exactly the --models asked for
    chosen = {"models": models} if models and "models" in inspect.signature(runs).parameters else {}
    configs = runs(profile, seeds, **chosen)
    for flag, wanted, key in (("--models", models, lambda c: c.model.name), ("--datasets", datasets, lambda c: c.dataset)):
        if not wanted:
            continue
        unknown = sorted(set(wanted) - {key(c) for c in configs})
        if unknown:
            raise SystemExit(f"{flag}: {unknown} are not among the {flag[2:]} of {experiment} at {profile} "
                             f"(these are: {sorted({key(c) for c in configs})})")
        configs = [c for c in configs if key(c) in wanted]
    finished = [_result_path(results_dir, c, experiment).is_file() for c in configs]
    return [c for c, f in zip(configs, finished) if not f], [c for c, f in zip(configs, finished) if f]


def _data_key(cfg: RunConfig) -> str:
    """Runs whose data set, profile and schedule agree load identical data (the model does not matter)."""
    import json
    from dataclasses import asdict

    return json.dumps([cfg.dataset, cfg.profile, asdict(cfg.train)], sort_keys=True, default=str)


def _run_cost(run, seconds_now: float) -> float:
    """Wall seconds the run cost: training + test as its trainer measured them; for runs finished by
    older code, the time from its (last) start (``config.json``) to its metrics file."""
    if "wall_seconds" in run.metrics:
        return float(run.metrics["wall_seconds"])
    metrics, config = run.run_dir / "metrics.json", run.run_dir / "config.json"
    if metrics.is_file() and config.is_file():
        return metrics.stat().st_mtime - config.stat().st_mtime
    return seconds_now


def shared_result(cfg: RunConfig, experiment: str, results_dir=None) -> dict | None:
    """The committed result of run ``cfg`` under another experiment of its profile, or None.

    Only a result with the same results version and the same config counts (a run id is a hash of
    the config, so this guards against a stale or hand-edited file, not a collision); fields added to
    the config after the result was made count at their defaults (:func:`duvae.runs.config.run_identity`).
    """
    from duvae.runs.config import run_identity
    from duvae.runs.results import RESULTS_VERSION, default_results_dir, jsonable, read_result

    want = jsonable(run_identity(cfg.to_dict()))
    root = Path(results_dir or default_results_dir()) / cfg.profile
    for path in sorted(root.glob(f"*/{cfg.run_id()}.json")):
        if path.parent.name == experiment:
            continue
        record = read_result(path)
        if record.get("version") == RESULTS_VERSION and run_identity(record.get("config", {})) == want:
            return record
    return None


def copy_shared(cfg: RunConfig, experiment: str, results_dir=None, record: dict | None = None) -> Outcome | None:
    """If another experiment has committed run ``cfg`` (:func:`shared_result`) and ``experiment``'s
    extras follow from the config alone, write that result under ``experiment`` (with its extras,
    the original wall time and machine, and ``copied_from``); None where the run must be trained.
    ``record``: that result, where the caller has already looked it up (:func:`copy_source`)."""
    from duvae import experiments
    from duvae.runs.results import write_result

    module = experiments.get(experiment)
    record = record or copy_source(cfg, experiment, results_dir)
    if record is None:
        return None
    other = record["experiment"]
    copy = {**record, "experiment": experiment, "extra": module.extra_from_config(cfg),
            "copied_from": f"{other}/{record['run_id']}.json"}
    write_result(_result_path(results_dir, cfg, experiment), copy)
    return Outcome(copy["run_id"], cfg.model.name, cfg.train.seed, True, copy["wall_seconds"],
                   copy["metrics"].get("nll"), details={"copied_from": copy["copied_from"]})


def copy_source(cfg: RunConfig, experiment: str, results_dir=None) -> dict | None:
    """The result :func:`copy_shared` would copy for run ``cfg`` of ``experiment``, or None where the
    run must be trained (nobody committed it, or the experiment's extras are measured on the model)."""
    from duvae import experiments

    if hasattr(experiments.get(experiment), "extra_metrics"):  # measured on the model: train or load it
        return None
    return shared_result(cfg, experiment, results_dir)


def _list_state(cfg: RunConfig, done: list[RunConfig], record: dict | None) -> str:
    """What ``--list`` says of a run: done, to copy (``record``, from another experiment) or to run."""
    if cfg in done:
        return "done"
    if record is not None:
        return f"to copy from {record['experiment']}/{record['run_id']}.json (not trained again)"
    return "to run"


def _extra_metrics(module, run, folder: Path) -> dict:
    """``module.extra_metrics(run)``; an experiment that writes files beside its results (image grids)
    takes an ``out_dir`` argument and gets the folder of this run's result."""
    import inspect

    if "out_dir" in inspect.signature(module.extra_metrics).parameters:
        folder.mkdir(parents=True, exist_ok=True)
        return module.extra_metrics(run, out_dir=folder)
    return module.extra_metrics(run)


def run_one(cfg: RunConfig, experiment: str, results_dir=None, runs_dir=None, device=None,
            wait: bool = False, data_cache: dict | None = None) -> Outcome:
    """Train (or load) one run, measure the experiment's extras, write its result; never raises.

    ``data_cache`` (a dict kept by the caller) lets runs that share their data load it once.
    """
    from duvae import experiments
    from duvae.runs.device import pick_device
    from duvae.runs.results import make_record, write_result
    from duvae.runs.run_data import load_run_data
    from duvae.runs.trainer import default_runs_dir, train_or_load

    run_id = cfg.run_id()
    log = str(Path(runs_dir or default_runs_dir()) / run_id / "error.txt")
    start = time.perf_counter()
    try:
        module = experiments.get(experiment)
        device = pick_device(device)
        data = None
        if data_cache is not None:
            key = _data_key(cfg)
            if key not in data_cache:
                data_cache.clear()  # keep one data set in memory at a time
                data_cache[key] = load_run_data(cfg, device=device)
            data = data_cache[key]
        run = train_or_load(cfg, runs_dir=runs_dir, device=device, progress=False, wait=wait, data=data)
        extra = module.extra_from_config(cfg) if hasattr(module, "extra_from_config") else {}
        if hasattr(module, "extra_metrics"):
            extra.update(_extra_metrics(module, run, _result_path(results_dir, cfg, experiment).parent))
        seconds = time.perf_counter() - start
        record = make_record(run, experiment, _run_cost(run, seconds), extra)
        write_result(_result_path(results_dir, cfg, experiment), record)
        Path(log).unlink(missing_ok=True)  # an earlier failure of this run is history now
        return Outcome(run_id, cfg.model.name, cfg.train.seed, True, record["wall_seconds"], run.metrics.get("nll"))
    except Exception as err:  # noqa: BLE001 - one failing run must not stop the sweep
        text = traceback.format_exc()
        try:
            Path(log).parent.mkdir(parents=True, exist_ok=True)
            Path(log).write_text(text)
        except OSError:
            log = "(could not write the log)"
        return Outcome(run_id, cfg.model.name, cfg.train.seed, False, time.perf_counter() - start,
                       error=f"{type(err).__name__}: {err}", log=log)


def run_many(configs: list[RunConfig], experiment: str, results_dir=None, runs_dir=None, device=None,
             threads: int | None = None, claims=None) -> list[Outcome]:
    """One local worker: the runs of ``configs`` one after the other, with ``threads`` torch threads.

    With ``claims`` (a folder that the sweep's workers share, all given the same list) a worker runs
    only the runs it claims first (:func:`claim`) and passes over those another worker took.
    """
    import torch

    if threads:
        torch.set_num_threads(threads)
    cache: dict = {}
    return [run_one(cfg, experiment, results_dir, runs_dir, device, data_cache=cache) for cfg in configs
            if claims is None or claim(Path(claims), cfg.run_id())]


def claim(folder: Path, run_id: str) -> bool:
    """Claim run ``run_id`` for this worker: True if no worker of this sweep claimed it before.

    The claim is the exclusive creation of ``folder/run_id`` (``O_CREAT | O_EXCL``, atomic on a local
    or NFS v3+ file system), so of several workers asking at once exactly one gets True.
    """
    folder.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(folder / run_id, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def restart(run_id: str, configs: list[RunConfig], experiment: str, results_dir=None, runs_dir=None) -> None:
    """Delete run ``run_id``'s directory and result (it must be one of this sweep's runs)."""
    from duvae.runs.trainer import default_runs_dir

    match = [c for c in configs if c.run_id() == run_id]
    if not match:
        raise SystemExit(f"--restart {run_id}: not a run of this sweep (see --list)")
    shutil.rmtree(Path(runs_dir or default_runs_dir()) / run_id, ignore_errors=True)
    _result_path(results_dir, match[0], experiment).unlink(missing_ok=True)


def _executor(args, logs: Path):
    import submitit

    if args.executor == "local":
        ex = submitit.LocalExecutor(folder=str(logs))
        ex.update_parameters(timeout_min=args.time)
        return ex
    ex = submitit.AutoExecutor(folder=str(logs), cluster="slurm")
    params = {"timeout_min": args.time, "cpus_per_task": args.cpus_per_task, "slurm_array_parallelism": args.parallel,
              "name": f"duvae-{args.experiment}"}
    if args.partition:
        params["slurm_partition"] = args.partition
    if args.gpus_per_node:
        params["gpus_per_node"] = args.gpus_per_node
    if args.mem_gb:
        params["mem_gb"] = args.mem_gb
    ex.update_parameters(**params)
    return ex


def _follow(jobs, pending: dict, runs_root: Path, started: float, args, report) -> None:
    """Report each run as its result file (or its error.txt) appears, until all jobs are done."""
    from duvae.runs.results import read_result

    while pending:
        for run_id, cfg in list(pending.items()):
            path = _result_path(args.results_dir, cfg, args.experiment)
            error = runs_root / run_id / "error.txt"
            if path.is_file():
                rec = read_result(path)
                report(Outcome(run_id, cfg.model.name, cfg.train.seed, True, rec.get("wall_seconds", 0.0),
                               rec["metrics"].get("nll")))
                del pending[run_id]
            elif error.is_file() and error.stat().st_mtime >= started:
                lines = error.read_text().strip().splitlines()
                report(Outcome(run_id, cfg.model.name, cfg.train.seed, False, error=lines[-1] if lines else "failed",
                               log=str(error)))
                del pending[run_id]
        if all(job.done() for job in jobs):
            break
        time.sleep(args.poll)


def _catch_stop_signals() -> dict:
    """While a sweep follows its jobs, SIGINT (Ctrl-C) and SIGTERM (``kill``) raise KeyboardInterrupt,
    so that it cancels its workers; returns the previous handlers.

    A sweep started in the background (``nohup ... &``) inherits an *ignored* SIGINT, which its
    worker processes would inherit in turn, and then ignore submitit's cancel (a SIGINT) as well.
    Installing a handler here, before the workers start, gives them the default one.
    """
    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = {}
    for sig, handler in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, stop)):
        try:
            previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread: leave the handlers alone
            pass
    return previous


def _interrupted(jobs, executor: str, left: int) -> None:
    """Ctrl-C: stop the local workers (submitit's jobs ignore SIGTERM and would run on); Slurm jobs
    run on, and the message says how to cancel them."""
    if executor == "local":
        for job in jobs:
            job.cancel()
        print(f"\ninterrupted: stopped {len(jobs)} local worker(s); {left} run(s) not finished. Finished results "
              f"are kept, and the next sweep resumes an interrupted run from its last epoch.", flush=True)
    else:
        ids = " ".join(sorted({str(job.job_id).split("_")[0] for job in jobs}))
        print(f"\ninterrupted: the Slurm jobs keep running ({left} run(s) not finished); "
              f"cancel them with `scancel {ids}`.", flush=True)


def sweep(args) -> list[Outcome]:
    from tqdm.auto import tqdm

    todo, done = plan(args.experiment, args.profile, args.seeds, args.results_dir, args.models, args.datasets)
    configs = todo + done
    for run_id in args.restart or []:
        restart(run_id, configs, args.experiment, args.results_dir, args.runs_dir)
    todo, done = plan(args.experiment, args.profile, args.seeds, args.results_dir, args.models, args.datasets)
    sources = {c.run_id(): copy_source(c, args.experiment, args.results_dir) for c in todo}  # read once
    n_copy = sum(r is not None for r in sources.values())
    copies = f", {n_copy} to copy from other experiments" if n_copy else ""
    print(f"{args.experiment} [{args.profile}]: {len(todo) + len(done)} runs, {len(done)} already finished"
          f"{copies}, {len(todo) - n_copy} to run with the {args.executor} executor", flush=True)
    if args.list:
        for c in todo + done:
            print(f"  {c.run_id()}  {c.model.name:<9} seed {c.train.seed}  {_list_state(c, done, sources.get(c.run_id()))}")
        return []
    if not todo:
        return []

    cores = os.cpu_count() or 1
    outcomes: list[Outcome] = []
    bar = tqdm(total=len(todo), desc=f"{args.experiment} runs", file=sys.stdout)

    def report(o: Outcome) -> None:
        nll = f"NLL {o.nll:.3f}" if o.nll is not None else ""
        status = nll if o.ok else f"FAILED: {o.error[:160]}"
        if o.details.get("copied_from"):
            status += f"  (not re-trained: result of {o.details['copied_from']})"
        bar.write(f"  {o.model:<9} seed {o.seed}  {o.seconds:7.1f} s  {status}")
        bar.update(1)
        outcomes.append(o)

    # runs another experiment already committed are copied here, at once, not sent to a worker
    copied = {c.run_id(): sources[c.run_id()] and copy_shared(c, args.experiment, args.results_dir, sources[c.run_id()])
              for c in todo}
    for o in copied.values():
        if o is not None:
            report(o)
    todo = [c for c in todo if copied[c.run_id()] is None]
    if not todo:
        bar.close()
        return outcomes

    if args.executor == "inline":
        cache: dict = {}
        for cfg in sorted(todo, key=_data_key):
            report(run_one(cfg, args.experiment, args.results_dir, args.runs_dir, args.device, data_cache=cache))
        bar.close()
        return outcomes

    previous = _catch_stop_signals()
    try:
        return _submit_and_follow(args, todo, outcomes, bar, report, cores)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _submit_and_follow(args, todo: list[RunConfig], outcomes: list[Outcome], bar, report, cores: int) -> list[Outcome]:
    """Submit the runs to submitit (local workers or a Slurm array) and report them as they finish."""
    started = time.time()
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    executor = _executor(args, logs)
    # submit this module's functions by their importable name (not __main__ under python -m)
    run_many_ = importlib.import_module("duvae.sweep.engine").run_many
    from duvae.runs.trainer import default_runs_dir

    runs_root = Path(args.runs_dir or default_runs_dir())
    pending = {c.run_id(): c for c in todo}
    jobs: list = []
    try:
        if args.executor == "local":
            # every worker walks the same list (runs on the same data one after the other, loaded once)
            # and takes the next run not claimed yet: a shared queue, no fixed share per worker
            workers = max(1, min(args.jobs, len(todo)))
            shares = [sorted(todo, key=_data_key)] * workers
            claims = logs / "claims" / f"{os.getpid()}-{int(started * 1000)}"
            threads = args.threads or max(1, cores // workers)
            for share in shares:  # one at a time, so that an interrupt cancels those already started
                jobs.append(executor.submit(run_many_, share, args.experiment, args.results_dir, args.runs_dir,
                                            args.device, threads, str(claims)))
        else:
            shares = [[cfg] for cfg in todo]
            n = len(shares)
            jobs = executor.map_array(run_many_, shares, [args.experiment] * n, [args.results_dir] * n,
                                      [args.runs_dir] * n, [args.device] * n, [args.cpus_per_task] * n)
        print(f"submitted {len(jobs)} job(s); logs in {logs}", flush=True)
        # progress: a result file appears as each run finishes, an error.txt as one fails
        _follow(jobs, pending, runs_root, started, args, report)
    except KeyboardInterrupt:
        bar.close()
        _interrupted(jobs, args.executor, len(pending))
        raise SystemExit(130) from None

    # failures: first the workers' own outcomes; what is still pending then was a dead worker's
    died = []
    for job, share in zip(jobs, shares):
        try:
            results = job.result()
        except Exception as err:  # noqa: BLE001 - a worker killed or crashed
            died.append((job, share, err))
            continue
        for o in results:
            if not o.ok and o.run_id in pending:
                report(o)
                pending.pop(o.run_id)
    for job, share, err in died:
        for cfg in share:
            if cfg.run_id() in pending:
                report(Outcome(cfg.run_id(), cfg.model.name, cfg.train.seed, False,
                               error=f"worker failed: {str(err).strip().splitlines()[-1][:200]}",
                               log=str(job.paths.stderr)))
                pending.pop(cfg.run_id())
    if args.executor == "local":
        shutil.rmtree(claims, ignore_errors=True)
    bar.close()
    return outcomes


def summarise(outcomes: list[Outcome]) -> int:
    """Print the failures (error and log file); return the process exit code."""
    failed = [o for o in outcomes if not o.ok]
    ok = [o for o in outcomes if o.ok]
    if outcomes:
        trained = [o for o in ok if not o.details.get("copied_from")]
        total = sum(o.seconds for o in trained)
        copied = len(ok) - len(trained)
        also = f", {copied} copied from another experiment's results" if copied else ""
        print(f"finished {len(trained)} run(s) ({total / 60:.1f} min of run time, as each run measured "
              f"it){also}, {len(failed)} failed")
    for o in failed:
        print(f"  FAILED {o.run_id} (model {o.model}, seed {o.seed}): {o.error}\n    log: {o.log}")
    return 1 if failed else 0


def parser() -> argparse.ArgumentParser:
    from duvae.experiments import EXPERIMENTS

    p = argparse.ArgumentParser(prog="python -m duvae.sweep", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("experiment", choices=EXPERIMENTS)
    p.add_argument("--profile", default="cpu", choices=PROFILES)
    p.add_argument("--seeds", type=int, default=3, help="seeds per configuration (default 3)")
    p.add_argument("--models", nargs="*", default=None, help="only these models of the experiment")
    p.add_argument("--datasets", nargs="*", default=None, help="only these data sets of the experiment")
    p.add_argument("--executor", default="local", choices=EXECUTORS)
    p.add_argument("--jobs", type=int, default=2, help="local: worker processes (default 2)")
    p.add_argument("--threads", type=int, default=None,
                   help="local: torch threads per worker (default: cores / jobs; less when the machine is shared)")
    p.add_argument("--partition", default=None, help="slurm: partition")
    p.add_argument("--time", type=int, default=600, help="minutes per job (default 600)")
    p.add_argument("--gpus-per-node", type=int, default=0, help="slurm: GPUs per task")
    p.add_argument("--cpus-per-task", type=int, default=2, help="slurm: CPUs (and torch threads) per task")
    p.add_argument("--mem-gb", type=int, default=0, help="slurm: memory per task (0 = the cluster's default)")
    p.add_argument("--parallel", type=int, default=16, help="slurm: array tasks running at once")
    p.add_argument("--device", default=None, help="cpu | cuda | auto (default: CUDA when present)")
    p.add_argument("--restart", nargs="*", metavar="RUN_ID", help="delete these runs' directories and results first")
    p.add_argument("--results-dir", default=None, help="default: results/ ($DUVAE_RESULTS_DIR)")
    p.add_argument("--runs-dir", default=None, help="default: runs/ ($DUVAE_RUNS_DIR)")
    p.add_argument("--logs", default=None, help="submitit logs (default: <runs dir>/_submitit)")
    p.add_argument("--poll", type=float, default=2.0, help="seconds between progress checks")
    p.add_argument("--list", action="store_true", help="list the runs and their state, run nothing")
    p.add_argument("--data", default=None, help="yours: your data, a folder of train/valid/test.txt, one .txt file, "
                   "or an .npz/.npy of [N, 28, 28] images (docs/your_data.md); results go to yours/ by default")
    p.add_argument("--kind", default=None, choices=("auto", "text", "image"),
                   help="yours: the kind of --data (default: from the path)")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    # Before any worker starts: a relative $DUVAE_DATA_MIRROR, $DUVAE_DATA_DIR, ... means the
    # directory this command was run in, wherever a worker (local process or Slurm task) runs.
    from duvae.data.registry import absolute_env_paths

    absolute_env_paths()
    if args.seeds < 1 or args.jobs < 1 or (args.threads is not None and args.threads < 1):
        raise SystemExit("--seeds, --jobs and --threads must be >= 1")
    if args.logs is None:
        from duvae.runs.trainer import default_runs_dir

        args.logs = str(Path(args.runs_dir or default_runs_dir()) / "_submitit")
    if args.experiment == "yours" or args.data is not None or args.kind is not None:
        from duvae.data.your_files import DataError
        from duvae.experiments import yours

        try:  # --data / --kind for the planning (and the workers), results under yours/ unless --results-dir
            yours.sweep_options(args)
            return summarise(sweep(args))
        except (DataError, ValueError) as err:  # bad data (naming the file and line) or an unknown model: one
            raise SystemExit(f"error: {err}") from None  # message, before anything is written
    return summarise(sweep(args))


if __name__ == "__main__":
    sys.exit(main())
