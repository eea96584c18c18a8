#!/usr/bin/env bash
# Ingestion benchmark for Guichet: how fast a directory of .eml files gets into the store with
# acknowledgements queued (no [smtp] table: the outbox only fills up, nothing is sent).
#
#   bench/ingest.sh [--per-process N] [--parallel P] [--beside-daemon] DIR
#
# Mode A: one `guichet ingest FILE...` process for all DIR/*.eml (sorted by name).
# Mode B: one `guichet-deliver < FILE` process per mail, as an MTA pipe runs it (README), for the
#         first N files (default all; 0 skips mode B): sequentially, then P at a time (default 4).
#         Beside it, the floor program does the least a delivery can. With --beside-daemon,
#         `guichet run` runs meanwhile, as in a real pipe setup (it sends the outbox, and each
#         delivery hands its mail to it over the state directory's socket; without it, each
#         runs `guichet ingest`, which stores the mail), and a connection holds the floor's
#         database open likewise.
# Every run starts from a fresh state directory. If DIR/manifest.json exists (written by
# gen_corpus.py) the stores are checked against it; see bench/README.md.
#
# Environment:
#   GUICHET_BIN        use this binary instead of building target/release/guichet (and the
#                      guichet-deliver beside it)
#   BENCH_PIPE=ingest  mode B runs `guichet ingest < FILE` instead of guichet-deliver
#   FLOOR_BIN          the floor program (examples/ingest_floor.rs) instead of building it
#   BENCH_TAG_PREFIX   general.tag_prefix (default "Helpdesk")
#   BENCH_FIRST_ID     general.first_ticket_number (default: the manifest's first_id, else 1)
#   BENCH_KEEP=1       keep the temporary directory (stores, configs, logs) and print its path
#   TMPDIR             where the temporary directory goes
set -euo pipefail
export LC_ALL=C

usage() {
    sed -n '2,19s/^# \{0,1\}//p' "$0" >&2
    exit "${1:-64}"
}

per_process=""
parallel=4
beside_daemon=0
dir=""
while (($#)); do
    case "$1" in
        --per-process) per_process="${2:?--per-process needs a number}"; shift 2 ;;
        --per-process=*) per_process="${1#*=}"; shift ;;
        --parallel) parallel="${2:?--parallel needs a number}"; shift 2 ;;
        --parallel=*) parallel="${1#*=}"; shift ;;
        --beside-daemon) beside_daemon=1; shift ;;
        -h|--help) usage 0 ;;
        --) shift; dir="${1:-}"; shift || true ;;
        -*) echo "ingest.sh: unknown option $1" >&2; usage ;;
        *) [[ -z "$dir" ]] || { echo "ingest.sh: only one DIR" >&2; usage; }; dir="$1"; shift ;;
    esac
done
[[ -n "$dir" ]] || usage
[[ -d "$dir" ]] || { echo "ingest.sh: $dir is not a directory" >&2; exit 66; }
[[ -z "$per_process" || "$per_process" =~ ^[0-9]+$ ]] || { echo "ingest.sh: --per-process wants a number" >&2; exit 64; }
[[ "$parallel" =~ ^[1-9][0-9]*$ ]] || { echo "ingest.sh: --parallel wants a number >= 1" >&2; exit 64; }
command -v python3 >/dev/null || { echo "ingest.sh: python3 is needed" >&2; exit 69; }

dir="$(cd "$dir" && pwd -P)"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
manifest="$dir/manifest.json"
[[ -f "$manifest" ]] || manifest=""

