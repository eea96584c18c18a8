#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs what the tests need (Postfix, Dovecot,
# the 'guichet' system user), starts a private mail stack on loopback, runs every test, stops it.
#   scripts/test.sh [extra cargo test args]   (without args, scripts/deb-test.sh and demo-test.sh too)
# MAILSTACK_PORT_OFFSET (default 2000) keeps the test stack off the demo's ports.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD

if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "test.sh: needs root (apt, Postfix, Dovecot)" >&2; exit 1; }
    exec sudo -E env "PATH=$PATH" bash "$0" "$@"
fi
command -v cargo >/dev/null || { echo "test.sh: cargo not found: install Rust (https://rustup.rs)" >&2; exit 1; }

scripts/mailstack.sh install
# scripts/deb-test.sh checks the unit with systemd-analyze (package systemd; PID 1 need not be it).
if ! command -v systemd-analyze >/dev/null || ! command -v adduser >/dev/null; then
    apt-get update -q && apt-get install -y -q --no-install-recommends systemd adduser
fi
cargo build --quiet --bins

state=$(mktemp -d /tmp/guichet-test.XXXXXX)
cleanup() {
    scripts/mailstack.sh stop "$state" >/dev/null 2>&1 || true
    rm -rf "$state"
}
trap cleanup EXIT
# The pipe transport and the tests' daemons run as user 'guichet', who may not reach a checkout
# under a private home: give them their own copy of the binary inside the stack's state dir.
install -d -m 755 "$state/bin"
install -m 755 target/debug/guichet target/debug/guichet-deliver "$state/bin/"
export MAILSTACK_PORT_OFFSET=${MAILSTACK_PORT_OFFSET:-2000}
GUICHET_BIN="$state/bin/guichet" scripts/mailstack.sh start "$state" >"$state/start.log" 2>&1 || {
    cat "$state/start.log" >&2
    exit 1
}

export GUICHET_TEST_MAILSTACK=$state GUICHET_REQUIRE_MAILSTACK=1 GUICHET_TEST_BIN=$state/bin/guichet
# A test whose prerequisite is missing (the ../shared corpus) appends a line here; cargo hides
# what passing tests print. Under CI=true such a test fails instead.
export GUICHET_SKIPPED_FILE=$state/skipped
: > "$GUICHET_SKIPPED_FILE"
cd "$repo"
status=0
cargo test --no-fail-fast "$@" 2>&1 | tee "$state/test.log" || status=$?
# One closing line for the whole run (cargo's own last line is the doc-tests', often 0 tests).
# A skipped test is one cargo counted as passed: it is moved from passed to skipped.
passed=$(grep -E '^test result:' "$state/test.log" | grep -oE '[0-9]+ passed' | awk '{n += $1} END {print n + 0}')
failed=$(grep -E '^test result:' "$state/test.log" | grep -oE '[0-9]+ failed' | awk '{n += $1} END {print n + 0}')
# The whole suite also installs, upgrades and removes the Debian package, and runs the README's
# first command (the demo and its tour, on its own stack), reusing the binary above.
if [ $# -eq 0 ]; then
    for script in scripts/deb-test.sh scripts/demo-test.sh; do
        if bash "$script" target/debug/guichet; then
            passed=$((passed + 1))
        else
            failed=$((failed + 1))
            status=1
        fi
    done
fi
skipped=$(sort -u "$GUICHET_SKIPPED_FILE" | grep -c '^GUICHET-SKIPPED: ' || true)
sort -u "$GUICHET_SKIPPED_FILE"
echo "tests: $((passed - skipped)) passed, $failed failed, $skipped skipped"
exit "$status"
