"""A newcomer's first hour: the README's commands work as written.

- A relative ``DUVAE_DATA_MIRROR`` or ``DUVAE_DATA_DIR`` means the directory the command was run
  in. The data layer reads it against the current directory; the main job and the sweep make it
  absolute before any kernel (which runs in ``notebooks/``) or worker starts. Tested on the main
  job at ``smoke`` with the README's ``../shared/data``, and on a local sweep worker.
- The README's papermill command for one notebook, taken from between its markers, runs as it
  stands.

The JupyterLab part of the newcomer's hour is in ``test_lab_browser.py``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from duvae.data import registry

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: a small file of the mirror
SMALL = "yahoo/vocab.txt"


def _env(**changes) -> dict:
    """This process's environment without the project's directory variables, plus ``changes``."""
    env = {k: v for k, v in os.environ.items() if k not in registry.ENV_PATHS + ("DUVAE_OUTPUT_DIR",)}
    env.update({k: str(v) for k, v in changes.items()})
    env.setdefault("MPLBACKEND", "Agg")
    return env


def _relative(path: Path, start: Path) -> str:
    rel = os.path.relpath(path, start)
    assert not os.path.isabs(rel)
    return rel


# --- the data layer and the resolution itself -------------------------------------------------


def test_absolute_env_paths_resolves_relative_variables_once(tmp_path):
    environ = {
        registry.ENV_MIRROR: "../shared/data",
        registry.ENV_CACHE_DIR: "/already/absolute",
        "DUVAE_RUNS_DIR": "",  # empty: left alone
        "DUVAE_RESULTS_DIR": "results",
        "UNRELATED": "relative/too",
    }
    changed = registry.absolute_env_paths(environ=environ, base=tmp_path / "clone")
    assert environ[registry.ENV_MIRROR] == str(tmp_path / "shared" / "data")
    assert environ["DUVAE_RESULTS_DIR"] == str(tmp_path / "clone" / "results")
    assert environ[registry.ENV_CACHE_DIR] == "/already/absolute"
    assert environ["DUVAE_RUNS_DIR"] == "" and environ["UNRELATED"] == "relative/too"
    assert changed == {
        registry.ENV_MIRROR: ("../shared/data", str(tmp_path / "shared" / "data")),
        "DUVAE_RESULTS_DIR": ("results", str(tmp_path / "clone" / "results")),
    }
    # idempotent: a second call (another directory) changes nothing
    assert registry.absolute_env_paths(environ=environ, base="/elsewhere") == {}


def test_data_layer_reads_relative_variables_against_the_current_directory(mirror, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(registry.ENV_MIRROR, _relative(mirror, tmp_path))
    monkeypatch.setenv(registry.ENV_CACHE_DIR, "cache")
    assert registry.default_cache_dir() == tmp_path / "cache"
    assert registry.resolve_mirror() == Path(os.path.abspath(mirror))
    path = registry.fetch(SMALL, progress=False)
    assert path == tmp_path / "cache" / SMALL and path.is_file()


def test_a_missing_relative_mirror_names_where_it_was_looked_for(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(registry.ENV_MIRROR, "../no-such-mirror")
    with pytest.raises(FileNotFoundError) as err:
        registry.fetch(SMALL, cache_dir=tmp_path / "cache", progress=False)
    message = str(err.value)
    assert str(tmp_path.parent / "no-such-mirror") in message and "DUVAE_DATA_MIRROR=../no-such-mirror" in message


# --- the main job --------------------------------------------------------------------------------


def test_main_job_at_smoke_with_a_relative_mirror(mirror, tmp_path):
    """The README's ``export DUVAE_DATA_MIRROR=../shared/data``, then the main job, from the clone.

    Notebook 04 trains on Omniglot; its kernel runs in ``notebooks/``, where the
    relative path would name another folder. A fresh, relative cache forces a copy from the mirror.
    """
    cache = tmp_path / "cache"
    env = _env(
        DUVAE_DATA_MIRROR=_relative(mirror, ROOT),  # "../shared/data" beside the clone
        DUVAE_DATA_DIR=_relative(cache, ROOT),
        DUVAE_RUNS_DIR=tmp_path / "runs",
        DUVAE_RESULTS_DIR=tmp_path / "results",
    )
    done = subprocess.run(
        [sys.executable, "-m", "duvae.book.run", "--profile", "smoke", "--device", "cpu",
         "--output", str(tmp_path / "build"), "04"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^  04_models: ok \(", done.stdout, flags=re.M), done.stdout
    assert f"DUVAE_DATA_MIRROR={env['DUVAE_DATA_MIRROR']} is {os.path.abspath(mirror)}" in done.stdout
    assert (cache / "omniglot" / "images_background.npz").is_file()  # copied from the mirror


# --- the sweep -------------------------------------------------------------------------------


def test_sweep_resolves_the_variables_before_any_worker_starts(tmp_path, monkeypatch):
    from duvae.sweep import engine as sweep

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(registry.ENV_MIRROR, "mirror")
    monkeypatch.setenv(registry.ENV_CACHE_DIR, "cache")
    seen = {}

    def fake_sweep(args):
        seen.update({name: os.environ[name] for name in (registry.ENV_MIRROR, registry.ENV_CACHE_DIR)})
        return []

    monkeypatch.setattr(sweep, "sweep", fake_sweep)
    monkeypatch.setattr(sweep, "summarise", lambda outcomes: 0)
    assert sweep.main(["figure1", "--profile", "smoke", "--runs-dir", str(tmp_path / "runs")]) == 0
    assert seen == {registry.ENV_MIRROR: str(tmp_path / "mirror"), registry.ENV_CACHE_DIR: str(tmp_path / "cache")}


def test_local_sweep_worker_with_a_relative_mirror(mirror, tmp_path):
    """A local worker process finds the data through relative paths given to the sweep command."""
    work = tmp_path / "work"
    work.mkdir()
    env = _env(DUVAE_DATA_MIRROR=_relative(mirror, work), DUVAE_DATA_DIR="cache",
               DUVAE_RUNS_DIR=tmp_path / "runs", DUVAE_RESULTS_DIR=tmp_path / "results")
    done = subprocess.run(
        [sys.executable, "-m", "duvae.sweep.engine", "table1", "--profile", "smoke", "--models", "vae",
         "--datasets", "yahoo", "--seeds", "1", "--executor", "local", "--jobs", "1", "--threads", "1"],
        cwd=work, env=env, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "finished 1 run(s)" in done.stdout and "0 failed" in done.stdout, done.stdout
    results = list((tmp_path / "results" / "smoke" / "table1").glob("yahoo-vae-*.json"))
    assert len(results) == 1 and json.loads(results[0].read_text())["metrics"]["nll"] > 0
    assert (work / "cache" / "yahoo" / "yahoo.valid.txt").is_file()  # the worker copied it from the mirror


# --- papermill, as the README shows it --------------------------------------------------------


def readme_block(marker: str) -> str:
    """The fenced ``bash`` block of README.md between ``<!-- marker ... -->`` and ``<!-- /marker -->``."""
    text = README.read_text()
    match = re.search(rf"<!-- {re.escape(marker)}\b[^>]*-->\s*```bash\n(.*?)```\s*<!-- /{re.escape(marker)} -->",
                      text, flags=re.S)
    assert match, f"README.md has no bash block between <!-- {marker} --> and <!-- /{marker} -->"
    return match.group(1)


def test_readme_papermill_command_runs_as_written(tmp_path):
    """The README's block, run by bash, in a folder that holds what the clone's root holds for it:
    this environment as ``.venv``, ``notebooks/`` and ``jupytext.toml`` (linked, not copied)."""
    block = readme_block("papermill-one-notebook")
    venv = Path(sys.prefix)
    if not (venv / "bin" / "activate").is_file():
        pytest.skip(f"the tests do not run in a virtual environment ({venv} has no bin/activate)")
    work = tmp_path / "clone"
    work.mkdir()
    for name, target in ((".venv", venv), ("notebooks", ROOT / "notebooks"), ("jupytext.toml", ROOT / "jupytext.toml")):
        (work / name).symlink_to(target)
    env = _env(DUVAE_OUTPUT_DIR=tmp_path / "outputs")
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{block}\n{done.stdout}\n{done.stderr}"

    outputs = re.findall(r"papermill - (\S+\.ipynb)", block)
    assert outputs, block
    notebook = json.loads((work / outputs[0]).read_text())
    injected = [c for c in notebook["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and 'profile = "smoke"' in "".join(injected[0]["source"])
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] for c in code), "a cell did not run"
    assert not any(o.get("output_type") == "error" for c in code for o in c["outputs"])
