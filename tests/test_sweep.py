"""The sweep engine and the run directory's safety: locks, damaged files, bad seeds, results.

Runs use the ``smoke`` profile of Figure 1 (synthetic text, seconds per run); the synthetic set is
generated, so no data files are needed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from duvae.sweep import engine as sweep
from duvae.runs.config import REFERENCE_SEED
from duvae.experiments import figure1
from duvae.runs.results import load_results
from duvae.runs.trainer import DamagedRunError, RunLockedError, load_checkpoint, train_or_load
from duvae.runs.zoo import run_config


def _sweep(tmp_path, *extra):
    argv = ["figure1", "--profile", "smoke", "--seeds", "1", "--results-dir", str(tmp_path / "results"),
            "--runs-dir", str(tmp_path / "runs"), "--poll", "0.2", *extra]
    return sweep.main(argv)


def test_inline_sweep_writes_complete_results_and_skips_finished_runs(tmp_path, capsys):
    assert _sweep(tmp_path, "--executor", "inline") == 0
    results = load_results("smoke", "figure1", tmp_path / "results")
    assert sorted(r["model"] for r in results) == sorted(figure1.MODELS)
    r = results[0]
    for key in ("config", "metrics", "history", "wall_seconds", "git_commit", "machine", "precision", "extra"):
        assert key in r, key
    assert r["machine"]["cpu"] and r["machine"]["threads"] >= 1 and r["machine"]["torch"] == torch.__version__
    assert len(r["history"]) == r["metrics"]["epochs"] and {"kl", "mi", "au", "loss"} <= set(r["history"][0])
    assert isinstance(r["extra"]["n_modes"], int) and isinstance(r["extra"]["centre_inside"], bool)
    out = capsys.readouterr().out
    assert "seed" in out and "NLL" in out
    # a second call finds everything finished and trains nothing
    assert _sweep(tmp_path, "--executor", "inline") == 0
    assert "4 already finished, 0 to run" in capsys.readouterr().out
    table = figure1.table(results)
    assert list(table.index) == list(figure1.MODELS.values()) and "paper" in table.columns


def test_local_executor_runs_workers_in_processes(tmp_path, capsys):
    assert _sweep(tmp_path, "--executor", "local", "--jobs", "2") == 0
    assert len(load_results("smoke", "figure1", tmp_path / "results")) == 4
    assert list((tmp_path / "runs" / "_submitit").glob("*_log.out"))  # submitit's per-job logs
    assert not list((tmp_path / "runs" / "_submitit" / "claims").glob("*"))  # the sweep's claims are cleared


def test_local_workers_take_the_next_unclaimed_run(tmp_path, monkeypatch):
    """The workers share one list: each runs only what no other worker claimed, so none idles while
    runs remain (a fixed share per worker left a core idle beside a long run)."""
    configs = figure1.runs("smoke", 1)
    ran = []
    monkeypatch.setattr(sweep, "run_one", lambda cfg, *a, **k: ran.append(cfg.run_id()) or cfg.run_id())
    claims = tmp_path / "claims"
    # another worker already took runs 0 and 2
    assert sweep.claim(claims, configs[0].run_id()) and sweep.claim(claims, configs[2].run_id())
    assert not sweep.claim(claims, configs[0].run_id())
    done = sweep.run_many(configs, "figure1", claims=claims)
    assert done == ran == [configs[1].run_id(), configs[3].run_id()]
    # a worker that comes later finds every run claimed and runs nothing
    ran.clear()
    assert sweep.run_many(configs, "figure1", claims=claims) == [] and ran == []
    # without claims (one worker, or a Slurm task) every run of the list is run
    assert sweep.run_many(configs, "figure1") == [c.run_id() for c in configs]


def test_threads_per_local_worker_can_be_set(tmp_path, capsys):
    """One worker would take every core (cores / jobs); --threads 1 leaves room for other work."""
    assert _sweep(tmp_path, "--executor", "local", "--jobs", "1", "--threads", "1", "--models", "vae") == 0
    (result,) = load_results("smoke", "figure1", tmp_path / "results")
    assert result["machine"]["threads"] == 1
    with pytest.raises(SystemExit, match="--threads"):
        _sweep(tmp_path, "--threads", "0")


def test_one_failing_run_does_not_stop_the_others(tmp_path, capsys, monkeypatch):
    import duvae.runs.trainer as trainer_mod

    original = trainer_mod.train_or_load

    def flaky(cfg, **kw):
        if cfg.model.name == "bn_vae":
            raise RuntimeError("simulated failure")
        return original(cfg, **kw)

    monkeypatch.setattr(trainer_mod, "train_or_load", flaky)
    assert _sweep(tmp_path, "--executor", "inline") == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "simulated failure" in out and "error.txt" in out
    assert sorted(r["model"] for r in load_results("smoke", "figure1", tmp_path / "results")) == \
        ["agg_vae", "du_vae", "vae"]


def test_same_config_same_machine_gives_identical_metrics(tmp_path):
    cfg = figure1.runs("smoke", 1)[0]
    torch.set_num_threads(1)
    try:
        a = train_or_load(cfg, runs_dir=tmp_path / "a", progress=False).metrics
        b = train_or_load(cfg, runs_dir=tmp_path / "b", progress=False).metrics
    finally:
        torch.set_num_threads(2)
    for key in ("nll", "kl", "mi", "au", "rec"):
        assert a[key] == b[key], key


# --- the run directory's lock ---------------------------------------------------------------------

HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from duvae.runs.trainer import run_lock
    with run_lock(Path(sys.argv[1])):
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
""")


