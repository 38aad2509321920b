"""Committed results: one small JSON file per finished run, ``results/<profile>/<experiment>/<run_id>.json``.

A result holds everything a reader needs to trust and compare a number without the checkpoint:
the full config, the test metrics, the per-epoch validation history (loss, rec, KL, MI, AU, MPD,
CE), what the experiment adds (``extra``), the wall time, and where it was made: the git commit
of the code, torch's version, the device, the precision, the thread count and the **CPU model**
(re-runs are bit-identical on one kind of CPU, not across kinds: compare across machines through
the seed-to-seed spread). Checkpoints stay under ``runs/`` (git-ignored).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import socket
import subprocess
from pathlib import Path

import torch

RESULTS_VERSION = 1


def default_results_dir() -> Path:
    """``$DUVAE_RESULTS_DIR``, else ``results/`` at the repository root."""
    env = os.environ.get("DUVAE_RESULTS_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "results"


def result_path(results_dir: str | os.PathLike | None, profile: str, experiment: str, run_id: str) -> Path:
    return Path(results_dir or default_results_dir()) / profile / experiment / f"{run_id}.json"


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (else the platform's processor string)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def git_commit() -> str:
    """``HEAD`` of the repository this package lives in, with ``+dirty`` if tracked files changed."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_info(device: torch.device) -> dict:
    """Where a result was made."""
    info = {"cpu": cpu_model(), "threads": torch.get_num_threads(), "torch": torch.__version__,
            "device": str(device), "host": socket.gethostname(), "python": platform.python_version()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def jsonable(value):
    """``value`` as plain JSON types (tuples to lists, tensors to lists, NaN to None)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if torch.is_tensor(value):
        return jsonable(value.tolist())
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


def write_result(path: Path, record: dict) -> Path:
    """Write ``record`` as JSON atomically (temporary file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(jsonable(record), indent=1, sort_keys=False) + "\n")
    os.replace(tmp, path)
    return path


def run_seconds(record: dict) -> float:
    """A finished run's cost in seconds: its trainer's wall time, or, for a run resumed after an
    interruption (whose ``wall_seconds`` counts only the resumed call), the sum of all its epochs
    (``train_seconds``) plus its test, if larger."""
    epochs_and_test = float(record.get("train_seconds", 0.0)) + float(record.get("metrics", {}).get("test_seconds", 0.0))
    return max(float(record["wall_seconds"]), epochs_and_test)


def make_record(run, experiment: str, wall_seconds: float, extra: dict | None = None) -> dict:
    """The result of a finished :class:`~duvae.runs.trainer.TrainedRun` (see the module docstring)."""
    device = next(run.model.parameters()).device
    cfg = run.config
    return {
        "version": RESULTS_VERSION,
        "experiment": experiment,
        "run_id": cfg.run_id(),
        "model": cfg.model.name,
        "dataset": cfg.dataset,
        "profile": cfg.profile,
        "seed": cfg.train.seed,
        "precision": cfg.train.precision,
        "metrics": run.metrics,
        "extra": extra or {},
        "history": run.history,
        "wall_seconds": wall_seconds,
        "train_seconds": sum(float(r.get("seconds", 0.0)) for r in run.history),
        "git_commit": git_commit(),
        "machine": {**machine_info(device), "threads": int(run.metrics.get("threads", torch.get_num_threads()))},
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "config": cfg.to_dict(),
    }


class DamagedResult(ValueError):
    """A result file that is not a readable result: its message names the file and how to restore it."""


#: the keys every reader of results relies on (every result of :func:`make_record` has them, and
#: more); a file without them is damaged
REQUIRED_KEYS = ("run_id", "model", "seed")


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it (what ``git checkout`` takes)."""
    root = Path(__file__).resolve().parents[2]
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return str(path)


def read_result(path: str | os.PathLike, required: tuple[str, ...] = REQUIRED_KEYS) -> dict:
    """One result file, read; a truncated, corrupt or foreign file raises :class:`DamagedResult`
    naming the file, what is wrong, and the two ways out (restore the committed copy, or delete it so
    that the sweep trains the run again). ``required``: the keys the caller reads."""
    path = Path(path)
    shown = _shown(path)
    fix = (f"Restore the committed copy with `git checkout -- {shown}`, or delete the file and run the "
           f"experiment's sweep again (`python -m duvae.sweep {path.parent.name} --profile {path.parent.parent.name}`) "
           "to train that run anew.")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DamagedResult(f"{shown} is damaged: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}). "
                            f"{fix}") from None
    except UnicodeDecodeError as e:
        raise DamagedResult(f"{shown} is damaged: not UTF-8 text (byte {e.start}). {fix}") from None
    if not isinstance(record, dict):
        raise DamagedResult(f"{shown} is damaged: a JSON {type(record).__name__}, not a result object. {fix}")
    missing = [k for k in required if k not in record]
    if missing:
        raise DamagedResult(f"{shown} is damaged: it lacks {', '.join(missing)}. {fix}")
    return record


def load_results(profile: str, experiment: str, results_dir: str | os.PathLike | None = None) -> list[dict]:
    """Every committed result of ``experiment`` under ``profile`` (sorted by model, then seed); a damaged
    file raises :class:`DamagedResult` naming it (:func:`read_result`)."""
    folder = Path(results_dir or default_results_dir()) / profile / experiment
    records = [read_result(p) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    return sorted(records, key=lambda r: (r["model"], r["seed"]))
