#!/usr/bin/env bash
# setup-gpu.sh installs the pinned CUDA-enabled ONNX Runtime pieces into
# third_party/onnxruntime-gpu/ and checks that the CUDA 13 / cuDNN 9 libraries
# they load are present. It is idempotent: files already in place at the
# pinned versions are not fetched again; the library check runs every time.
#
#   core library   npm onnxruntime-node@1.29.0 (bin/napi-v6/linux/x64/libonnxruntime.so.1;
#                  built with the CUDA provider bridge)
#   CUDA EP        npm com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9
#                  (Plugins/Linux/x64/libonnxruntime_providers_{cuda,shared}.so,
#                  built for ONNX Runtime 1.29.0 and CUDA 13)
#
# ONNX Runtime loads the provider libraries from the directory of
# libonnxruntime.so.1, so the three files sit side by side.
#
# Usage: bash scripts/setup-gpu.sh [--check]
#   --check   do not fetch; only check what is installed and what is missing
#
# Exit status: 0 when the files are in place and every library the CUDA
# execution provider needs is found; 1 otherwise, after printing exactly
# which libraries are missing and which packages provide them.
#
# The Go side: the CPU build uses ONNX Runtime 1.24 through
# github.com/yalue/onnxruntime_go v1.27.0 (go.mod). This script installs ONNX
# Runtime 1.29 for CUDA, whose matching Go binding is onnxruntime_go >= v1.33.
# See the note printed at the end.
set -euo pipefail

ORT_GPU_CORE_NPM="onnxruntime-node"
ORT_GPU_CORE_VERSION="${ORT_GPU_CORE_VERSION:-1.29.0}"
ORT_GPU_EP_NPM="com.github.asus4.onnxruntime.linux-x64-gpu"
ORT_GPU_EP_VERSION="${ORT_GPU_EP_VERSION:-0.4.9}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/third_party/onnxruntime-gpu"
stamp="core=$ORT_GPU_CORE_NPM@$ORT_GPU_CORE_VERSION ep=$ORT_GPU_EP_NPM@$ORT_GPU_EP_VERSION"

say() { printf '[setup-gpu] %s\n' "$*"; }

check_only=0
for a in "$@"; do
  case "$a" in
    --check) check_only=1 ;;
    -h|--help) sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) say "unknown argument $a (want --check)"; exit 2 ;;
  esac
done

if [ "$(uname -s)/$(uname -m)" != "Linux/x86_64" ]; then
  say "the pinned CUDA build of ONNX Runtime is for Linux x86_64; this machine is $(uname -s)/$(uname -m)"
  exit 1
fi

files=(libonnxruntime.so.1 libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so)

installed() {
  [ "$(cat "$dest/VERSION" 2>/dev/null)" = "$stamp" ] || return 1
  local f
  for f in "${files[@]}"; do [ -s "$dest/$f" ] || return 1; done
  return 0
}

# --- fetch -------------------------------------------------------------------
if installed; then
  say "ONNX Runtime GPU pieces present in $dest ($stamp)"
elif [ "$check_only" = 1 ]; then
  say "MISSING: $dest does not hold $stamp; run: bash scripts/setup-gpu.sh"
  exit 1
else
  command -v npm >/dev/null || { say "MISSING: npm (apt-get install npm) is needed to fetch the packages"; exit 1; }
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/setup-gpu.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  say "fetching $ORT_GPU_CORE_NPM@$ORT_GPU_CORE_VERSION (about 110 MB) from npm"
  (cd "$tmp" && npm pack --silent "$ORT_GPU_CORE_NPM@$ORT_GPU_CORE_VERSION" >/dev/null)
  say "fetching $ORT_GPU_EP_NPM@$ORT_GPU_EP_VERSION (about 180 MB) from npm"
  (cd "$tmp" && npm pack --silent "$ORT_GPU_EP_NPM@$ORT_GPU_EP_VERSION" >/dev/null)
  core_tgz="$(ls "$tmp"/"$ORT_GPU_CORE_NPM"-*.tgz)"
  ep_tgz="$(ls "$tmp"/"$ORT_GPU_EP_NPM"-*.tgz)"
  mkdir -p "$tmp/x"
  tar -xzf "$core_tgz" -C "$tmp/x" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
  tar -xzf "$ep_tgz" -C "$tmp/x" \
    package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so \
    package/Plugins/Linux/x64/libonnxruntime_providers_shared.so
  rm -f "$core_tgz" "$ep_tgz"
  # The provider libraries must come from the same ONNX Runtime release as
  # the core: the provider bridge is not stable across releases.
  if ! grep -aqx "$ORT_GPU_CORE_VERSION" <(tr -c '[:print:]' '\n' <"$tmp/x/package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so"); then
    say "the CUDA provider in $ORT_GPU_EP_NPM@$ORT_GPU_EP_VERSION does not carry ONNX Runtime version $ORT_GPU_CORE_VERSION; refusing to mix releases"
    exit 1
  fi
  mkdir -p "$dest"
  rm -f "$dest/VERSION"
  install -m 0755 "$tmp/x/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$dest/libonnxruntime.so.1"
  install -m 0755 "$tmp/x/package/Plugins/Linux/x64/libonnxruntime_providers_shared.so" "$dest/"
  install -m 0755 "$tmp/x/package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so" "$dest/"
  ln -sf libonnxruntime.so.1 "$dest/libonnxruntime.so"
  echo "$stamp" >"$dest/VERSION"
  rm -rf "$tmp"
  trap - EXIT
  say "installed into $dest: ${files[*]}"
