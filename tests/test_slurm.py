"""A real Slurm cluster: a two-run smoke sweep submitted as a job array through submitit.

Needs ``sbatch`` and a controller that answers (``.ci/run`` starts a one-node cluster with
``scripts/slurm-localhost.sh``); skipped, with the reason, where there is none, e.g. on a machine
where Slurm was installed by an earlier session but its daemons are no longer running.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from duvae.sweep import engine as sweep
from duvae.runs.results import load_results

pytestmark = pytest.mark.slurm


def _controller_answers() -> bool:
    try:
        out = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "UP" in out


@pytest.mark.skipif(shutil.which("sbatch") is None, reason="no Slurm here (run scripts/slurm-localhost.sh as root)")
@pytest.mark.skipif(shutil.which("sbatch") is not None and not _controller_answers(),
                    reason="Slurm is installed but its controller does not answer (run scripts/slurm-localhost.sh)")
def test_two_run_smoke_sweep_through_slurm(tmp_path, capsys):
    code = sweep.main(["figure1", "--profile", "smoke", "--seeds", "1", "--models", "vae", "du_vae",
                       "--executor", "slurm", "--cpus-per-task", "1", "--time", "10",
                       "--results-dir", str(tmp_path / "results"), "--runs-dir", str(tmp_path / "runs"),
                       "--poll", "1"])
    out = capsys.readouterr().out
    assert code == 0, out
    results = load_results("smoke", "figure1", tmp_path / "results")
    assert sorted(r["model"] for r in results) == ["du_vae", "vae"]
    assert all(r["metrics"]["epochs"] >= 1 and r["machine"]["threads"] == 1 for r in results)
    assert "submitted 2 job(s)" in out
    # both ran as tasks of one array (submitit names their logs <array job>_<task>_0_log.out)
    logs = list((tmp_path / "runs" / "_submitit").glob("*_*_0_log.out"))
    assert len(logs) == 2 and len({p.name.split("_")[0] for p in logs}) == 1, logs