# ---------------------------------------------------------------------------------------------
# Scratch space, the binary, the file list
# ---------------------------------------------------------------------------------------------
tmp="$(mktemp -d "${TMPDIR:-/tmp}/guichet-bench.XXXXXX")"
cleanup() {
    if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
        echo "kept: $tmp" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT

if [[ -n "${GUICHET_BIN:-}" ]]; then
    src_bin="$GUICHET_BIN"
else
    echo "building target/release/guichet ..." >&2
    (cd "$root" && cargo build --release --quiet --bins)
    src_bin="$root/target/release/guichet"
fi
src_deliver="$(dirname "$src_bin")/guichet-deliver"
[[ -x "$src_bin" ]] || { echo "ingest.sh: $src_bin is not executable" >&2; exit 69; }
[[ -x "$src_deliver" ]] || { echo "ingest.sh: no guichet-deliver beside $src_bin" >&2; exit 69; }
# Private copies, side by side as installed: a rebuild in the work tree during the run must not
# swap a binary under us.
bin="$tmp/guichet"
deliver="$tmp/guichet-deliver"
cp "$src_bin" "$bin"
cp "$src_deliver" "$deliver"
# The floor of one delivery (examples/ingest_floor.rs): read the mail, insert it raw into SQLite
# in WAL mode with synchronous=FULL, commit, exit. Mode B runs it in the same loop.
if [[ -n "${FLOOR_BIN:-}" ]]; then
    src_floor="$FLOOR_BIN"
else
    (cd "$root" && cargo build --release --quiet --example ingest_floor)
    src_floor="$root/target/release/examples/ingest_floor"
fi
floor_bin="$tmp/ingest_floor"
cp "$src_floor" "$floor_bin"

export GUICHET_LOG=warn
unset GUICHET_CONFIG

# Sorted by name, NUL-separated, names relative to DIR (short argv: 20k names are ~300 KB).
(cd "$dir" && find . -maxdepth 1 -type f -name '*.eml' -printf '%f\0' | LC_ALL=C sort -z) >"$tmp/files.all"
total=$(tr -cd '\0' <"$tmp/files.all" | wc -c)
((total > 0)) || { echo "ingest.sh: no .eml files in $dir" >&2; exit 66; }
total_bytes=$(cd "$dir" && xargs -0 cat -- <"$tmp/files.all" | wc -c)
n_pp=${per_process:-$total}
((n_pp <= total)) || n_pp=$total
# The first n_pp names.
python3 - "$tmp/files.all" "$n_pp" >"$tmp/files.pp" <<'PY'
import sys
names = open(sys.argv[1], "rb").read().split(b"\0")[:-1]
sys.stdout.buffer.write(b"".join(n + b"\0" for n in names[: int(sys.argv[2])]))
PY

tag_prefix="${BENCH_TAG_PREFIX:-Helpdesk}"
first_id="${BENCH_FIRST_ID:-}"
if [[ -z "$first_id" ]]; then
    first_id=1
    if [[ -n "$manifest" ]]; then
        first_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("first_id", 1))' "$manifest")
    fi
fi

# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------
# Peak RSS: GNU time's %M is the child's ru_maxrss, which Linux takes as the maximum over the
# child and every descendant it waited for, so wrapping a driver (xargs, sh) gives the largest
# single process. (getrusage from python3 would not do: a child forked from python counts
# python's own pages until it execs.) Without GNU time, a python3 poller reads VmHWM of the
# command and its descendants from /proc every 10 ms: exact for one long process, a sample for
# thousands of short ones, and it takes some CPU itself.
if command -v /usr/bin/time >/dev/null && /usr/bin/time -f %M true >/dev/null 2>&1; then
    rss_tool="GNU time"
    measure() { # measure RSS_FILE CMD... : runs CMD, writes its peak RSS (KiB) to RSS_FILE
        local out="$1"; shift
        /usr/bin/time -f %M -o "$out" "$@"
    }
else
    rss_tool="polling /proc VmHWM (approximate; apt-get install time for GNU time)"
    measure() {
        local out="$1"; shift
        python3 -c '
import os, subprocess, sys, time
child = subprocess.Popen(sys.argv[2:])
peak = 0
def scan():
    global peak
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    todo, seen = [child.pid], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo += [c for c, pp in parent.items() if pp == pid]
        try:
            with open("/proc/%d/status" % pid) as f:
                st = f.read()
        except OSError:
            continue
        if "\nName:\tpython" in "\n" + st:   # a fork of this poller before its exec
            continue
        for line in st.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
while child.poll() is None:
    scan()
    time.sleep(0.01)
open(sys.argv[1], "w").write("%d\n" % peak)
sys.exit(child.returncode)' "$out" "$@"
    }
fi