def _hold(run_dir, seconds):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir), str(seconds)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_process_is_refused_while_a_run_is_locked(tmp_path):
    cfg = figure1.runs("smoke", 1)[0]
    proc = _hold(tmp_path / cfg.run_id(), 60)
    try:
        with pytest.raises(RunLockedError, match=f"pid {proc.pid}"):
            train_or_load(cfg, runs_dir=tmp_path, progress=False)
        assert not (tmp_path / cfg.run_id() / "checkpoint.pt").exists()  # nothing was trained
    finally:
        proc.kill()
        proc.wait()
    # the lock dies with its process: now the run trains
    assert train_or_load(cfg, runs_dir=tmp_path, progress=False).metrics["epochs"] >= 1


def test_wait_blocks_until_the_lock_is_free(tmp_path):
    cfg = figure1.runs("smoke", 1)[0]
    proc = _hold(tmp_path / cfg.run_id(), 1.5)
    start = time.perf_counter()
    train_or_load(cfg, runs_dir=tmp_path, progress=False, wait=True)
    assert time.perf_counter() - start > 1.0
    proc.wait()


# --- damaged runs and bad seeds -------------------------------------------------------------------


def _interrupted_run(tmp_path):
    cfg = figure1.runs("smoke", 1)[0]
    run = train_or_load(cfg, runs_dir=tmp_path, progress=False)
    (run.run_dir / "final.pt").unlink()
    (run.run_dir / "metrics.json").unlink()  # as if killed before the end: resume from checkpoint.pt
    return cfg, run.run_dir


def test_truncated_checkpoint_is_one_clear_error(tmp_path):
    cfg, run_dir = _interrupted_run(tmp_path)
    ckpt = run_dir / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    with pytest.raises(DamagedRunError) as err:
        train_or_load(cfg, runs_dir=tmp_path, progress=False)
    msg = str(err.value)
    assert str(ckpt) in msg and f"--restart {run_dir.name}" in msg and "weights_only=False" not in msg


def test_checkpoint_refused_by_weights_only_is_one_clear_error(tmp_path):
    cfg, run_dir = _interrupted_run(tmp_path)
    torch.save({"model": sweep.Outcome("x", "vae", 0, True)}, run_dir / "checkpoint.pt")  # not plain weights
    with pytest.raises(DamagedRunError, match="damaged run file"):
        load_checkpoint(run_dir / "checkpoint.pt")


def test_sweep_reports_a_damaged_run_and_goes_on(tmp_path, capsys):
    cfg = figure1.runs("smoke", 1)[0]  # the VAE
    run_dir = tmp_path / "runs" / cfg.run_id()
    run_dir.mkdir(parents=True)
    (run_dir / "checkpoint.pt").write_bytes(b"PK\x03\x04 not a checkpoint")
    assert _sweep(tmp_path, "--executor", "inline") == 1
    out = capsys.readouterr().out
    assert "DamagedRunError" in out and "--restart" in out
    assert len(load_results("smoke", "figure1", tmp_path / "results")) == 3
    # the way out the message names works
    assert _sweep(tmp_path, "--executor", "inline", "--restart", cfg.run_id()) == 0
    assert len(load_results("smoke", "figure1", tmp_path / "results")) == 4


@pytest.mark.parametrize("seed", ["a", 1.5, True])
def test_a_non_integer_seed_is_refused(seed):
    with pytest.raises(ValueError, match="seed must be an integer"):
        run_config("vae", "synthetic", "smoke", seed=seed)


