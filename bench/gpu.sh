#!/usr/bin/env bash
# The GPU checks and measurements, in one command for a lent GPU machine (see
# /work/.library/device/README.md): the needs_cuda / needs_tensorrt tests, then
# `vidrestore bench` for ESPCN x3 and EDSR x2 on 1080p input in fp16 with every
# backend side by side, recorded in bench/results/ and copied to OUT.
#
# That machine has torch with CUDA, onnxruntime (CPU build) and Triton, but no
# PyAV and no network, so the wheels it lacks travel in .whl/ (ignored by git):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl av==18.1.0 click safetensors pillow
# and the call is: run(command="bash bench/gpu.sh", carry=[".whl"], timeout_s=600).
#
# vidrestore installs into /tmp/site (export/, bench/ and training/ map to
# vidrestore.* only when installed), and the tests run from a copy beside it,
# so nothing imports the checkout's folders by accident.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=/tmp/site VIDRESTORE_CACHE=/tmp/vidrestore-cache
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target /tmp/site . || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, av; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'av', av.__version__)" | tee -a "$OUT/gpu.txt"

# The tests that skip everywhere else, from a copy of tests/ beside the installed package.
rm -rf /tmp/run && mkdir -p /tmp/run && cp -r tests pyproject.toml /tmp/run/
(cd /tmp/run && python3 -m pytest -q -m "needs_cuda or needs_tensorrt" -p no:cacheprovider tests 2>&1) | tee "$OUT/tests.log"

# The issue-5 measurements: 1080p input, fp16, every backend this machine can run (the others say why not).
for job in "espcn --x3" "edsr --x2"; do
    # shellcheck disable=SC2086
    python3 -m vidrestore bench samples/sample.mp4 --model $job --size 1920x1080 --frames 100 --device cuda \
        --precision fp16 --backend torch --backend torch-compile --backend onnxruntime --backend tensorrt \
        --batch 4 --record 2>&1 | tee -a "$OUT/bench.log"
done
cp /tmp/site/vidrestore/bench/results/bench-*-"$(date +%Y%m%d)"-* "$OUT/" 2>/dev/null  # --record writes beside the installed module
ls "$OUT"
