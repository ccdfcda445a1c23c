#!/usr/bin/env bash
# The main job: the live service on embedded defaults. The sample scenes and
# the real CCTV clip play as live cameras into an embedded MQTT broker and a
# SQLite store in out/demo. It prints where to look; Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
cargo run --release --locked -- demo "$@"
