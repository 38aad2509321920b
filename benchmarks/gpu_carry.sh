#!/usr/bin/env bash
# Prepare .gpu_carry/, what benchmarks/gpu_check.sh needs on the device machine beside the working tree.
#
# The device machine reaches nothing outside itself and receives only this checkout (tracked files and
# untracked files git does not ignore) plus the ignored paths a call names in `carry`. So, once, here:
#
#   DUVAE_DATA_MIRROR=/work/shared/data bash benchmarks/gpu_carry.sh
#
# It writes (about 13 MB; .git/info/exclude ignores the folder, so it is never committed):
#   .gpu_carry/data/yahoo/{vocab.txt,yahoo.valid.txt,yahoo.test.txt}     read by the smoke sweep and the
#   .gpu_carry/data/omniglot/{images_background,images_evaluation}.npz   paper-size benchmarks
#   .gpu_carry/wheels/submitit-*.whl   submitit, which the H200 image lacks (cloudpickle and
#                                      typing_extensions are there). gpu_check.sh itself does not need
#                                      it (its sweep runs --executor inline); it is installed there, when
#                                      present, so that `--executor local` works too. WHEELS=0 skips it.
# and the device call is then  run(command="bash benchmarks/gpu_check.sh", carry=[".gpu_carry"], timeout_s=480).
set -euo pipefail
cd "$(dirname "$0")/.."
mirror="${DUVAE_DATA_MIRROR:-../shared/data}"
for f in yahoo/vocab.txt yahoo/yahoo.valid.txt yahoo/yahoo.test.txt omniglot/images_background.npz \
         omniglot/images_evaluation.npz; do
    [ -f "$mirror/$f" ] || { echo "gpu_carry: no $mirror/$f (set DUVAE_DATA_MIRROR to the data mirror)" >&2; exit 1; }
done
mkdir -p .git/info
grep -qxF '/.gpu_carry/' .git/info/exclude 2>/dev/null || echo '/.gpu_carry/' >> .git/info/exclude
mkdir -p .gpu_carry/data/yahoo .gpu_carry/data/omniglot .gpu_carry/wheels
cp "$mirror"/yahoo/{vocab.txt,yahoo.valid.txt,yahoo.test.txt} .gpu_carry/data/yahoo/
cp "$mirror"/omniglot/{images_background.npz,images_evaluation.npz} .gpu_carry/data/omniglot/
if [ "${WHEELS:-1}" = 1 ] && ! ls .gpu_carry/wheels/submitit-*.whl >/dev/null 2>&1; then
    # a pure-Python wheel; --no-deps: its two requirements are already on the H200 image (KINDS.md)
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 -d .gpu_carry/wheels submitit==1.5.4 \
        || echo "gpu_carry: could not download submitit's wheel (gpu_check.sh does not need it)" >&2
fi
du -sh .gpu_carry
find .gpu_carry -type f | sort