def test_figure1_runs_use_the_paper_schedule_on_cpu():
    cfgs = figure1.runs("cpu", 3)
    assert len(cfgs) == 12 and {c.train.seed for c in cfgs} == {REFERENCE_SEED + s for s in range(3)}
    for c in cfgs:
        assert c.train.epochs == 50 and c.train.warm_up == 10
    agg = [c for c in cfgs if c.model.name == "agg_vae"][0]
    assert agg.train.kl_start == 0.1  # He et al.'s Agg-VAE schedule


def test_mode_count_and_hull():
    x = torch.linspace(-3, 3, 61)
    gx, gy = torch.meshgrid(x, x, indexing="ij")
    bump = lambda cx, cy: torch.exp(-((gx - cx) ** 2 + (gy - cy) ** 2) / 0.2)  # noqa: E731
    two = bump(-1.5, 0) + bump(1.5, 0)
    assert figure1.count_modes(two) == 2
    assert figure1.count_modes(two + 1e-4 * bump(0, 2.5)) == 2  # below the 1 % floor
    assert figure1.count_modes(torch.ones(5, 5)) == 0  # a plateau has no strict maximum
    square = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [1.0, -1.0]])
    assert figure1.inside_hull(torch.zeros(2), square)
    assert not figure1.inside_hull(torch.tensor([1.5, 0.0]), square)


def test_result_json_is_plain_json(tmp_path):
    assert _sweep(tmp_path, "--executor", "inline") == 0
    for path in (tmp_path / "results" / "smoke" / "figure1").glob("*.json"):
        json.loads(path.read_text())
        assert path.stat().st_size < 200_000


def test_models_and_datasets_select_part_of_an_experiment(tmp_path, capsys):
    """--models and --datasets filter the plan (Table 1 lists runs without loading data)."""
    argv = ["table1", "--profile", "smoke", "--seeds", "2", "--results-dir", str(tmp_path / "results"), "--list"]
    assert sweep.main(argv + ["--models", "sa_vae", "agg_vae", "--datasets", "omniglot"]) == 0
    lines = [ln.split() for ln in capsys.readouterr().out.splitlines() if ln.startswith("  ")]
    assert len(lines) == 4  # 2 models x 2 seeds, Omniglot only
    assert {ln[0].rsplit("-", 1)[0] for ln in lines} == {"omniglot-sa_vae", "omniglot-agg_vae"}
    assert sweep.main(argv + ["--datasets", "yahoo"]) == 0
    lines = [ln.split() for ln in capsys.readouterr().out.splitlines() if ln.startswith("  ")]
    assert len(lines) == 14 * 2 and all(ln[0].startswith("yahoo-") for ln in lines)
    with pytest.raises(SystemExit, match="--datasets"):
        sweep.main(argv + ["--datasets", "mnist"])
    with pytest.raises(SystemExit, match="--models"):
        sweep.main(argv + ["--models", "ae"])


def test_ctrl_c_stops_the_local_workers(tmp_path, monkeypatch, capsys):
    """submitit's local jobs ignore SIGTERM; an interrupted sweep must cancel them, not leave them running."""
    seen = {}

    def interrupt(jobs, *args, **kwargs):
        seen["jobs"] = jobs
        time.sleep(1.0)  # the workers are up and training
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep, "_follow", interrupt)
    with pytest.raises(SystemExit) as stop:
        _sweep(tmp_path, "--executor", "local", "--jobs", "2")
    assert stop.value.code == 130
    deadline = time.time() + 30
    while not all(job.done() for job in seen["jobs"]) and time.time() < deadline:
        time.sleep(0.2)
    assert [job.state for job in seen["jobs"]] == ["INTERRUPTED", "INTERRUPTED"]
    out = capsys.readouterr().out
    assert "stopped 2 local worker(s)" in out and "resumes" in out