fi

# --- check the libraries the CUDA execution provider loads --------------------
# want: soname -> what to install. The first five are DT_NEEDED entries of
# libonnxruntime_providers_cuda.so (readelf -d); cuDNN and cuFFT are opened
# by it at run time (dlopen), so ldd does not list them.
declare -A want=(
  [libcuda.so.1]="the NVIDIA driver, version 580 or newer for CUDA 13 (Debian/Ubuntu: the nvidia-driver package, or cuda-drivers from NVIDIA's CUDA repository)"
  [libcudart.so.13]="CUDA 13 runtime: cuda-cudart-13-0 (NVIDIA CUDA apt repository) or pip install 'nvidia-cuda-runtime>=13,<14'"
  [libcublas.so.13]="cuBLAS for CUDA 13: libcublas-13-0 or pip install 'nvidia-cublas>=13,<14'"
  [libcublasLt.so.13]="cuBLASLt for CUDA 13: libcublas-13-0 or pip install 'nvidia-cublas>=13,<14'"
  [libcurand.so.10]="cuRAND for CUDA 13: libcurand-13-0 or pip install nvidia-curand (its CUDA 13 build)"
  [libcufft.so.12]="cuFFT for CUDA 13: libcufft-13-0 or pip install 'nvidia-cufft>=12,<13'"
  [libcudnn.so.9]="cuDNN 9 for CUDA 13: libcudnn9-cuda-13 or pip install nvidia-cudnn-cu13"
)
order=(libcuda.so.1 libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libcufft.so.12 libcudnn.so.9)

# find_lib prints where the dynamic loader would find soname: a directory of
# LD_LIBRARY_PATH, the install directory, or the ldconfig cache.
ldcache="$( (ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null || true) )"
find_lib() {
  local so="$1" d
  local IFS=:
  for d in ${LD_LIBRARY_PATH:-} "$dest"; do
    if [ -n "$d" ] && [ -e "$d/$so" ]; then echo "$d/$so"; return 0; fi
  done
  printf '%s\n' "$ldcache" | awk -v so="$so" '$1 == so && /x86-64/ {print $NF; found=1; exit} END {exit !found}'
}

missing=()
for so in "${order[@]}"; do
  if p="$(find_lib "$so")"; then
    say "OK      $so ($p)"
  else
    say "MISSING $so"
    missing+=("$so")
  fi
done
# Anything else ldd cannot resolve (a NEEDED entry not in the list above).
if command -v ldd >/dev/null; then
  while read -r so; do
    [ -n "$so" ] || continue
    if [ -z "${want[$so]+x}" ]; then
      say "MISSING $so (needed by libonnxruntime_providers_cuda.so)"
      want[$so]="a library of the CUDA 13 toolkit providing $so"
      missing+=("$so")
    fi
  done < <(LD_LIBRARY_PATH="$dest${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$dest/libonnxruntime_providers_cuda.so" 2>/dev/null | awk '/=> not found/ {print $1}')
fi

if command -v nvidia-smi >/dev/null && drv="$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n1)" && [ -n "$drv" ]; then
  say "NVIDIA driver $drv; GPUs: $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | paste -sd ';' -)"
  if [ "${drv%%.*}" -lt 580 ] 2>/dev/null; then
    say "WARN    driver $drv is older than 580: CUDA 13 needs 580 or newer"
  fi
else
  say "no NVIDIA GPU visible (nvidia-smi absent or failing)"
fi

cat <<EOF
[setup-gpu] NOTE    Go binding versions. The CPU build loads ONNX Runtime 1.24 from
[setup-gpu]         third_party/onnxruntime through github.com/yalue/onnxruntime_go v1.27.0,
[setup-gpu]         which is what go.mod pins. The CUDA pieces installed here are ONNX
[setup-gpu]         Runtime 1.29, whose matching binding is onnxruntime_go v1.33 or newer.
[setup-gpu]         v1.27.0 asks the library for C API version 24, which 1.29 still serves,
[setup-gpu]         so pointing ONNXRUNTIME_SHARED_LIBRARY_PATH (or device.library) at
[setup-gpu]         $dest/libonnxruntime.so.1 loads it; API calls added after 1.24
[setup-gpu]         are not reachable without bumping the binding. The CUDA execution path
[setup-gpu]         has not been run on GPU hardware in this project. To use it:
[setup-gpu]           1. make every library above OK (the install hints below),
[setup-gpu]           2. set device.provider: cuda and device.library: $dest/libonnxruntime.so.1
[setup-gpu]              (or export ONNXRUNTIME_SHARED_LIBRARY_PATH=$dest/libonnxruntime.so.1),
[setup-gpu]           3. run: go run ./trainer doctor   (it probes the CUDA execution provider),
[setup-gpu]           4. for the newer API: go get github.com/yalue/onnxruntime_go@v1.33.0 (or later)
[setup-gpu]              and rebuild; the CPU library must then be ONNX Runtime >= 1.29 as well
[setup-gpu]              (set ORT_NPM_VERSION=1.29.0 for scripts/setup.sh).
EOF

if [ "${#missing[@]}" -gt 0 ]; then
  say "the CUDA execution provider cannot load: ${#missing[@]} librar$([ "${#missing[@]}" = 1 ] && echo y || echo ies) missing:"
  for so in "${missing[@]}"; do
    say "  $so: install ${want[$so]}"
  done
  say "after installing under a non-standard prefix, add its lib directory to LD_LIBRARY_PATH (or run ldconfig)"
  exit 1
fi
say "all CUDA libraries found"
