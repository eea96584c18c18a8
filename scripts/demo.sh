#!/usr/bin/env bash
# Runs Guichet for real on this machine: a private Postfix + Dovecot on 127.0.0.1 (scripts/mailstack.sh),
# Postfix piping mail for support@desk.example.test (and nothing else of that domain) into
# `guichet ingest`, and the daemon mailing a triager, two agents and a vendor who work the tickets by
# replying with commands. Everyone's mail lands in Dovecot, readable over IMAPS.
#   scripts/demo.sh [start]                       build, start everything, print the people and a tour
#   scripts/demo.sh send [--to ADDR] FROM SUBJECT [LINE...]   mail support@ (or ADDR), one LINE a line
#   scripts/demo.sh mailbox ADDRESS                list what landed in a mailbox
#   scripts/demo.sh tour                           play the tour, showing where each mail landed
#   scripts/demo.sh stop                           stop the daemon and the mail stack (the state is kept)
# State: GUICHET_DEMO_DIR (default /var/tmp/guichet-demo). Ports: the mail stack defaults (10025 SMTP,
# 10993 IMAPS, ...), or MAILSTACK_PORT_OFFSET. GUICHET_BIN: a built binary to use instead of building.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
state=${GUICHET_DEMO_DIR:-/var/tmp/guichet-demo}
desk=$state/desk/support
support=support@desk.example.test
requester=user1@example.test
# name|role|address|levels|display name: the staff in the demo's config. IMAP passwords: LOCALPART-pw.
staff=(
    "tina|triager|tina@example.test|1,2,3|Tina Triage"
    "alice|agent|alice@example.test|1,2,3|Alice Durand"
    "bob|agent|bob@example.test|1,2,3|Bob Martin"
    "acme|agent|vendor@example.test|4|ACME Support"
)
wait_secs=30

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

load_env() { # the running stack's ports and paths
    [ -f "$state/mailstack.env" ] || { echo "demo.sh: the demo is not running (start it: scripts/demo.sh)" >&2; exit 1; }
    # shellcheck disable=SC1091
    . "$state/mailstack.env"
}

token_of() { cat "$desk/tokens/$1"; }

