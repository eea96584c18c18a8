#!/usr/bin/env bash
# Pathological mails through every intake stage, in release mode: time and peak memory at size n
# and 2n, and the ratio time(2n)/time(n). See bench/README.md.
#
#   bench/pathological.sh [--scale F] [--timeout SECS] [CASE...]
#
# --scale F       multiply every n by F (default 1: 1M lines, 100k nested elements, ...)
# --timeout SECS  give up on one case at one size after SECS seconds (default 120)
# CASE            only these cases (default all); an unknown name lists them
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$root"
exec cargo bench --quiet --bench pathological -- "$@"
