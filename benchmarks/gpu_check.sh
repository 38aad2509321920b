#!/usr/bin/env bash
# The GPU device check: the `paper` profile on one GPU, correct, measured, and its cost known.
#
# Through the device tool (an H200 machine: Python 3.12, torch + CUDA, pandas, pytest and the rest
# already there; nothing can be fetched there):
#
#   here, once:   DUVAE_DATA_MIRROR=/work/shared/data bash benchmarks/gpu_carry.sh   # .gpu_carry/: data, wheel
#   device tool:  run(command="bash benchmarks/gpu_check.sh", carry=[".gpu_carry"], timeout_s=480)
#
# This package is not installed there: PYTHONPATH=$PWD. Stages, each time-boxed with `timeout` (so a
# stall costs its own stage only), each writing into $OUT as soon as it has something; at most 7.3 min
# if every stage ran to its cap (T_* below), less in practice:
#
#   0. env.json          GPU, driver, torch, CUDA, cuDNN, date (nvidia-smi's line too)
#   1. pytest.txt        pytest tests/test_cuda.py (CUDA against the CPU: every model, IW-NLL, checkpoints)
#   2. sweep.json        the smoke Table 1 sweep on the device (--executor inline --device cuda): every
#                        run finished? every result names the GPU?
#   3. paper_steps.json  benchmarks/bench_paper.py: paper-size step, validation and IW-NLL (K = 500)
#                        times of VAE, DU-VAE, DU-IAF (and SA-VAE) on Yahoo and Omniglot, fp32 (TF32
#                        allowed) and bf16, as fractions of the bf16 matmul rate (rewritten after each)
#   4. packing.json      benchmarks/bench_packing.py: 1, 2, 4, 8 Yahoo DU-VAE trainings at once
#      summary.json      each stage's exit status and seconds (rewritten after each stage)
#      gpu_check.log     everything, as it is printed
#
# A tiny end-to-end run on the CPU, to test this script (its numbers mean nothing):
#
#   DEVICE=cpu TINY=1 OUT=/tmp/gpu_check DUVAE_DATA_MIRROR=/work/shared/data bash benchmarks/gpu_check.sh
#
# Variables: OUT (default: a new temporary folder), DEVICE (cuda), TINY (1: smoke sizes, few steps, and
# only VAE, DU-VAE, DU-IAF in the sweep), PYTHON (default .venv/bin/python where it exists, else
# python3), DUVAE_DATA_MIRROR (default .gpu_carry/data where it exists), T_PYTEST, T_SWEEP, T_BENCH,
# T_PACK (each stage's cap in seconds). Never writes into runs/ or results/: everything but $OUT goes to
# a temporary folder.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT="${OUT:-$(mktemp -d -t gpu_check.XXXXXX)}"
mkdir -p "$OUT"
DEVICE="${DEVICE:-cuda}"
TINY="${TINY:-0}"
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
WORK="$(mktemp -d -t gpu_check_work.XXXXXX)"
LOG="$OUT/gpu_check.log"
START=$(date +%s)

