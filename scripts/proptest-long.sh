#!/usr/bin/env bash
# The hostile-mail property tests for longer than CI runs them (tests/hostile.rs).
#   scripts/proptest-long.sh [CASES]     (default 20000; release build)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PROPTEST_CASES=${1:-20000} cargo test --release --test hostile -- --nocapture