send() { # [--to ADDR] FROM SUBJECT [LINE...]
    local to=$support
    if [ "${1:-}" = --to ]; then to=$2; shift 2; fi
    [ $# -ge 2 ] || { echo "usage: $0 send [--to ADDRESS] FROM SUBJECT [LINE...]" >&2; exit 64; }
    local from=$1 subject=$2
    shift 2
    load_env
    swaks --silent 1 --server "127.0.0.1:$MAILSTACK_SMTP_PORT" --from "$from" --to "$to" \
        --header "Subject: $subject" --body "$(printf '%s\n' "$@")"
}

doveadm_() { doveadm -c "$MAILSTACK_DOVECOT_CONFIG" "$@"; }

mailbox() { # ADDRESS [DOVEADM-SEARCH-QUERY...]: "From<TAB>Subject", one line a mail, oldest first
    local address=$1
    shift
    [ $# -gt 0 ] || set -- all
    load_env
    doveadm_ -f tab fetch -u "$address" 'hdr.from.utf8 hdr.subject.utf8' mailbox INBOX "$@" 2>/dev/null |
        tail -n +2 | sed 's/^/    /'
}

wait_mail() { # ADDRESS WHAT DOVEADM-SEARCH-QUERY...: waits until a mail matching it has landed
    local address=$1 what=$2 i
    shift 2
    load_env
    for i in $(seq $((wait_secs * 5))); do
        if [ -n "$(doveadm_ search -u "$address" mailbox INBOX "$@" 2>/dev/null)" ]; then
            echo "  -> $what: in $address's mailbox"
            return 0
        fi
        sleep 0.2
    done
    echo "demo.sh: tour: no $what in $address's mailbox after ${wait_secs} s (log: $state/guichet.log)" >&2
    exit 1
}

tour() {
    load_env
    local topic="Printer jammed (tour $(date +%H:%M:%S))" number tag
    echo "1. $requester opens a ticket"
    send "$requester" "$topic" "Hello, the printer on floor 2 is jammed again. Thanks"
    wait_mail "$requester" "acknowledgement" subject "$topic"
    number=$(doveadm_ -f tab fetch -u "$requester" hdr.subject mailbox INBOX subject "$topic" |
        grep -o '\[Helpdesk #[0-9]*\]' | head -n 1 | tr -dc 0-9)
    tag="[Helpdesk #$number]"
    wait_mail tina@example.test "new-ticket notice" subject "$tag New ticket"
    echo "2. tina, the triager, assigns it to alice by replying"
    send tina@example.test "Re: $tag New ticket: $topic" "#token $(token_of tina)" "#assign alice"
    wait_mail alice@example.test "assignment notice" subject "$tag Assigned to you"
    echo "3. alice answers the requester"
    send alice@example.test "Re: $tag Assigned to you: $topic" "#token $(token_of alice)" \
        "Hello, I am on my way with a new roller."
    wait_mail "$requester" "alice's answer" subject "$tag" body "on my way with a new roller"
    echo "4. alice escalates to the vendor (level 4)"
    send alice@example.test "Re: $tag $topic" "#token $(token_of alice)" \
        "#escalate the roller keeps slipping, firmware?"
    wait_mail vendor@example.test "escalation notice" subject "$tag Escalated to level 4"
    echo "5. the vendor answers"
    send vendor@example.test "Re: $tag Escalated to level 4: $topic" "#token $(token_of acme)" \
        "Please install firmware 4.2.1, it fixes the roller timing."
    wait_mail "$requester" "the vendor's answer" subject "$tag" body "firmware 4.2.1"
    echo "6. alice resolves it"
    send alice@example.test "Re: $tag $topic" "#token $(token_of alice)" "#resolve firmware updated"
    wait_mail "$requester" "resolution notice" subject "$tag Resolved"
    echo "7. a mistyped address of the desk's domain is refused, and reaches no Guichet"
    if send --to suport@desk.example.test "$requester" "Typo" "Hello?" >"$state/typo.log" 2>&1; then
        echo "demo.sh: tour: mail to suport@desk.example.test was accepted" >&2
        exit 1
    fi
    echo "  -> refused: $(grep -o '5[0-9][0-9] 5\.1\.1 .*' "$state/typo.log" | head -n 1)"
    echo
    echo "Where the mail of ticket #$number landed (From, Subject):"
    local address
    for address in "$requester" tina@example.test alice@example.test bob@example.test vendor@example.test; do
        echo "  $address"
        mailbox "$address" subject "$tag"
    done
    echo "The ticket, its mail and its audit trail:"
    echo "  $state/bin/guichet --config $desk/guichet.toml tickets show $number"
}

write_tokens() { # one secret a person, made once and kept with the state
    install -d -m 750 -o guichet -g guichet "$desk/tokens"
    local person name
    for person in "${staff[@]}"; do
        name=${person%%|*}
        if [ ! -s "$desk/tokens/$name" ]; then
            (umask 027 && openssl rand -hex 4 >"$desk/tokens/$name")
        fi
        chown guichet:guichet "$desk/tokens/$name"
    done
}

write_config() {
    local person name role address levels display
    cat >"$desk/guichet.toml" <<TOML
# The demo's configuration; see config.example.toml for every key.
[general]
state_dir = "$desk/state"
support_address = "$support"
support_name = "Example Helpdesk"
default_level = 3   # the demo's tickets start with the specialists: one #escalate reaches the vendor

[smtp]
host = "127.0.0.1"
port = $MAILSTACK_SMTP_PORT
security = "plain"

[outbox]
poll_interval_ms = 200

# The demo's MTA signs nothing (no DKIM, no Authentication-Results): staff prove who they are with
# a "#token SECRET" line in each mail.
[commands]
trust = "token"

[[queue]]
name = "general"
triagers = ["tina@example.test"]
TOML
    for person in "${staff[@]}"; do
        IFS='|' read -r name role address levels display <<<"$person"
        cat >>"$desk/guichet.toml" <<TOML

[[agent]]
name = "$name"
display_name = "$display"
addresses = ["$address"]
role = "$role"
levels = [${levels//,/, }]
token_file = "$desk/tokens/$name"
TOML
    done
    chown guichet:guichet "$desk/guichet.toml"
}

start_demo() {
    command -v cargo >/dev/null || [ -n "${GUICHET_BIN:-}" ] ||
        { echo "demo.sh: cargo not found: install Rust (https://rustup.rs)" >&2; exit 1; }
    scripts/mailstack.sh install
    local bin=${GUICHET_BIN:-}
    if [ -z "$bin" ]; then
        cargo build --quiet --bins
        bin=target/debug/guichet
    fi
    stop_demo
    mkdir -p "$state"
    install -d -m 755 "$state/bin"
    install -m 755 "$bin" "$state/bin/guichet"
    # The pipe's command, built beside it.
    install -m 755 "$(dirname -- "$bin")/guichet-deliver" "$state/bin/guichet-deliver"
    local users="$requester:user1-pw" person name address
    for person in "${staff[@]}"; do
        IFS='|' read -r name _ address _ <<<"$person"
        users="$users $address:${address%%@*}-pw"
    done
    # Only the support address is Guichet's: a mistyped one is refused as unknown.
    GUICHET_BIN="$state/bin/guichet" MAILSTACK_USERS="$users" MAILSTACK_PIPE_RECIPIENTS=support \
        scripts/mailstack.sh start "$state" >"$state/mailstack-start.log" 2>&1 || {
        cat "$state/mailstack-start.log" >&2; exit 1; }
    load_env

    install -d -m 750 -o guichet -g guichet "$desk"
    write_tokens
    write_config
    "$state/bin/guichet" --config "$desk/guichet.toml" check-config >/dev/null

    setpriv --reuid=guichet --regid=guichet --init-groups -- \
        "$state/bin/guichet" --config "$desk/guichet.toml" run </dev/null >>"$state/guichet.log" 2>&1 &
    echo $! >"$state/guichet.pid"
    sleep 0.5
    kill -0 "$(cat "$state/guichet.pid")" 2>/dev/null || { cat "$state/guichet.log" >&2; exit 1; }
    print_guide
}

print_guide() {
    local g="$state/bin/guichet --config $desk/guichet.toml" d=scripts/demo.sh person name role address
    [ -z "${GUICHET_DEMO_DIR:-}" ] || d="GUICHET_DEMO_DIR=$state $d"
    cat <<MSG
Guichet is running (pid $(cat "$state/guichet.pid"), log $state/guichet.log, config $desk/guichet.toml).
Postfix pipes mail for $support into Guichet; any other address @desk.example.test is refused
as unknown. Mail for *@example.test lands in Dovecot: IMAPS on 127.0.0.1:$MAILSTACK_IMAPS_PORT (CA
$MAILSTACK_CA_CERT), IMAP on 127.0.0.1:$MAILSTACK_IMAP_PORT, SMTP (no auth) on 127.0.0.1:$MAILSTACK_SMTP_PORT.

Who is who (IMAP login = the address). Staff command by replying with "#token SECRET" on a line,
then commands (#assign NAME, #escalate WHY, #resolve, #help, ...) at the top of the mail:
  ADDRESS                 PASSWORD    ROLE                    TOKEN
  $(printf '%-23s %-11s %-23s %s' "$requester" user1-pw "requester" "-")
MSG
    for person in "${staff[@]}"; do
        IFS='|' read -r name role address _ <<<"$person"
        case $name in acme) role="vendor (level 4)" ;; tina) role="triager" ;; *) role="agent ($name)" ;; esac
        printf '  %-23s %-11s %-23s %s\n' "$address" "${address%%@*}-pw" "$role" "$(token_of "$name")"
    done
    cat <<MSG

The tour (or run it all at once: $d tour). Each step mails support@; see the result with
"$d mailbox ADDRESS" and "$g tickets show 1":
  1. a requester opens a ticket; the triager gets a new-ticket notice:
     $d send $requester 'Printer jammed' 'The printer on floor 2 is jammed.'
  2. the triager assigns it to alice by a reply keeping the tag ([Helpdesk #1] on a fresh state;
     "$g tickets list" shows the numbers); alice is told:
     $d send tina@example.test 'Re: [Helpdesk #1] New ticket: Printer jammed' '#token $(token_of tina)' '#assign alice'
  3. alice answers; the requester gets it from the support address, under alice's name:
     $d send alice@example.test 'Re: [Helpdesk #1] Printer jammed' '#token $(token_of alice)' 'I am on my way.'
  4. alice escalates to the vendor (level 4), who gets the public history and the reason:
     $d send alice@example.test 'Re: [Helpdesk #1] Printer jammed' '#token $(token_of alice)' '#escalate firmware?'
  5. the vendor answers; the requester gets it:
     $d send vendor@example.test 'Re: [Helpdesk #1] Printer jammed' '#token $(token_of acme)' 'Install firmware 4.2.1.'
  6. alice resolves it; the requester is told a reply reopens it:
     $d send alice@example.test 'Re: [Helpdesk #1] Printer jammed' '#token $(token_of alice)' '#resolve firmware updated'
  A mistyped address is refused at once ("550 5.1.1 ... User unknown"):
     $d send --to suport@desk.example.test $requester 'Hello' 'Anyone?'
Read a whole mailbox: doveadm -c $MAILSTACK_DOVECOT_CONFIG fetch -u alice@example.test text mailbox INBOX all
Stop everything: $d stop
MSG
}

case "${1:-start}" in
    start) start_demo ;;
    stop) stop_demo; echo "demo stopped; state kept in $state" ;;
    send) shift; send "$@" ;;
    mailbox) [ $# -eq 2 ] || { echo "usage: $0 mailbox ADDRESS" >&2; exit 64; }; mailbox "$2" ;;
    tour) tour ;;
    *) echo "usage: $0 [start|stop|tour|send|mailbox]" >&2; exit 64 ;;
esac