now() { echo "$EPOCHREALTIME"; }
secs() { python3 -c 'import sys; print("%.3f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$1" "$2"; }
rate() { python3 -c 'import sys; n, s = int(sys.argv[1]), float(sys.argv[2]); print("%.0f" % (n / s) if s > 0 else "inf")' "$1" "$2"; }
mib() { python3 -c 'import sys; print("%.1f" % (int(sys.argv[1]) / 1024))' "$1"; }
last_rss() { tail -n 1 "$1" | tr -dc '0-9'; }

make_config() { # make_config NAME -> prints the config path; state in $tmp/NAME/state
    local base="$tmp/$1"
    mkdir -p "$base"
    cat >"$base/guichet.toml" <<EOF
[general]
state_dir = "$base/state"
support_address = "support@desk.example.test"
tag_prefix = "$tag_prefix"
first_ticket_number = $first_id

[loop_protection]
# The corpus has repeat senders and arrives in seconds: we measure, not throttle.
max_auto_replies_per_hour = 1000000
max_new_ticket_notices_per_sender_per_hour = 1000000
max_automatic_mails_per_ticket_per_hour = 1000000
max_automatic_mails_per_hour = 1000000
EOF
    echo "$base/guichet.toml"
}

# The per-mail driver: xargs runs `sh -c` per file, whose only job is the stdin redirection (an
# MTA's pipe transport does that itself) and noting a failing file with its exit status.
# shellcheck disable=SC2016
if [[ "${BENCH_PIPE:-deliver}" == ingest ]]; then
    pipe_command="guichet ingest"
    driver='"$0" --config "$1" ingest < "$3" || echo "$? $3" >>"$2"'
    pipe_bin="$bin"
else
    pipe_command="guichet-deliver"
    driver='"$0" --config "$1" < "$3" || echo "$? $3" >>"$2"'
    pipe_bin="$deliver"
fi

# The drivers' own peak RSS, to tell whether a figure is Guichet's.
printf '%s\0' /dev/null | measure "$tmp/driver.rss" xargs -0 -n 1 sh -c "$driver" /bin/true x "$tmp/x.fail" || true
driver_kib=$(last_rss "$tmp/driver.rss")

rows=()   # "mails|mode|wall|rate|rss" for the summary table
verify_failed=0
tempfails=0

verify() { # verify DB KIND N [COUNTS_JSON]: KIND strict (manifest) or counts
    python3 - "$1" "$2" "$3" "$manifest" "$tmp/files.all" "${4:-}" <<'PY'
import json, sqlite3, sys
db_path, kind, n, manifest_path, files_path, counts_json = sys.argv[1:7]
n = int(n)
names = [x.decode() for x in open(files_path, "rb").read().split(b"\0")[:-1]][:n]
db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True)
q = lambda sql, *a: db.execute(sql, a).fetchall()
tickets = q("SELECT count(*) FROM tickets")[0][0]
inbound = q("SELECT count(*) FROM messages WHERE direction = 'in'")[0][0]
quarantined = q("SELECT count(*) FROM quarantine")[0][0]
acks = q("SELECT count(*) FROM messages m JOIN outbox o ON o.message = m.id "
         "WHERE m.direction = 'out' AND m.kind = 'acknowledgement'")[0][0]
outbox = q("SELECT count(*) FROM outbox")[0][0]
print("  store: %d tickets, %d follow-ups, %d quarantined, %d inbound messages, "
      "%d outbox rows (%d acknowledgements)" % (tickets, inbound - tickets, quarantined,
                                                 inbound, outbox, acks))
passed, failed, examples = 0, 0, {}

def check(ok, category, detail):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        examples.setdefault(category, []).append(detail)

if kind != "strict" or not manifest_path:
    # Every mail made a ticket, joined one, or was quarantined; duplicates store nothing.
    ref = json.loads(counts_json) if counts_json else None
    if ref and ref.get("files") == n:
        # The same files as mode A: the same number of mails must be stored and quarantined.
        check(inbound + quarantined == ref["new"] + ref["follow_ups"] + ref["quarantined"],
              "count", "tickets %d + follow-ups %d + quarantined %d, mode A: %d + %d + %d "
              "(and %d duplicates)" % (tickets, inbound - tickets, quarantined, ref["new"],
                                       ref["follow_ups"], ref["quarantined"], ref["duplicates"]))
        check(ref["new"] + ref["follow_ups"] + ref["quarantined"] + ref["duplicates"] == n,
              "count", "mode A summary: %d + %d + %d + %d duplicates != %d files"
              % (ref["new"], ref["follow_ups"], ref["quarantined"], ref["duplicates"], n))
        if kind == "counts_self":
            check(tickets == ref["new"] and inbound - tickets == ref["follow_ups"], "count",
                  "store has %d tickets + %d follow-ups, guichet reported %d + %d"
                  % (tickets, inbound - tickets, ref["new"], ref["follow_ups"]))
    elif ref and ref.get("duplicates"):
        print("  info: tickets %d + follow-ups %d + quarantined %d for %d files (the corpus has "
              "duplicates, not checked)" % (tickets, inbound - tickets, quarantined, n))
    else:
        check(inbound + quarantined == n, "count",
              "tickets %d + follow-ups %d + quarantined %d != %d files"
              % (tickets, inbound - tickets, quarantined, n))
    if manifest_path:
        # Not failures: the corpus's tags carry the numbers a sequential run gives, and the tag
        # wins over In-Reply-To/References, so in a parallel run a reply follows the number in
        # its tag even when that number went to another request.
        m = json.load(open(manifest_path))
        by_file = {f["file"]: f for f in m["files"]}
        entries = [by_file[x] for x in names if x in by_file]
        want = sum(1 for e in entries if e["kind"] != "reply")
        stored = dict(q("SELECT message_id, ticket FROM messages WHERE direction = 'in'"))
        where = lambda e: stored.get(e["message_id"].strip().strip("<>"))
        request_ticket = {e["ticket"]: where(e) for e in entries if e["kind"] != "reply"}
        replies = [e for e in entries if e["kind"] == "reply"]
        same = sum(1 for e in replies if where(e) is not None
                   and where(e) == request_ticket.get(e["ticket"]))
        renumbered = sum(1 for k, v in request_ticket.items() if k != v)
        print("  info: %d tickets (sequential: %d); %d of %d requests got another number than in "
              "file order; %d of %d replies are on their request's ticket"
              % (tickets, want, renumbered, len(request_ticket), same, len(replies)))
else:
    m = json.load(open(manifest_path))
    by_file = {f["file"]: f for f in m["files"]}
    entries = [by_file[x] for x in names if x in by_file]
    missing_entries = [x for x in names if x not in by_file]
    for x in missing_entries[:3]:
        print("  note: %s is not in the manifest" % x)
    automatic = lambda e: bool(e.get("automatic") or e.get("auto")) or e.get("kind") in (
        "auto", "automatic", "auto_reply", "bounce")
    stored = {mid: (t, subj) for mid, t, subj in q(
        "SELECT message_id, ticket, subject FROM messages WHERE direction = 'in'")}
    # 1. each Message-ID on the ticket the manifest names
    for e in entries:
        mid = e["message_id"].strip().strip("<>")
        got = stored.get(mid)
        if got is None:
            check(False, "message on ticket", "%s (%s): Message-ID <%s> expected on #%s, not stored "
                  "as an inbound message" % (e["file"], e["kind"], mid, e["ticket"]))
        else:
            check(got[0] == e["ticket"], "message on ticket",
                  "%s (%s): expected ticket #%s, stored on #%s; subject %r"
                  % (e["file"], e["kind"], e["ticket"], got[0], got[1]))
    # 2. one ticket per new request
    new_requests = [e for e in entries if e["kind"] != "reply"]
    check(tickets == len(new_requests), "ticket count",
          "%d tickets, %d new requests" % (tickets, len(new_requests)))
    # 3. inbound messages per ticket
    if "messages_per_ticket" in m:
        expected = {}
        for e in entries:
            expected[e["ticket"]] = expected.get(e["ticket"], 0) + 1
        if len(entries) == len(m["files"]):
            expected = {int(k): v for k, v in m["messages_per_ticket"].items()}
        actual = dict(q("SELECT ticket, count(*) FROM messages WHERE direction = 'in' "
                        "AND ticket IS NOT NULL GROUP BY ticket"))
        for t in sorted(set(expected) | set(actual)):
            check(actual.get(t, 0) == expected.get(t, 0), "messages per ticket",
                  "ticket #%s: %d inbound messages, expected %d"
                  % (t, actual.get(t, 0), expected.get(t, 0)))
    # 4. one queued acknowledgement per ticket, none for automatic mail
    ack_rows = dict(q("SELECT m.ticket, count(*) FROM messages m JOIN outbox o ON o.message = m.id "
                      "WHERE m.direction = 'out' AND m.kind = 'acknowledgement' GROUP BY m.ticket"))
    for e in new_requests:
        want = 0 if automatic(e) else 1
        got = ack_rows.get(e["ticket"], 0)
        check(got == want, "acknowledgement",
              "ticket #%s (%s): %d acknowledgements queued, expected %d"
              % (e["ticket"], e["file"], got, want))
    check(outbox == sum(ack_rows.values()), "outbox",
          "%d outbox rows, %d of them acknowledgements" % (outbox, sum(ack_rows.values())))
    check(quarantined == 0, "quarantine", "%d mails quarantined: %s" % (quarantined, "; ".join(
        "%s: %s" % (s, r) for s, r in q("SELECT source, reason FROM quarantine LIMIT 3"))))

print("  verify: %d passed, %d failed" % (passed, failed))
for category, items in examples.items():
    print("    %s: %d failed, e.g." % (category, len(items)))
    for item in items[:5]:
        print("      - " + item)
sys.exit(1 if failed else 0)
PY
}

