#!/usr/bin/env bash
# Regenerates the ONNX Runtime parity goldens in tests/golden/pose/ from
# models/movenet-multipose.onnx, with pinned Python packages in a venv at
# .venv-golden/ (PyPI only). Idempotent: the same model and versions give the
# same files. See make_pose_golden.py for what each case is.
#
#   bash tests/golden/make_pose_golden.sh
#
# Needs python3 (with venv), the ffmpeg CLI and OpenCV's sample vtest.avi
# (Debian: apt-get install ffmpeg opencv-doc).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

VENV="$root/.venv-golden"
VTEST="${VTEST:-/usr/share/doc/opencv-doc/examples/data/vtest.avi}"
REQUIREMENTS=(
  "onnxruntime==1.31.1"
  "numpy==2.4.6"
  "scikit-image==0.26.0"
  "pillow==13.0.0"
)

log() { printf 'make_pose_golden.sh: %s\n' "$*" >&2; }

command -v ffmpeg >/dev/null || { log "ffmpeg CLI missing (apt-get install ffmpeg)"; exit 1; }
[ -s "$VTEST" ] || { log "$VTEST missing (apt-get install opencv-doc)"; exit 1; }
[ -s models/movenet-multipose.onnx ] || { log "models/movenet-multipose.onnx missing (bash models/convert_movenet.sh)"; exit 1; }

stamp="$VENV/.golden-requirements"
want="$(printf '%s\n' "${REQUIREMENTS[@]}")"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "setting up $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q "${REQUIREMENTS[@]}"
  printf '%s\n' "$want" >"$stamp"
fi

"$VENV/bin/python" tests/golden/make_pose_golden.py --vtest "$VTEST" "$@"
ls -l tests/golden/pose/
