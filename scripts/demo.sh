#!/usr/bin/env bash
# The main job: replay the real CCTV sample through the real pose model, write
# the events and an overlay video a person can watch.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
mkdir -p out
cargo run --release --locked -- replay samples/vtest.avi \
  --calibration calibration/vtest.toml \
  --events out/vtest.events.jsonl \
  --overlay out/vtest.overlay.mp4 "$@"
echo "events:  out/vtest.events.jsonl"
echo "overlay: out/vtest.overlay.mp4"
