#!/usr/bin/env bash
# Makes tests/golden/intrinsics/opencv_left.json with OpenCV from PyPI, in a venv.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/../../.venv-golden-cv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q "opencv-python-headless==4.12.0.88" "numpy<3"
"$venv/bin/python" "$here/make_intrinsics_golden.py"