echo "guichet ingestion benchmark"
echo "  corpus:   $dir: $total .eml files, $total_bytes bytes${manifest:+, manifest.json}"
echo "  binary:   $src_bin, built $(date -r "$src_bin" '+%F %T')"
echo "  tree:     $root at $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo '?')," \
     "$(cd "$root" && git status --porcelain -- src 2>/dev/null | wc -l) uncommitted files under src/"
echo "  config:   tag_prefix = \"$tag_prefix\", first_ticket_number = $first_id, no [smtp], GUICHET_LOG=warn"
echo "  machine:  $(nproc) CPUs, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  peak RSS: by $rss_tool (the xargs/sh drivers alone: $(mib "$driver_kib") MiB)"
echo "  date:     $(date '+%F %T %Z')"
if [[ -n "$manifest" ]]; then
    python3 - "$manifest" "$tag_prefix" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
fmt, ours = m.get("tag_format", ""), "[%s #{id}]" % sys.argv[2]
print("  manifest: %s new, %s replies, tag format %r" % (m.get("n_new"), m.get("n_reply"), fmt))
if fmt.lower().replace(" ", "") != ours.lower().replace(" ", ""):
    print("  note:     the corpus tags are not ours (%r): replies can only thread by "
          "In-Reply-To/References" % ours)
