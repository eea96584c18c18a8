#!/usr/bin/env bash
# The Debian package on this machine, as an operator would use it: install, edit the config,
# start the daemon as its systemd unit would (PID 1 need not be systemd: the unit's User,
# Environment and ExecStart are read from the installed unit and run by hand), upgrade to a newer
# version, remove, purge. Checks the unit with systemd-analyze verify and security as well.
#   scripts/deb-test.sh BINARY      (as root; reuses an already-built guichet binary)
# Refuses to run where guichet is installed or /var/lib/guichet exists: it would touch them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
binary=${1:?usage: deb-test.sh BINARY}
[ "$(id -u)" -eq 0 ] || { echo "deb-test: needs root (dpkg -i)" >&2; exit 1; }
if dpkg-query -W -f='${Status}' guichet 2>/dev/null | grep -q installed || [ -e /var/lib/guichet ]; then
    echo "deb-test: guichet is installed here or /var/lib/guichet exists: not touching them" >&2
    exit 1
fi

work=$(mktemp -d /tmp/guichet-deb.XXXXXX)
daemon=""
cleanup() {
    [ -z "$daemon" ] || kill "$daemon" 2>/dev/null || true
    dpkg --purge guichet >/dev/null 2>&1 || true
    # The data this test made (there was none before it, checked above).
    rm -rf /var/lib/guichet "$work"
}
trap cleanup EXIT
fail() { echo "deb-test: FAILED: $*" >&2; exit 1; }
step() { echo "deb-test: $*"; }

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
old=$(scripts/deb.sh --binary "$binary" --version "$version" --out "$work")
new=$(scripts/deb.sh --binary "$binary" --version "$version+upgrade1" --out "$work")

step "install $old"
dpkg -i "$old" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i"; }
getent passwd guichet >/dev/null || fail "no user guichet"
[ "$(stat -c '%U:%G %a' /etc/guichet/guichet.toml)" = "root:guichet 640" ] || fail "config owner/mode: $(stat -c '%U:%G %a' /etc/guichet/guichet.toml)"
[ "$(stat -c '%U:%G' /var/lib/guichet)" = "guichet:guichet" ] || fail "/var/lib/guichet not the daemon's"
for doc in README.md config.example.toml; do
    [ -f /usr/share/doc/guichet/$doc ] || fail "no /usr/share/doc/guichet/$doc"
done
unit=/lib/systemd/system/guichet.service
systemd-analyze verify "$unit" || fail "systemd-analyze verify $unit"
# 2.0 is the highest exposure systemd-analyze still rates OK.
systemd-analyze security --offline=true --threshold=20 "$unit" >"$work/security.txt" || {
    cat "$work/security.txt"
    fail "the unit's exposure is above 2.0"
}
step "unit: $(tail -n 1 "$work/security.txt")"

step "edit the config"
sed -i 's/^support_address = .*/support_address = "desk@deb.example.test"/' /etc/guichet/guichet.toml
grep -q '^support_address = "desk@deb.example.test"' /etc/guichet/guichet.toml || fail "the example has no support_address line to edit"

# The daemon as the unit runs it: its user and group, its Environment, ExecStartPre and ExecStart.
user=$(sed -n 's/^User=//p' "$unit")
group=$(sed -n 's/^Group=//p' "$unit")
environment=$(sed -n 's/^Environment=//p' "$unit")
as_unit() {
    # shellcheck disable=SC2086
    setpriv --reuid="$user" --regid="$group" --init-groups env $environment "$@"
}
# shellcheck disable=SC2046
as_unit $(sed -n 's/^ExecStartPre=//p' "$unit") >"$work/check.txt" || fail "ExecStartPre: $(cat "$work/check.txt")"
grep -q "desk@deb.example.test" "$work/check.txt" || fail "the daemon does not read the edited config: $(cat "$work/check.txt")"
step "start the daemon as the unit would"
# A simple command, not the function, so that $! is the daemon itself.
# shellcheck disable=SC2046,SC2086
setpriv --reuid="$user" --regid="$group" --init-groups env $environment \
    $(sed -n 's/^ExecStart=//p' "$unit") >"$work/daemon.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do
    grep -q "guichet running" "$work/daemon.log" && break
    kill -0 "$daemon" 2>/dev/null || { cat "$work/daemon.log"; fail "the daemon exited"; }
    sleep 0.1
done
grep -q "guichet running" "$work/daemon.log" || { cat "$work/daemon.log"; fail "the daemon did not start"; }
printf 'From: Ann <ann@client.example.test>\r\nTo: desk@deb.example.test\r\nSubject: Printer on fire\r\nMessage-ID: <deb-test-1@client.example.test>\r\n\r\nThe printer is on fire.\r\n' \
    | as_unit /usr/bin/guichet ingest >"$work/ingest.txt" 2>&1 || fail "ingest: $(cat "$work/ingest.txt")"
# The pipe's command, as Postfix runs it: handed to the daemon.
printf 'From: Bob <bob@client.example.test>\r\nTo: desk@deb.example.test\r\nSubject: Scanner smokes\r\nMessage-ID: <deb-test-2@client.example.test>\r\n\r\nSmoke.\r\n' \
    | as_unit /usr/bin/guichet-deliver >"$work/deliver.txt" 2>&1 || fail "guichet-deliver: $(cat "$work/deliver.txt")"
as_unit /usr/bin/guichet status >"$work/status.txt" 2>&1 || true
grep -qi "running" "$work/status.txt" || fail "status does not see the daemon: $(cat "$work/status.txt")"
kill -TERM "$daemon"
wait "$daemon" || { cat "$work/daemon.log"; fail "the daemon did not exit 0 on SIGTERM"; }
daemon=""
as_unit /usr/bin/guichet tickets list >"$work/tickets.txt" || fail "tickets list"
grep -q "Printer on fire" "$work/tickets.txt" || fail "no ticket: $(cat "$work/tickets.txt")"
grep -q "Scanner smokes" "$work/tickets.txt" || fail "no ticket from guichet-deliver: $(cat "$work/tickets.txt")"

step "upgrade to $new"
dpkg -i "$new" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "upgrade"; }
[ "$(dpkg-query -W -f='${Version}' guichet)" = "$version+upgrade1" ] || fail "not upgraded"
grep -q '^support_address = "desk@deb.example.test"' /etc/guichet/guichet.toml || fail "the upgrade lost the edited config"
as_unit /usr/bin/guichet tickets list >"$work/tickets.txt" || fail "tickets list after the upgrade"
grep -q "Printer on fire" "$work/tickets.txt" || fail "the upgrade lost the data"

step "remove"
dpkg -r guichet >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -r"; }
[ ! -e /usr/bin/guichet ] && [ ! -e /usr/bin/guichet-deliver ] || fail "a binary is still there"
[ -f /var/lib/guichet/guichet.sqlite3 ] || fail "remove deleted the data"
grep -q '^support_address = "desk@deb.example.test"' /etc/guichet/guichet.toml || fail "remove deleted the config"

step "purge"
dpkg --purge guichet >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg --purge"; }
[ ! -e /etc/guichet/guichet.toml ] || fail "purge kept the config"
[ -f /var/lib/guichet/guichet.sqlite3 ] || fail "purge deleted the data"
getent passwd guichet >/dev/null || fail "purge removed the user"
step "ok"