def _processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line mentions ``text`` (Linux /proc)."""
    from pathlib import Path

    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                pids.append(int(cmdline.parent.name))
        except OSError:
            pass
    return pids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_of_a_background_sweep_stops_its_workers(tmp_path):
    """`nohup python -m duvae.sweep ... &` ignores SIGINT, and so would its workers; `kill` (SIGTERM) of
    the sweep must still stop them, so nothing trains on unseen after the sweep is gone."""
    import signal

    logs = tmp_path / "submitit-logs"
    argv = [sys.executable, "-m", "duvae.sweep.engine", "figure1", "--profile", "smoke", "--seeds", "3", "--executor", "local",
            "--jobs", "2", "--results-dir", str(tmp_path / "results"), "--runs-dir", str(tmp_path / "runs"),
            "--logs", str(logs), "--poll", "0.2"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        for line in proc.stdout:
            if "submitted" in line:
                break
        deadline = time.time() + 30
        while len(_processes_mentioning(str(logs))) < 2 and time.time() < deadline:
            time.sleep(0.1)
        assert len(_processes_mentioning(str(logs))) >= 2  # the workers are up
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    assert "stopped 2 local worker(s)" in out
    deadline = time.time() + 30
    while _processes_mentioning(str(logs)) and time.time() < deadline:
        time.sleep(0.2)
    assert _processes_mentioning(str(logs)) == []


def _shared_cell():
    """A Figure 2 cell that is also a Table 1 row at the smoke profile (DU-VAE (0.5, 0.8), Omniglot)."""
    from duvae.experiments import figure2, table1

    rows = {c.run_id(): c for c in table1.runs("smoke", 1)}
    cells = [c for c in figure2.runs("smoke", 1) if c.run_id() in rows and c.dataset == "omniglot"]
    return next(c for c in cells if (c.model.gamma, c.model.p_keep) == (0.5, 0.8))


def test_a_run_committed_by_another_experiment_is_copied_not_retrained(tmp_path, mirror, monkeypatch, capsys):
    """A Figure 2 cell that is a Table 1 row is the same run: on a machine without its checkpoints
    (they are not committed) the sweep copies Table 1's result instead of training it again."""
    monkeypatch.setenv("DUVAE_DATA_MIRROR", str(mirror))
    cfg, results, runs = _shared_cell(), tmp_path / "results", tmp_path / "runs"
    assert sweep.run_one(cfg, "table1", results, runs).ok
    shutil.rmtree(runs)  # a fresh clone: results are committed, checkpoints are not

    def no_training(*args, **kwargs):
        raise AssertionError("a run committed under table1 was trained again")

    monkeypatch.setattr("duvae.runs.trainer.train_or_load", no_training)
    argv = ["figure2", "--profile", "smoke", "--seeds", "1", "--executor", "inline", "--results-dir", str(results),
            "--runs-dir", str(runs), "--models", "du_vae", "--datasets", "omniglot"]
    monkeypatch.setattr(sweep, "plan", lambda *a, **k: ([cfg], []))  # this one cell only
    assert sweep.main(argv + ["--list"]) == 0  # --list says so before anything runs
    out = capsys.readouterr().out
    assert "1 to copy from other experiments, 0 to run" in out
    assert f"to copy from table1/{cfg.run_id()}.json (not trained again)" in out
    assert not (results / "smoke" / "figure2").exists()  # listing writes nothing
    assert sweep.main(argv) == 0
    out = capsys.readouterr().out
    assert "not re-trained: result of table1/" in out and "finished 0 run(s) (0.0 min" in out and "1 copied" in out
    row, = load_results("smoke", "table1", results)
    cell, = load_results("smoke", "figure2", results)
    assert cell["metrics"] == row["metrics"] and cell["history"] == row["history"]
    assert cell["wall_seconds"] == row["wall_seconds"] and cell["machine"] == row["machine"]
    assert cell["experiment"] == "figure2" and cell["copied_from"] == f"table1/{cfg.run_id()}.json"
    assert cell["extra"] == {"gamma": 0.5, "p_keep": 0.8} and row["extra"]["row"] == "DU-VAE (0.5, 0.8)"


def test_a_stale_result_of_the_same_run_id_is_not_copied(tmp_path, mirror, monkeypatch):
    """Only a result whose config is the run's (same identity, same results version) is reused."""
    monkeypatch.setenv("DUVAE_DATA_MIRROR", str(mirror))
    cfg, results = _shared_cell(), tmp_path / "results"
    assert sweep.run_one(cfg, "table1", results, tmp_path / "runs").ok
    assert sweep.shared_result(cfg, "figure2", results)["run_id"] == cfg.run_id()
    assert sweep.shared_result(cfg, "table1", results) is None  # its own experiment does not count
    path = results / "smoke" / "table1" / f"{cfg.run_id()}.json"
    record = json.loads(path.read_text())
    record["config"]["model"]["gamma"] = 0.6  # edited by hand, or made by other code
    path.write_text(json.dumps(record))
    assert sweep.shared_result(cfg, "figure2", results) is None
    record["config"]["model"]["gamma"] = 0.5
    record["config"]["model"].pop("agg_max_epochs")  # a field added later counts at its default
    path.write_text(json.dumps(record))
    assert sweep.shared_result(cfg, "figure2", results) is not None
    record["version"] = 0
    path.write_text(json.dumps(record))
    assert sweep.shared_result(cfg, "figure2", results) is None