PY
fi

# ---------------------------------------------------------------------------------------------
# Mode A: one process, all files
# ---------------------------------------------------------------------------------------------
echo
echo "== mode A: one process, $total files =="
cfg_a=$(make_config single)
args_bytes=$(($(wc -c <"$tmp/files.all") + 8 * total))
start=$(now)
rc=0
if ((args_bytes < $(getconf ARG_MAX) / 2)); then
    mapfile -d '' -t names <"$tmp/files.all"
    (cd "$dir" && measure "$tmp/single.rss" "$bin" --config "$cfg_a" ingest -- "${names[@]}") \
        >"$tmp/single.out" 2>"$tmp/single.err" || rc=$?
    unset names
    procs_a=1
else
    # Too many names for one argv: xargs runs as few processes as fit, in order.
    (cd "$dir" && measure "$tmp/single.rss" xargs -0 -x "$bin" --config "$cfg_a" ingest -- \
        <"$tmp/files.all") >"$tmp/single.out" 2>"$tmp/single.err" || rc=$?
    procs_a=$(grep -c '^ingested ' "$tmp/single.out" || true)
    echo "  (argv too long for one process: xargs ran $procs_a processes)"
fi
end=$(now)
wall_a=$(secs "$start" "$end")
rss_a=$(last_rss "$tmp/single.rss")
sed 's/^/  guichet: /' "$tmp/single.out"
if [[ -s "$tmp/single.err" ]]; then
    echo "  stderr ($(wc -l <"$tmp/single.err") lines), first lines:"
    head -n 5 "$tmp/single.err" | sed 's/^/    /'
