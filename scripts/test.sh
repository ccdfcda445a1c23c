#!/usr/bin/env bash
# The whole test suite: set-up, formatting, lints, then every test (real model,
# real video) under cargo-nextest. Debug builds with optimised dependencies keep
# CI inside its time budget on 2 cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo nextest run --locked --no-fail-fast "$@"
