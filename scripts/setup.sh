#!/usr/bin/env bash
# Installs everything sortwatch needs on a Debian 12 machine, idempotently:
# Debian packages (FFmpeg dev libraries, clang, the real CCTV sample), the ONNX
# Runtime shared library from the PyPI `onnxruntime` wheel, and cargo-nextest.
# Nothing is downloaded from outside the package registries.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

ORT_VERSION=1.31.1
ORT_DIR="$root/.deps/onnxruntime"
ORT_LIB="$ORT_DIR/libonnxruntime.so.$ORT_VERSION"

APT_PACKAGES=(
  pkg-config clang
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev
  ffmpeg        # ffprobe/ffmpeg CLIs, used by tests to cross-check our decoder
  opencv-doc    # ships the real CCTV sample vtest.avi
  python3-pip
  mosquitto-clients  # mosquitto_sub: watch the demo's topics
  mosquitto     # the real broker the integration tests start on a free port
  chromium chromium-driver  # the headless browser the web page tests drive
  fonts-dejavu-core         # one font for the pages and their screenshots
)

log() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  log "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -s "$ORT_LIB" ]; then
  log "fetching ONNX Runtime $ORT_VERSION from the PyPI wheel"
  tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" "onnxruntime==$ORT_VERSION"
  mkdir -p "$ORT_DIR"
  python3 - "$tmp" "$ORT_DIR" "$ORT_VERSION" <<'PY'
import glob, sys, zipfile, os
tmp, out, ver = sys.argv[1:]
whl = glob.glob(os.path.join(tmp, "onnxruntime-*.whl"))[0]
name = f"onnxruntime/capi/libonnxruntime.so.{ver}"
with zipfile.ZipFile(whl) as z:
    data = z.read(name)
dst = os.path.join(out, os.path.basename(name))
with open(dst + ".part", "wb") as f:
    f.write(data)
os.replace(dst + ".part", dst)
PY
fi

sample_src=/usr/share/doc/opencv-doc/examples/data/vtest.avi
if [ ! -s samples/vtest.avi ]; then
  log "copying the real CCTV sample from Debian's opencv-doc"
  cp "$sample_src" samples/vtest.avi
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  log "installing cargo-nextest from crates.io (one-off, a few minutes)"
  cargo install --locked cargo-nextest
fi
log "ready (ONNX Runtime at ${ORT_LIB#$root/})"