fi
((rc == 0)) || echo "  FAILED: exit status $rc"
counts_a=$(python3 - "$tmp/single.out" "$total" <<'PY'
import json, re, sys
c = {"files": int(sys.argv[2]), "new": 0, "follow_ups": 0, "duplicates": 0, "quarantined": 0}
for line in open(sys.argv[1]):
    m = re.match(r"ingested (\d+) mails in .*: (\d+) new tickets, (\d+) follow-ups, "
                 r"(\d+) duplicates, (\d+) quarantined", line)
    if m:
        for k, v in zip(("new", "follow_ups", "duplicates", "quarantined"), m.groups()[1:]):
            c[k] += int(v)
print(json.dumps(c))
PY
)
echo "  wall $wall_a s, $(rate "$total" "$wall_a") mails/s, peak RSS $(mib "$rss_a") MiB"
rows+=("$total|A: one process|$wall_a|$(rate "$total" "$wall_a")|$(mib "$rss_a")")
if ((rc == 0)); then
    if [[ -n "$manifest" ]]; then
        verify "$tmp/single/state/guichet.sqlite3" strict "$total" || verify_failed=1
    else
        verify "$tmp/single/state/guichet.sqlite3" counts_self "$total" "$counts_a" || verify_failed=1
    fi
else
    verify_failed=1
fi

# ---------------------------------------------------------------------------------------------
# Mode B: one process per mail (the MTA pipe), sequential and P at a time
# ---------------------------------------------------------------------------------------------
per_mail() { # per_mail NAME P
    local name="$1" p="$2" cfg rc=0 start end wall rss n_fail n_temp
    cfg=$(make_config "$name")
    : >"$tmp/$name.fail"
    echo
    echo "== mode B: one $pipe_command per mail, $n_pp files, $p at a time =="
    local daemon=""
    if ((beside_daemon)); then
        "$bin" --config "$cfg" run >"$tmp/$name.daemon.log" 2>&1 &
        daemon=$!
        # Ready once it takes mail handed over by a delivery (after it made the store).
        for _ in $(seq 100); do
            [[ -S "$tmp/$name/state/intake.sock" ]] && break
            sleep 0.1
        done
        sleep 0.5
    fi
    start=$(now)
    (cd "$dir" && measure "$tmp/$name.rss" xargs -0 -n 1 -P "$p" sh -c "$driver" \
        "$pipe_bin" "$cfg" "$tmp/$name.fail" <"$tmp/files.pp") >"$tmp/$name.out" 2>"$tmp/$name.err" || rc=$?
    end=$(now)
    if [[ -n "$daemon" ]]; then
        kill -TERM "$daemon"
        wait "$daemon" || true
    fi
    wall=$(secs "$start" "$end")
    rss=$(last_rss "$tmp/$name.rss")
    n_fail=$(wc -l <"$tmp/$name.fail")
    n_temp=$(grep -c '^75 ' "$tmp/$name.fail" || true)
    if [[ -s "$tmp/$name.err" ]]; then
        echo "  stderr ($(wc -l <"$tmp/$name.err") lines), first lines:"
        head -n 5 "$tmp/$name.err" | sed 's/^/    /'
    fi
    if ((rc != 0 && n_fail == 0)); then
        echo "  FAILED: xargs exit status $rc"
        verify_failed=1
    fi
    if ((n_fail > n_temp)); then
        echo "  FAILED: $((n_fail - n_temp)) processes exited with a status other than 0 or 75:"
        grep -v '^75 ' "$tmp/$name.fail" | head -n 5 | sed 's/^/    exit /'
        verify_failed=1
    fi
    if ((n_temp > 0)); then
        # EX_TEMPFAIL: the MTA keeps the mail and delivers it again later. Do the same, after the
        # clock stopped, so that the store can still be checked.
        echo "  WARNING: $n_temp processes exited 75 (temporary failure: an MTA retries later):"
        grep '^75 ' "$tmp/$name.fail" | head -n 5 | cut -d' ' -f2- | sed 's/^/    /'
        grep '^75 ' "$tmp/$name.fail" | cut -d' ' -f2- | while IFS= read -r f; do
            (cd "$dir" && "$bin" --config "$cfg" ingest <"$f") 2>&1 | sed 's/^/    retry: /' \
                || echo "    retry of $f failed too"
        done
        echo "  retried them once, sequentially, outside the timing"
        tempfails=$((tempfails + n_temp))
    fi
    echo "  wall $wall s, $(rate "$n_pp" "$wall") mails/s, peak RSS of one process $(mib "$rss") MiB"
    rows+=("$n_pp|B: per mail, P=$p|$wall|$(rate "$n_pp" "$wall")|$(mib "$rss")")
    guichet_wall[$p]=$wall
    if [[ "$p" == 1 && -n "$manifest" ]]; then
        verify "$tmp/$name/state/guichet.sqlite3" strict "$n_pp" || verify_failed=1
    else
        verify "$tmp/$name/state/guichet.sqlite3" counts "$n_pp" "$counts_a" || verify_failed=1
    fi
}

