#!/usr/bin/env bash
# gpu-smoke.sh is the GPU smoke run of the real-model work: every supported
# architecture's scaled-down synthetic Hugging Face checkpoint (BF16,
# sharded), in full and as LoRA on its BF16 base, goes through vision,
# prefill, KV-cache decoding and a GRPO training step on the CUDA execution
# provider, twice: with the weights fed from the host at every run, and
# device-resident (weights, KV cache, gradients and AdamW on the GPU; see
# docs/device.md); logits, loss, log-probs and gradients of both are checked
# against the same model on CPU, and "smoke ..." lines per model give the
# timings and, for the resident path, the bytes a decode step and a GRPO
# step moved between host and GPU.
#
# Then the trainer's device path (device.resident: weights, KV cache,
# gradients and AdamW on the GPU through a whole run): a run of two warm-up
# and two GRPO steps with device.provider cuda, checked against the same run
# on CPU; "smoke trainer ..." lines give each step's time and the bytes it
# moved between host and GPU (h2d_bytes, d2h_bytes of metrics.jsonl).
#
# Usage: bash scripts/gpu-smoke.sh [DEVICE_ID]
#
# It needs the pinned CUDA build of ONNX Runtime (bash scripts/setup-gpu.sh,
# run here if third_party/onnxruntime-gpu is missing) and the CUDA 13 /
# cuDNN 9 libraries. On a machine without a GPU the same script runs on
# CPU, against itself (the CPU build of ONNX Runtime, no CUDA needed):
#   VIDEOSSR_SMOKE_PROVIDER=cpu bash scripts/gpu-smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."
device="${1:-0}"
provider="${VIDEOSSR_SMOKE_PROVIDER:-cuda}"
case "$provider" in
cuda)
  lib="$PWD/third_party/onnxruntime-gpu/libonnxruntime.so.1"
  if [[ -f "$lib" ]]; then
    bash scripts/setup-gpu.sh --check
  else
    bash scripts/setup-gpu.sh
  fi
  export ONNXRUNTIME_SHARED_LIBRARY_PATH="$lib"
  ;;
cpu) ;;
*)
  echo "VIDEOSSR_SMOKE_PROVIDER=$provider: want cuda or cpu" >&2
  exit 2
  ;;
esac
export VIDEOSSR_SMOKE_PROVIDER="$provider" VIDEOSSR_SMOKE_DEVICE="$device"
status=0
go test ./model -run '^TestDeviceSmoke$' -count=1 -v 2>&1 | grep -E '^smoke|^\s*--- |^(ok|FAIL)|_test\.go' || status=1
go test ./trainer/grpo -run '^TestTrainerDeviceSmoke$' -count=1 -v 2>&1 | grep -E '^smoke|^\s*--- |^(ok|FAIL)|_test\.go' || status=1
exit "$status"