# the package from this checkout; wheels carried in .gpu_carry/wheels go to a folder of their own
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
if ls .gpu_carry/wheels/*.whl >/dev/null 2>&1; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$WORK/site" \
        .gpu_carry/wheels/*.whl && export PYTHONPATH="$PYTHONPATH:$WORK/site"
fi
if [ -z "${DUVAE_DATA_MIRROR:-}" ] && [ -d .gpu_carry/data ]; then export DUVAE_DATA_MIRROR="$ROOT/.gpu_carry/data"; fi
export DUVAE_DATA_DIR="$WORK/data-cache" DUVAE_RUNS_DIR="$WORK/runs" DUVAE_RESULTS_DIR="$WORK/results"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg

if [ "$TINY" = 1 ]; then
    : "${T_PYTEST:=400}" "${T_SWEEP:=400}" "${T_BENCH:=400}" "${T_PACK:=200}"
    SWEEP_ARGS=(--models vae du_vae du_iaf)
    BENCH_ARGS=(--profile smoke --steps 2 --samples 16 --sa-steps 1 --iw-docs 4 --iw-images 4 --iw-budgets 4096
                --eval-batches 1)
    PACK_ARGS=(--profile smoke --procs 1 2 --steps 3 --distinct 3)
else
    # caps: 30 + 100 + 110 + 120 + 75 s = 7.3 min at the very worst; each stage usually ends well before
    : "${T_PYTEST:=100}" "${T_SWEEP:=110}" "${T_BENCH:=120}" "${T_PACK:=75}"
    SWEEP_ARGS=()
    BENCH_ARGS=(--sa-steps 2)
    PACK_ARGS=(--procs 1 2 4 8 --steps 20 --distinct 6)
fi

log() { echo "[gpu_check $(( $(date +%s) - START ))s] $*" | tee -a "$LOG"; }

# summary.json: one entry per stage, rewritten after each
STAGES="$WORK/stages.tsv"
: > "$STAGES"
record() {  # name rc seconds
    printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$STAGES"
    "$PYTHON" - "$STAGES" "$OUT/summary.json" "$DEVICE" "$TINY" <<'EOF'
import json, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
stages = {n: {"rc": int(rc), "seconds": int(s), "timed_out": int(rc) in (124, 137)} for n, rc, s in rows}
json.dump({"device": sys.argv[3], "tiny": sys.argv[4] == "1", "stages": stages,
           "all_ok": all(v["rc"] == 0 for v in stages.values())}, open(sys.argv[2], "w"), indent=1)
EOF
}

stage() {  # name cap command...: run it time-boxed, its output into the log, record its status
    local name=$1 cap=$2; shift 2
    local t0=$(date +%s)
    log "stage $name (at most ${cap}s): $*"
    timeout --signal=TERM --kill-after=15 "$cap" "$@" 2>&1 | tee -a "$LOG"
    local rc=${PIPESTATUS[0]}
    log "stage $name: exit $rc after $(( $(date +%s) - t0 ))s"
    record "$name" "$rc" "$(( $(date +%s) - t0 ))"
}

log "OUT=$OUT DEVICE=$DEVICE TINY=$TINY PYTHON=$PYTHON mirror=${DUVAE_DATA_MIRROR:-none} work=$WORK"

# 0. the machine
stage env 30 "$PYTHON" - "$OUT/env.json" <<'EOF'
import datetime, json, platform, shutil, subprocess, sys
import torch
info = {"created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(), "cpu_count": __import__("os").cpu_count()}
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    info.update(gpu=torch.cuda.get_device_name(0), gpu_memory_gib=round(p.total_memory / 2**30, 1),
                capability=f"{p.major}.{p.minor}", multiprocessors=p.multi_processor_count,
                cudnn=torch.backends.cudnn.version(), gpus=torch.cuda.device_count())
if shutil.which("nvidia-smi"):
    info["nvidia_smi"] = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                                         "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
for name in ("pandas", "submitit", "pytest"):
    try:
        info[name] = __import__(name).__version__
    except Exception as err:  # noqa: BLE001
        info[name] = f"missing ({type(err).__name__})"
json.dump(info, open(sys.argv[1], "w"), indent=1)
print(json.dumps(info, indent=1))
EOF

# 1. CUDA correctness
t0=$(date +%s)
log "stage pytest (at most ${T_PYTEST}s): pytest tests/test_cuda.py"
timeout --signal=TERM --kill-after=15 "$T_PYTEST" "$PYTHON" -m pytest -q -p no:cacheprovider -rs tests/test_cuda.py \
    2>&1 | tee "$OUT/pytest.txt" | tee -a "$LOG" | tail -n 15
rc=${PIPESTATUS[0]}
log "stage pytest: exit $rc after $(( $(date +%s) - t0 ))s"
record pytest "$rc" "$(( $(date +%s) - t0 ))"

# 2. the smoke Table 1 sweep on the device, then what its results say
stage sweep "$T_SWEEP" "$PYTHON" -m duvae.sweep table1 --profile smoke --seeds 1 --executor inline --device "$DEVICE" \
    "${SWEEP_ARGS[@]}"
t0=$(date +%s)
"$PYTHON" - "$OUT/sweep.json" "$DEVICE" "${SWEEP_ARGS[@]}" <<'EOF' 2>&1 | tee -a "$LOG"
import json, sys
from duvae.runs.results import load_results
from duvae.sweep.engine import plan
out, device, models = sys.argv[1], sys.argv[2], sys.argv[4:] or None
todo, done = plan("table1", "smoke", 1, models=models)
runs = [{"model": r["model"], "dataset": r["dataset"], "nll": r["metrics"].get("nll"), "device": r["machine"]["device"],
         "gpu": r["machine"].get("gpu"), "wall_seconds": round(r["wall_seconds"], 2)}
        for r in load_results("smoke", "table1")]
report = {"planned": len(todo) + len(done), "finished": len(done), "missing": [c.model.name + "/" + c.dataset for c in todo],
          "all_finished": not todo, "all_name_the_gpu": bool(runs) and all(r["gpu"] for r in runs),
          "gpus": sorted({r["gpu"] or "-" for r in runs}), "runs": runs}
json.dump(report, open(out, "w"), indent=1)
print(f"sweep: {report['finished']}/{report['planned']} runs finished; GPU named in every result: "
      f"{report['all_name_the_gpu']} ({', '.join(report['gpus'])})")
sys.exit(0 if report["all_finished"] and (report["all_name_the_gpu"] or device == "cpu") else 1)
EOF
record sweep_check "${PIPESTATUS[0]}" "$(( $(date +%s) - t0 ))"

# 3. paper sizes: step, validation and IW-NLL times
stage paper_steps "$T_BENCH" "$PYTHON" benchmarks/bench_paper.py --device "$DEVICE" --out "$OUT/paper_steps.json" \
    "${BENCH_ARGS[@]}"

# 4. runs per GPU
stage packing "$T_PACK" "$PYTHON" benchmarks/bench_packing.py --device "$DEVICE" --out "$OUT/packing.json" \
    "${PACK_ARGS[@]}"

# the projection, if the measurements came back (printed only: the numbers are in paper_steps.json)
if [ -f "$OUT/paper_steps.json" ]; then
    "$PYTHON" -m duvae.sweep.costs --gpu "$OUT/paper_steps.json" table1:1 figure2:1 --precision bf16 2>&1 | tee -a "$LOG" \
        | tail -n 6
fi
log "done in $(( $(date +%s) - START ))s; files in $OUT:"
ls -la "$OUT" | tee -a "$LOG"
rm -rf "$WORK"
