#!/usr/bin/env bash
# Mail-flow benchmark for Guichet against a real Postfix + Dovecot on loopback.
#
#   bench/mailflow.sh [--connections N] [--latency-mails M] DIR      (as root)
#
# DIR is any directory of .eml files (e.g. from /work/shared/bench/gen_corpus.py).
#   (a) backlog drain: DIR/*.eml appended to an IMAP INBOX, `guichet run` drains it into tickets
#   (b) outbox drain: the queued acknowledgements sent over SMTP with N connections (default 8),
#       then the same mails sent by a plain smtplib client with N connections, as the baseline
#   (c) latency: M mails (default 200) sent one by one; SMTP 250 -> ticket -> acknowledgement
#       visible in the requester's INBOX; plus a bare-IDLE baseline
# A private stack runs in a temporary directory with MAILSTACK_PORT_OFFSET=3000 (ports 13025,
# 13993, ...) and is stopped on exit. See bench/MAILFLOW.md.
#
# Environment:
#   GUICHET_BIN       use this binary instead of building target/release/guichet
#   MAILFLOW_KEEP=1   keep the temporary directory (stores, configs, guichet logs, results.json)
#   MAILFLOW_PORT_OFFSET  port offset for the stack (default 3000)
set -euo pipefail
export LC_ALL=C

usage() {
    sed -n '2,19s/^# \{0,1\}//p' "$0" >&2
    exit "${1:-64}"
}

connections=8
latency=200
dir=""
while (($#)); do
    case "$1" in
        --connections) connections="${2:?--connections needs a number}"; shift 2 ;;
        --connections=*) connections="${1#*=}"; shift ;;
        --latency-mails) latency="${2:?--latency-mails needs a number}"; shift 2 ;;
        --latency-mails=*) latency="${1#*=}"; shift ;;
        -h|--help) usage 0 ;;
        -*) echo "mailflow.sh: unknown option $1" >&2; usage ;;
        *) [[ -z "$dir" ]] || { echo "mailflow.sh: only one DIR" >&2; usage; }; dir="$1"; shift ;;
    esac
done
[[ -n "$dir" ]] || usage
[[ -d "$dir" ]] || { echo "mailflow.sh: $dir is not a directory" >&2; exit 66; }
[[ "$connections" =~ ^[1-9][0-9]*$ ]] || { echo "mailflow.sh: --connections wants a number >= 1" >&2; exit 64; }
[[ "$latency" =~ ^[0-9]+$ ]] || { echo "mailflow.sh: --latency-mails wants a number" >&2; exit 64; }
[[ "$(id -u)" -eq 0 ]] || { echo "mailflow.sh: run as root (the mail stack needs it)" >&2; exit 77; }
command -v python3 >/dev/null || { echo "mailflow.sh: python3 is needed" >&2; exit 69; }

t_start=$(date +%s)
dir="$(cd "$dir" && pwd -P)"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
n_files=$(find "$dir" -maxdepth 1 -name '*.eml' -type f | wc -l)
((n_files > 0)) || { echo "mailflow.sh: no .eml files in $dir" >&2; exit 66; }

# ---------------------------------------------------------------------------- the binary ----
if [[ -n "${GUICHET_BIN:-}" ]]; then
    bin_src="$GUICHET_BIN"
else
    echo "building target/release/guichet ..."
    (cd "$root" && cargo build --release --quiet --bin guichet)
    bin_src="$root/target/release/guichet"
fi
[[ -x "$bin_src" ]] || { echo "mailflow.sh: no executable $bin_src" >&2; exit 69; }

# The stack's users (postfix, dovecot, mail) must be able to enter the directory: 0711.
tmp="$(mktemp -d "${TMPDIR:-/tmp}/mailflow.XXXXXX")"
chmod 711 "$tmp"
stack="$tmp/stack"
cleanup() {
    local rc=$?
    if [[ -d "$stack" ]]; then
        "$root/scripts/mailstack.sh" stop "$stack" > "$tmp/stack-stop.log" 2>&1 \
            || { echo "mailflow.sh: stopping the stack failed; see $tmp/stack-stop.log" >&2; MAILFLOW_KEEP=1; }
    fi
    if [[ "${MAILFLOW_KEEP:-0}" == 1 ]]; then
        echo "kept: $tmp" >&2
    else
        rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cp "$bin_src" "$tmp/guichet"
rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')
[[ -z "$(git -C "$root" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null)" ]] || rev="$rev + uncommitted src changes"
echo "guichet: $("$tmp/guichet" --version 2>/dev/null || echo '?') (commit $rev; $bin_src, copied to $tmp)"

# ---------------------------------------------------------------------------- the stack ----
domains=$(python3 "$root/bench/mailflow.py" domains "$dir")
n_domains=$(wc -w <<< "$domains")
echo "corpus: $n_files .eml files in $dir; $n_domains sender domains served by the stack besides example.test"
t_stack=$(date +%s%N)
MAILSTACK_PORT_OFFSET="${MAILFLOW_PORT_OFFSET:-3000}" \
MAILSTACK_DOMAINS="example.test $domains" \
GUICHET_BIN="$tmp/guichet" \
    "$root/scripts/mailstack.sh" start "$stack" > "$tmp/stack-start.log" 2>&1 \
    || { cat "$tmp/stack-start.log" >&2; echo "mailflow.sh: the mail stack did not start" >&2; exit 1; }
echo "mail stack up in $(( ($(date +%s%N) - t_stack) / 1000000 )) ms: $(grep -E '^  (SMTP|IMAPS) ' "$tmp/stack-start.log" | awk '{print $1, $2}' | paste -sd, -)"
echo

python3 "$root/bench/mailflow.py" run --bin "$tmp/guichet" --work "$tmp" --stack "$stack" \
    --dir "$dir" --connections "$connections" --latency-mails "$latency"
echo "wall time of mailflow.sh: $(( $(date +%s) - t_start )) s (build, stack start and stop included)"