declare -A guichet_wall
floor() { # floor P: the floor program in the same driver; Guichet's rate as a share of its rate
    local p="$1" start end wall holder=""
    if ((beside_daemon)); then
        python3 -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1]); c.execute("pragma journal_mode=wal")
c.execute("create table if not exists mail (id integer primary key, raw blob not null, at integer not null)")
c.commit(); time.sleep(3600)' "$tmp/floor$p.sqlite3" &
        holder=$!
        sleep 0.5
    fi
    start=$(now)
    (cd "$dir" && xargs -0 -n 1 -P "$p" sh -c '"$0" "$1" < "$3" || echo "$? $3" >>"$2"' \
        "$floor_bin" "$tmp/floor$p.sqlite3" "$tmp/floor.fail" <"$tmp/files.pp")
    end=$(now)
    if [[ -n "$holder" ]]; then
        kill "$holder"
        wait "$holder" 2>/dev/null || true
    fi
    wall=$(secs "$start" "$end")
    echo "  floor (read, insert raw, commit in WAL with synchronous=FULL): $wall s," \
         "$(rate "$n_pp" "$wall") mails/s; Guichet at" \
         "$(python3 -c 'import sys; print("%.0f%%" % (100 * float(sys.argv[1]) / float(sys.argv[2])))' "$wall" "${guichet_wall[$p]}")" \
         "of the floor"
    rows+=("$n_pp|floor, P=$p|$wall|$(rate "$n_pp" "$wall")|-")
}

harness() { # harness P: the same driver with /bin/true instead of guichet: the cost of spawning
    local p="$1" start end wall
    start=$(now)
    (cd "$dir" && measure "$tmp/harness$p.rss" xargs -0 -n 1 -P "$p" sh -c "$driver" \
        /bin/true "$tmp/none.toml" "$tmp/harness.fail" <"$tmp/files.pp")
    end=$(now)
    wall=$(secs "$start" "$end")
    echo "  harness alone (xargs + sh + /bin/true, no guichet): $wall s," \
         "$(python3 -c 'import sys; print("%.2f" % (1000 * float(sys.argv[1]) / int(sys.argv[2])))' "$wall" "$n_pp") ms/mail"
    rows+=("$n_pp|harness only, P=$p|$wall|$(rate "$n_pp" "$wall")|-")
}

if ((n_pp > 0)); then
    per_mail pipe1 1
    floor 1
    harness 1
    if ((parallel != 1)); then
        per_mail "pipe$parallel" "$parallel"
        floor "$parallel"
        harness "$parallel"
    fi
fi

# ---------------------------------------------------------------------------------------------
echo
echo "== summary =="
printf '%8s  %-22s %10s %10s %14s\n' mails mode "wall s" "mails/s" "peak RSS MiB"
for row in "${rows[@]}"; do
    IFS='|' read -r a b c d e <<<"$row"
    printf '%8s  %-22s %10s %10s %14s\n' "$a" "$b" "$c" "$d" "$e"
done
if ((tempfails)); then
    echo "note: $tempfails per-mail processes failed temporarily (exit 75) and were retried, see above"
fi
if ((verify_failed)); then
    echo "verification: FAILURES (see above)"
    exit 1
fi
echo "verification: ok"
