#!/usr/bin/env bash
# Checks the README's first command: scripts/demo.sh starts, its tour goes round by mail over the real
# Postfix and Dovecot, and a mistyped address of the desk's domain is refused without reaching Guichet.
#   scripts/demo-test.sh [GUICHET_BINARY]   (as root; scripts/test.sh runs it with the whole suite)
# The demo runs in its own state dir, on ports MAILSTACK_PORT_OFFSET (default 2000) + 100, so it
# clashes neither with the test suite's stack nor with a demo on the default ports.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ "$(id -u)" -eq 0 ] || { echo "demo-test.sh: run as root (it starts a mail stack)" >&2; exit 1; }
bin=$(realpath "${1:-target/debug/guichet}")
[ -x "$bin" ] || { echo "demo-test.sh: no binary $bin (cargo build --bins)" >&2; exit 1; }

state=$(mktemp -d /tmp/guichet-demo-test.XXXXXX)
export GUICHET_DEMO_DIR=$state GUICHET_BIN=$bin
export MAILSTACK_PORT_OFFSET=$((${MAILSTACK_PORT_OFFSET:-2000} + 100))
cleanup() {
    bash scripts/demo.sh stop >/dev/null 2>&1 || true
    rm -rf "$state"
}
trap cleanup EXIT
fail() {
    echo "demo-test.sh: FAILED: $*" >&2
    tail -n 20 "$state/guichet.log" >&2 2>/dev/null || true
    exit 1
}

bash scripts/demo.sh start >"$state/start.out" 2>&1 || { cat "$state/start.out" >&2; fail "demo.sh start"; }
for person in user1@example.test tina@example.test alice@example.test bob@example.test vendor@example.test; do
    grep -q "^  $person " "$state/start.out" || fail "demo.sh start does not introduce $person"
done
grep -Eq '^  alice@example.test +alice-pw +agent \(alice\) +[0-9a-f]{8}$' "$state/start.out" ||
    fail "alice's login, password and token are not printed"
grep -q "demo.sh send tina@example.test 'Re: \[Helpdesk #1\] New ticket: Printer jammed' '#token [0-9a-f]*' '#assign alice'" \
    "$state/start.out" || fail "the printed tour lacks the triager's #assign"

bash scripts/demo.sh tour >"$state/tour.out" 2>&1 || { cat "$state/tour.out" >&2; fail "demo.sh tour"; }

# What the tour says arrived, read again from Dovecot and from the store.
# shellcheck disable=SC1091
. "$state/mailstack.env"
count() { # ADDRESS SUBJECT-PART [BODY-PART]
    local query=(subject "$2")
    [ -z "${3:-}" ] || query+=(body "$3")
    doveadm -c "$MAILSTACK_DOVECOT_CONFIG" search -u "$1" mailbox INBOX "${query[@]}" 2>/dev/null | wc -l
}
expect() { # ADDRESS WHAT SUBJECT-PART [BODY-PART]
    [ "$(count "$1" "$3" "${4:-}")" -eq 1 ] || fail "$2 is not in $1's mailbox (tour output: $(cat "$state/tour.out"))"
}
expect user1@example.test "the acknowledgement" "[Helpdesk #1] Printer jammed (tour" "opened ticket #1"
expect tina@example.test "the new-ticket notice" "[Helpdesk #1] New ticket:"
expect alice@example.test "the assignment notice" "[Helpdesk #1] Assigned to you:"
expect user1@example.test "alice's answer" "[Helpdesk #1]" "on my way with a new roller"
expect vendor@example.test "the escalation notice" "[Helpdesk #1] Escalated to level 4:" "the roller keeps slipping"
expect user1@example.test "the vendor's answer" "[Helpdesk #1]" "firmware 4.2.1"
expect user1@example.test "the resolution notice" "[Helpdesk #1] Resolved:" "firmware updated"
[ "$(count bob@example.test "[Helpdesk #1]")" -eq 0 ] || fail "bob, who has nothing to do with the ticket, got mail"

guichet=("$state/bin/guichet" --config "$state/desk/support/guichet.toml")
tickets=$("${guichet[@]}" tickets list)
[ "$(echo "$tickets" | grep -c '^ *#')" -eq 1 ] || fail "one ticket expected: $tickets"
echo "$tickets" | grep -Eq '^ *#1 +resolved +normal +L4 ' || fail "ticket #1 is not resolved at level 4: $tickets"
# Read whole before grep: `grep -q` leaves at its first match, and under pipefail the writer it
# left (killed by SIGPIPE, as git would be) failed the check.
trail=$("${guichet[@]}" tickets show 1)
grep -q 'command_applied .*tina@example.test .*#assign alice' <<<"$trail" ||
    fail "the triager's #assign is not in the audit trail"

# The mistyped address: refused at RCPT, with no server path in the reply, and never piped.
refusal=$(grep -- '-> refused:' "$state/tour.out") || fail "the tour shows no refusal"
[[ "$refusal" == *"550 5.1.1 <suport@desk.example.test>"*"User unknown"* ]] || fail "not a clean user-unknown: $refusal"
[[ "$refusal" != *"/"* ]] || fail "the refusal shows a path: $refusal"
! grep -q 'to=<suport@desk.example.test>.*relay=guichet' "$state/logs/postfix.log" ||
    fail "mail to the mistyped address reached the guichet pipe"
! ls "$state/desk" | grep -qv '^support$' || fail "something else than support/ appeared in $state/desk"

echo "demo-test.sh: ok (demo started, tour went round, mistyped address refused)"
