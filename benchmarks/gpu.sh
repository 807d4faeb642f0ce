#!/usr/bin/env bash
# The GPU part of the benchmarks in one run: the CUDA tests, reward fidelity on the JPEG bench, and
# search speed with the evaluation on the GPU. Records and a RESULTS.md with the new sections go to
# OUTDIR; copy them into benchmarks/ and regenerate the tables with --report-only.
#
#   AUTOQ_SHARED=/path/to/shared bash benchmarks/gpu.sh OUTDIR
#
# The shared folder needs data/cifar10-jpeg/cifar10_jpeg.npz and models/cifar10-jpeg/{resnet20,mobilenet_v2}.pth;
# its training part may be a subset (finetuning and calibration draw from it).
set -uo pipefail
out=${1:?usage: gpu.sh OUTDIR}
mkdir -p "$out/records"
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
cp benchmarks/RESULTS.md "$out/RESULTS.md"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" | tee -a "$out/gpu.txt"
timeout 60 python3 -m pytest -q -p no:cacheprovider tests/engine/test_device.py 2>&1 | tail -15 | tee "$out/cuda_tests.txt"
timeout 300 python3 benchmarks/reward_fidelity.py --device cuda --batch-size 1000 --finetune 6 --finetune-steps 100 \
    --records "$out/records" --results "$out/RESULTS.md" 2>&1 | tee "$out/fidelity.log" | grep -v "^|"
timeout 100 python3 benchmarks/search.py --cases mobilenet_v2-cifar resnet18-cifar --episodes 8 --device cuda --random-weights \
    --section search_speed_cuda --results "$out/RESULTS.md" 2>&1 | tee "$out/speed.log"
