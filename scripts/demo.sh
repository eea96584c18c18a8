#!/usr/bin/env bash
# Runs Guichet for real on this machine: a private Postfix + Dovecot on 127.0.0.1 (scripts/mailstack.sh),
# Postfix piping mail for support@desk.example.test into `guichet ingest`, and the daemon sending
# acknowledgements back through Postfix into the requesters' Dovecot mailboxes.
#   scripts/demo.sh [start]   build, start everything, print how to send the first ticket
#   scripts/demo.sh stop      stop the daemon and the mail stack (the state is kept)
# State: GUICHET_DEMO_DIR (default /var/tmp/guichet-demo). Ports: the mail stack defaults (10025 SMTP,
# 10993 IMAPS, ...), or MAILSTACK_PORT_OFFSET.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
state=${GUICHET_DEMO_DIR:-/var/tmp/guichet-demo}
desk=$state/desk/support

if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "demo.sh: needs root (apt, Postfix, Dovecot)" >&2; exit 1; }
    exec sudo -E env "PATH=$PATH" bash "$0" "$@"
fi

stop_demo() {
    if [ -f "$state/guichet.pid" ]; then
        pid=$(cat "$state/guichet.pid")
        if kill -0 "$pid" 2>/dev/null && grep -q guichet "/proc/$pid/cmdline" 2>/dev/null; then
            kill -TERM "$pid"
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
        rm -f "$state/guichet.pid"
    fi
    [ -d "$state" ] && scripts/mailstack.sh stop "$state" || true
}

case "${1:-start}" in
    stop) stop_demo; echo "demo stopped; state kept in $state"; exit 0 ;;
    start) ;;
    *) echo "usage: $0 [start|stop]" >&2; exit 64 ;;
esac

command -v cargo >/dev/null || { echo "demo.sh: cargo not found: install Rust (https://rustup.rs)" >&2; exit 1; }
scripts/mailstack.sh install
cargo build --quiet --bin guichet
stop_demo
mkdir -p "$state"
install -d -m 755 "$state/bin"
install -m 755 target/debug/guichet "$state/bin/guichet"
GUICHET_BIN="$state/bin/guichet" scripts/mailstack.sh start "$state" >"$state/mailstack-start.log" 2>&1 || {
    cat "$state/mailstack-start.log" >&2; exit 1; }
# shellcheck disable=SC1091
. "$state/mailstack.env"

install -d -m 750 -o guichet -g guichet "$desk"
cat >"$desk/guichet.toml" <<TOML
# The demo's configuration; see config.example.toml for every key.
[general]
state_dir = "$desk/state"
support_address = "support@desk.example.test"
support_name = "Example Helpdesk"

[smtp]
host = "127.0.0.1"
port = $MAILSTACK_SMTP_PORT
security = "plain"

[outbox]
poll_interval_ms = 200
TOML
chown guichet:guichet "$desk/guichet.toml"
"$state/bin/guichet" --config "$desk/guichet.toml" check-config >/dev/null

setpriv --reuid=guichet --regid=guichet --init-groups -- \
    "$state/bin/guichet" --config "$desk/guichet.toml" run </dev/null >>"$state/guichet.log" 2>&1 &
echo $! >"$state/guichet.pid"
sleep 0.5
kill -0 "$(cat "$state/guichet.pid")" 2>/dev/null || { cat "$state/guichet.log" >&2; exit 1; }

g="$state/bin/guichet --config $desk/guichet.toml"
cat <<MSG
Guichet is running (pid $(cat "$state/guichet.pid"), log $state/guichet.log).
Mail for support@desk.example.test goes through Postfix into Guichet; mail for *@example.test
lands in Dovecot (IMAPS on 127.0.0.1:$MAILSTACK_IMAPS_PORT, CA $MAILSTACK_CA_CERT).

Send the first ticket:
  swaks --server 127.0.0.1:$MAILSTACK_SMTP_PORT --from user1@example.test --to support@desk.example.test \\
        --header 'Subject: Printer jammed on floor 2' --body 'Hello, the printer is jammed again. Thanks'
See it:
  $g tickets list
  $g tickets show 1
Read the acknowledgement in user1's mailbox (password user1-pw):
  doveadm -c $state/dovecot/dovecot.conf fetch -u user1@example.test 'hdr body' mailbox INBOX all
Reply to it, keeping [Helpdesk #1] in the subject, and it threads onto ticket #1:
  swaks --server 127.0.0.1:$MAILSTACK_SMTP_PORT --from user1@example.test --to support@desk.example.test \\
        --header 'Subject: Re: [Helpdesk #1] Printer jammed on floor 2' --body 'Still jammed.'
Stop everything: scripts/demo.sh stop
MSG
