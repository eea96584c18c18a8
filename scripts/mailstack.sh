#!/usr/bin/env bash
# mailstack.sh: a private Postfix + Dovecot mail stack on 127.0.0.1 for
# Guichet's end-to-end tests and demo. Everything (configs, certificates,
# Maildirs, Postfix queue, logs, pid files) lives in one STATE_DIR. It listens
# only on 127.0.0.1, makes no DNS queries and never sends mail off the machine.
#
# usage (as root; Debian 12):
#   scripts/mailstack.sh install             apt packages + system user 'guichet' (fast no-op when present)
#   scripts/mailstack.sh start  STATE_DIR    install if needed, write configs, start, write STATE_DIR/mailstack.env
#   scripts/mailstack.sh stop   STATE_DIR    stop exactly what start started (by pid file); idempotent
#   scripts/mailstack.sh status STATE_DIR    print state; exit 0 when both daemons run, 1 otherwise
#
# What the stack serves:
#   * MAILSTACK_DOMAINS (default example.test): catch-all, every address is
#     delivered by Postfix over LMTP into Dovecot (Maildir, IMAP/IMAPS).
#   * MAILSTACK_PIPE_DOMAIN (default desk.example.test): every recipient is
#     delivered by the Postfix pipe(8) transport "guichet", one recipient per
#     run, as user 'guichet', with Return-Path: and Delivered-To: prepended:
#         guichet-deliver --config $GUICHET_PIPE_ROOT/${user}/guichet.toml
#     (the guichet-deliver beside GUICHET_BIN, which hands the mail to a running
#     daemon or runs `$GUICHET_BIN ingest` on it).
#     ${user} is the recipient local part without its +extension, folded to
#     lower case (pipe flag u): T42+x@desk.example.test -> .../t42/guichet.toml.
#     Exit 0 = delivered; 75 (EX_TEMPFAIL) or 71 (EX_OSERR) = deferred and
#     retried; any other code = bounced. Output starting with an enhanced
#     status code (e.g. "4.3.0 ...") overrides the exit code. A missing or
#     non-executable program, or a command killed by a signal, is deferred.
#     Delivered-To: keeps the address exactly as sent (case, +extension).
#     The instance dir GUICHET_PIPE_ROOT/<name>/ must be readable and, where
#     Guichet writes, writable by user 'guichet' (e.g. chown guichet:guichet).
#     Local parts of the pipe domain are limited to [a-z0-9][a-z0-9._-]* (plus
#     an optional +extension); others are refused at RCPT with 554 5.1.3.
#   * MAILSTACK_PIPE_RECIPIENTS (default: unset, every local part): local parts
#     of the pipe domain that exist, e.g. "support kb" (the demo). Mail to any
#     other address of the domain is refused at RCPT with "550 5.1.1 ... User
#     unknown", so a mistyped address never reaches a guichet.toml that is not there.
#   Anything else is refused at RCPT time (554 Relay access denied).
#
# Ports (127.0.0.1, IPv4), MAILSTACK_PORT_OFFSET=N adds N to every default:
#   MAILSTACK_SMTP_PORT 10025 (MX-like, no AUTH, STARTTLS optional)
#   MAILSTACK_SUBMISSION_PORT 10587 (STARTTLS + AUTH required)
#   MAILSTACK_SUBMISSIONS_PORT 10465 (implicit TLS + AUTH required)
#   MAILSTACK_IMAP_PORT 10143, MAILSTACK_IMAPS_PORT 10993
#   MAILSTACK_LMTP_PORT 10024, MAILSTACK_AUTH_PORT 10027 (internal)
#   MAILSTACK_OAUTH_PORT 10080: not served by the stack. Dovecot's oauth2 passdb
#     asks http://127.0.0.1:PORT/introspect (RFC 7662, POST) whether a token
#     is active and whose it is; the tests run that authorization server.
#     IMAP and submission offer XOAUTH2 and OAUTHBEARER; only users that are
#     in no passwd-file log in that way (the token's "username" names them).
# Other settings (environment of 'start'):
#   MAILSTACK_DOMAINS, MAILSTACK_USERS ("addr:password ..."),
#   MAILSTACK_MASTER_USER / MAILSTACK_MASTER_PASSWORD (master / master-pw; log in
#   as "addr*master" to read any mailbox), MAILSTACK_MAIL_USER (mail),
#   MAILSTACK_AUTH_FAILURE_DELAY (0), MAILSTACK_IMAP_MAX_USERIP_CONNECTIONS (100),
#   MAILSTACK_PIPE_DOMAIN, MAILSTACK_PIPE_RECIPIENTS, GUICHET_BIN (<repo>/target/debug/guichet),
#   GUICHET_PIPE_ROOT (STATE_DIR/desk).
#
# STATE_DIR/mailstack.env: KEY=VALUE lines, no quoting (source it, or split at
# the first '='). Clients trust MAILSTACK_CA_CERT and use server name localhost
# or 127.0.0.1. Queue: postqueue -c STATE_DIR/postfix/etc -p (list) / -f (flush).
# Mail admin: doveadm -c STATE_DIR/dovecot/dovecot.conf ... Logs: STATE_DIR/logs/.
set -euo pipefail

PROG=mailstack.sh
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO_DIR=$(dirname "$SCRIPT_DIR")
# chromium and its driver: the dashboard test (tests/dashboard.rs) drives a headless browser.
PACKAGES=(dovecot-core dovecot-imapd dovecot-lmtpd postfix swaks openssl ca-certificates chromium chromium-driver fonts-dejavu-core)
PIPE_USER=guichet
POSTFIX_MASTER_EXE=/usr/lib/postfix/sbin/master
DOVECOT_EXE=/usr/sbin/dovecot

die() { echo "$PROG: $*" >&2; exit 1; }
usage() {
    echo "usage: $PROG install | start STATE_DIR | stop STATE_DIR | status STATE_DIR" >&2
    exit 2
}
require_root() {
    [ "$(id -u)" -eq 0 ] || die "$1 must run as root (Postfix's master and Dovecot bind and setuid as root)"
}

# ============================================================== install ====

missing_packages() { # prints the packages of PACKAGES that are not installed
    local p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
    done
}

missing_binaries() { # fast check used by start: prints packages whose files are missing
    local f
    for f in "$DOVECOT_EXE:dovecot-core" /usr/lib/dovecot/imap:dovecot-imapd \
             /usr/lib/dovecot/imap-login:dovecot-imapd /usr/lib/dovecot/lmtp:dovecot-lmtpd \
             /usr/sbin/postfix:postfix /usr/sbin/postconf:postfix "$POSTFIX_MASTER_EXE:postfix" \
             /usr/lib/postfix/sbin/pipe:postfix /usr/bin/openssl:openssl /usr/bin/swaks:swaks; do
        [ -x "${f%%:*}" ] || echo "${f#*:}"
    done
    [ -d /etc/ssl/certs ] || echo ca-certificates
}

ensure_pipe_user() {
    getent passwd "$PIPE_USER" >/dev/null && return 0
    if getent group "$PIPE_USER" >/dev/null; then
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
            --gid "$PIPE_USER" "$PIPE_USER"
    else
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
            --user-group "$PIPE_USER"
    fi
    echo "$PROG: created system user and group '$PIPE_USER'"
}

# The packages' own services would start at boot with the packages' configuration: Postfix on
# port 25 and Dovecot on 143/993 of every interface. The stack runs private instances instead,
# so both are disabled at boot, by systemd's links and by SysV rc links alike (PID 1 may be
# neither: systemctl then edits the links without a running manager, update-rc.d the rc links).
disable_system_services() {
    local service
    for service in postfix dovecot; do
        if command -v systemctl >/dev/null 2>&1; then
            if [ -d /run/systemd/system ]; then
                systemctl disable --now --quiet "$service.service" 2>/dev/null || true
            else
                systemctl disable --quiet "$service.service" 2>/dev/null || true
            fi
        fi
        if [ -e "/etc/init.d/$service" ] && command -v update-rc.d >/dev/null 2>&1; then
            update-rc.d "$service" disable >/dev/null 2>&1 || true
        fi
    done
}

enabled_system_services() { # prints what still starts at boot, if anything
    local service
    for service in postfix dovecot; do
        if command -v systemctl >/dev/null 2>&1 &&
            [ "$(systemctl is-enabled "$service.service" 2>/dev/null)" = enabled ]; then
            echo "$service.service"
        fi
        if compgen -G "/etc/rc[2-5].d/S[0-9][0-9]$service" >/dev/null; then
            echo "/etc/rc?.d/S??$service"
        fi
    done
}

# Fails when a port the stack serves is open beyond loopback.
check_loopback_only() {
    local port address
    for port in "$@"; do
        while read -r address; do
            case "$address" in
                127.0.0.1:"$port" | "[::1]:$port") ;;
                *) die "port $port listens on $address, not only on loopback" ;;
            esac
        done < <(ss -ltnH "sport = :$port" | awk '{print $4}')
    done
}

cmd_install() {
    require_root install
    local missing
    missing=$(missing_packages | xargs)
    if [ -n "$missing" ]; then
        # Run in a subshell so the policy-rc.d trap cannot leak into 'start'.
        (
            export DEBIAN_FRONTEND=noninteractive
            # "No configuration": no /etc/postfix/main.cf and no system instance;
            # the stack runs its own instance with postfix -c DIR.
            debconf-set-selections <<'SEL'
postfix postfix/main_mailer_type select No configuration
postfix postfix/mailname string example.test
SEL
            # Keep the packages from starting system-wide daemons (they would
            # grab ports 25/143/993 on every interface). Reuse an existing
            # policy-rc.d (Docker images ship "exit 101"), else add one for now.
            if [ ! -e /usr/sbin/policy-rc.d ]; then
                printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
                chmod 755 /usr/sbin/policy-rc.d
                trap 'rm -f /usr/sbin/policy-rc.d' EXIT
            fi
            apt-get update -q
            # shellcheck disable=SC2086
            apt-get install -y -q --no-install-recommends $missing
        )
        echo "$PROG: installed $missing"
    else
        echo "$PROG: packages already installed: ${PACKAGES[*]}"
    fi
    disable_system_services
    local enabled
    enabled=$(enabled_system_services | xargs)
    [ -z "$enabled" ] || die "still enabled at boot: $enabled"
    ensure_pipe_user
}

# ================================================================ stop =====

pid_from() { # pidfile -> pid on stdout (empty if none)
    [ -f "$1" ] && tr -dc 0-9 < "$1" 2>/dev/null || true
}

is_our_daemon() { # pid expected-exe: a live process running that executable
    [ -n "$1" ] && [ -d "/proc/$1" ] || return 1
    local exe
    exe=$(readlink "/proc/$1/exe" 2>/dev/null) || exe=""
    if [ -z "$exe" ]; then # not root: /proc/PID/exe is unreadable; fall back to comm
        [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$(basename "$2")" ]
    else
        [ "$exe" = "$2" ]
    fi
}

children_of() { # direct children of pid $1, read from /proc (never by name)
    local statf rest fields
    for statf in /proc/[0-9]*/stat; do
        { read -r rest < "$statf"; } 2>/dev/null || continue
        rest=${rest##*) }                 # drop "pid (comm) "
        read -r -a fields <<< "$rest"     # state ppid ...
        if [ "${fields[1]:-}" = "$1" ]; then
            statf=${statf#/proc/}; echo "${statf%/stat}"
        fi
    done
}

stop_one() { # name pidfile expected-exe
    local name=$1 pidfile=$2 exe=$3 pid kids p alive i
    pid=$(pid_from "$pidfile")
    if [ -z "$pid" ]; then
        echo "$PROG: $name: not running"
        rm -f "$pidfile"
        return 0
    fi
    if ! is_our_daemon "$pid" "$exe"; then
        echo "$PROG: $name: not running (stale pid file for pid $pid removed)"
        rm -f "$pidfile"
        return 0
    fi
    kids=$(children_of "$pid" | xargs)
    kill -TERM "$pid" 2>/dev/null || true
    alive=""
    for i in $(seq 1 100); do # up to 10 s for a clean shutdown
        alive=""
        for p in $pid $kids; do
            if kill -0 "$p" 2>/dev/null; then alive="$alive $p"; fi
        done
        [ -z "$alive" ] && break
        sleep 0.1
    done
    if [ -n "$alive" ]; then
        echo "$PROG: $name: still alive after 10 s, SIGKILL to:$alive" >&2
        for p in $alive; do kill -KILL "$p" 2>/dev/null || true; done
        sleep 0.2
    fi
    rm -f "$pidfile"
    echo "$PROG: $name: stopped (pid $pid${kids:+, children $kids})"
}

state_paths() { # sets STATE and the pid file paths from a STATE_DIR argument
    STATE=$(cd "$1" && pwd -P)
    DOVECOT_PIDFILE="$STATE/dovecot/run/master.pid"
    POSTFIX_PIDFILE="$STATE/postfix/queue/pid/master.pid"
}

do_stop() { # STATE_DIR (absolute, existing)
    state_paths "$1"
    # Postfix first, so nothing is mid-delivery into Dovecot when Dovecot goes.
    stop_one postfix "$POSTFIX_PIDFILE" "$POSTFIX_MASTER_EXE"
    stop_one dovecot "$DOVECOT_PIDFILE" "$DOVECOT_EXE"
    rm -f "$STATE/mailstack.env"
}

cmd_stop() {
    [ -d "$1" ] || { echo "$PROG: no state dir $1 (nothing to stop)"; return 0; }
    require_root stop
    do_stop "$1"
}

# ============================================================== status =====

cmd_status() {
    [ -d "$1" ] || { echo "not running (no state dir $1)"; return 1; }
    state_paths "$1"
    local dpid ppid up=0
    if [ "$(id -u)" -ne 0 ]; then # pid files are not readable: judge by the env file and ports
        local smtp imap
        smtp=$(sed -n 's/^MAILSTACK_SMTP_PORT=//p' "$STATE/mailstack.env" 2>/dev/null || true)
        imap=$(sed -n 's/^MAILSTACK_IMAP_PORT=//p' "$STATE/mailstack.env" 2>/dev/null || true)
        if [ -n "$smtp" ] && [ -n "$imap" ] && [[ "$(banner "$smtp")" == 220* ]] && [[ "$(banner "$imap")" == "* OK"* ]]; then
            echo "running (SMTP :$smtp and IMAP :$imap answer; state $STATE; run as root for pids)"
            return 0
        fi
        echo "not running (no answer on the ports in $STATE/mailstack.env; state $STATE)"
        return 1
    fi
    dpid=$(pid_from "$DOVECOT_PIDFILE"); ppid=$(pid_from "$POSTFIX_PIDFILE")
    is_our_daemon "$dpid" "$DOVECOT_EXE" && up=$((up + 1)) || dpid=""
    is_our_daemon "$ppid" "$POSTFIX_MASTER_EXE" && up=$((up + 2)) || ppid=""
    case $up in
        3) echo "running: dovecot pid $dpid, postfix pid $ppid (state $STATE)"
           [ -f "$STATE/mailstack.env" ] && sed 's/^/  /' "$STATE/mailstack.env"
           return 0 ;;
        0) echo "not running (state $STATE)"; return 1 ;;
        *) echo "partly running: dovecot ${dpid:-down}, postfix ${ppid:-down} (state $STATE); run: $0 stop $STATE"
           return 1 ;;
    esac
}

# =============================================================== start =====

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

banner() { # port: first line the server sends (empty if none within 2 s)
    (exec 3<>"/dev/tcp/127.0.0.1/$1" && IFS= read -r -t 2 line <&3 && printf '%s' "$line") 2>/dev/null || true
}

wait_banner() { # port expected-prefix
    local i
    for i in $(seq 1 150); do
        [[ "$(banner "$1")" == "$2"* ]] && return 0
        sleep 0.1
    done
    echo "$PROG: no '$2' banner on 127.0.0.1:$1" >&2
    return 1
}

wait_port() { # port (implicit-TLS listeners: just wait for accept)
    local i
    for i in $(seq 1 150); do
        port_open "$1" && return 0
        sleep 0.1
    done
    echo "$PROG: nothing listening on 127.0.0.1:$1" >&2
    return 1
}

can_user() { # user test-args...: run test(1) as that user (its own group only)
    local u=$1; shift
    setpriv --reuid="$u" --regid="$u" --clear-groups test "$@" 2>/dev/null
}

plain_path() { # refuse paths that would break config files or master.cf argv
    case "$2" in
        *[[:space:]\"\'\\\$\{\}]*|"") die "$1 must be non-empty and must not contain spaces, quotes, '\$', braces or backslashes: '$2'" ;;
    esac
}

make_tls() { # CA + leaf signed by it (rustls rejects a CA:TRUE cert used as a server cert)
    local tls=$1 san d old_umask
    [ -s "$tls/server-chain.pem" ] && [ -s "$tls/server.key" ] && [ -s "$tls/ca.pem" ] && return 0
    old_umask=$(umask); umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
        -keyout "$tls/ca.key" -out "$tls/ca.pem" -subj "/CN=mailstack test CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -new -newkey rsa:2048 -nodes -sha256 \
        -keyout "$tls/server.key" -out "$tls/server.csr" -subj "/CN=localhost" 2>/dev/null
    san="DNS:localhost,DNS:mail.$FIRST_DOMAIN,IP:127.0.0.1,IP:::1"
    for d in $DOMAINS $PIPE_DOMAIN; do san="$san,DNS:$d,DNS:mail.$d"; done
    printf '%s\n' "subjectAltName=$san" "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" \
        > "$tls/server.ext"
    openssl x509 -req -sha256 -days 3650 -in "$tls/server.csr" -CA "$tls/ca.pem" \
        -CAkey "$tls/ca.key" -CAcreateserial -out "$tls/server.pem" -extfile "$tls/server.ext" 2>/dev/null
    cat "$tls/server.pem" "$tls/ca.pem" > "$tls/server-chain.pem"
    umask "$old_umask"
    chmod 644 "$tls/ca.pem" "$tls/server.pem" "$tls/server-chain.pem"
    chmod 600 "$tls/server.key" "$tls/ca.key"
}

write_dovecot_conf() {
    local dc=$STATE/dovecot entry u pw ssl_dh_line=""
    : > "$dc/users.new"
    for entry in $USERS; do
        u=${entry%%:*}; pw=${entry#*:}
        [ "$u" != "$entry" ] && [ -n "$pw" ] || die "MAILSTACK_USERS entry '$entry' is not user@domain:password"
        printf '%s:{PLAIN}%s::::::\n' "$(echo "$u" | tr 'A-Z' 'a-z')" "$pw" >> "$dc/users.new"
    done
    mv "$dc/users.new" "$dc/users"
    # Tests may append "user@domain:{PLAIN}password::::::" lines at run time;
    # Dovecot re-reads passwd-files when they change. Kept across restarts.
    [ -e "$dc/extra-users" ] || : > "$dc/extra-users"
    printf '%s:{PLAIN}%s::::::\n' "$MASTER_USER" "$MASTER_PASSWORD" > "$dc/master-users"
    chown root:dovecot "$dc/users" "$dc/extra-users" "$dc/master-users"   # auth runs as dovecot
    chmod 640 "$dc/users" "$dc/extra-users" "$dc/master-users"
    [ -r /usr/share/dovecot/dh.pem ] && ssl_dh_line="ssl_dh = </usr/share/dovecot/dh.pem"
    cat > "$dc/oauth2.conf.ext" <<EOF
introspection_mode = post
introspection_url = http://127.0.0.1:$OAUTH_PORT/introspect
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
EOF
    chmod 644 "$dc/oauth2.conf.ext"

    cat > "$dc/dovecot.conf" <<EOF
# Generated by $PROG start; rewritten at every start. Standalone: nothing from /etc/dovecot.
instance_name = mailstack-$IMAP_PORT
base_dir = $dc/run
state_dir = $dc/state
log_path = $STATE/logs/dovecot.log
hostname = mail.$FIRST_DOMAIN
protocols = imap lmtp
listen = 127.0.0.1

# Dovecot never stores mail as root ("Mail access not allowed for root").
mail_uid = $MAIL_USER
mail_gid = $MAIL_GROUP
first_valid_uid = $MAIL_UID
first_valid_gid = $MAIL_GID
mail_location = maildir:$STATE/mail/%Ld/%Ln/Maildir
mailbox_idle_check_interval = 1 secs

namespace inbox {
  inbox = yes
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
  mailbox Junk {
    special_use = \\Junk
    auto = subscribe
  }
}

ssl = yes
ssl_cert = <$STATE/tls/server-chain.pem
ssl_key = <$STATE/tls/server.key
$ssl_dh_line
ssl_min_protocol = TLSv1.2

# 127.0.0.1 counts as secured: plain LOGIN works there without TLS.
disable_plaintext_auth = yes
auth_mechanisms = plain login xoauth2 oauthbearer
auth_username_format = %Lu
auth_master_user_separator = *
auth_verbose = yes
# Dovecot's default is 2 s per failed login (IMAP and SMTP AUTH alike).
auth_failure_delay = $AUTH_FAILURE_DELAY secs
recipient_delimiter = +

passdb {
  driver = passwd-file
  args = scheme=PLAIN $dc/master-users
  master = yes
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN $dc/users
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN $dc/extra-users
}
# OAuth2 tokens, checked by the tests' authorization server (MAILSTACK_OAUTH_PORT).
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $dc/oauth2.conf.ext
}
userdb {
  driver = passwd-file
  args = $dc/users
}
userdb {
  driver = passwd-file
  args = $dc/extra-users
}
# Catch-all: LMTP accepts any address of the served domains; the Maildir is
# created on first delivery (read it as "addr*$MASTER_USER").
userdb {
  driver = static
  args = allow_all_users=yes
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
}
service auth {
  # Postfix SASL over TCP: no socket paths or permissions shared by the daemons.
  inet_listener auth-postfix {
    address = 127.0.0.1
    port = $AUTH_PORT
  }
}
# The per-IP auth penalty (2, 4, 8, 15 s after a failure) would hit every
# test, since all clients come from 127.0.0.1.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
# Default 10 per user+IP; parallel tests share 127.0.0.1 and often one mailbox.
protocol imap {
  mail_max_userip_connections = $IMAP_MAX_CONN
}
protocol lmtp {
  postmaster_address = postmaster@$FIRST_DOMAIN
}
EOF
}

write_postfix_conf() {
    local pf=$STATE/postfix pipe_re=${PIPE_DOMAIN//./\\.} recipient_map="" p
    # Postfix refuses a recipient missing from a non-empty relay_recipient_maps with "550 5.1.1
    # User unknown in relay recipient table"; +extensions are looked up without them.
    if [ -n "$PIPE_RECIPIENTS" ]; then
        for p in $PIPE_RECIPIENTS; do recipient_map="$recipient_map $p@$PIPE_DOMAIN=ok,"; done
        recipient_map="inline:{${recipient_map%,} }"
    fi
    # Local parts allowed in the pipe domain: they become a path component of
    # the --config argument, so no '/', no leading '.', nothing exotic.
    cat > "$pf/etc/guichet-recipients.regexp" <<EOF
# Generated by $PROG start. Case-insensitive (regexp: tables are by default).
/^[a-z0-9][a-z0-9._-]*(\\+[^@]*)?@$pipe_re\$/ DUNNO
/@$pipe_re\$/ REJECT 5.1.3 local part not allowed for the Guichet pipe domain (letters, digits, . _ - only)
EOF

    cat > "$pf/etc/main.cf" <<EOF
# Generated by $PROG start; rewritten at every start.
compatibility_level = 3.6
queue_directory = $pf/queue
data_directory = $pf/data
meta_directory = /etc/postfix
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
mail_owner = postfix
setgid_group = postdrop
# No syslog daemon on these machines: postlogd writes this file.
maillog_file = $STATE/logs/postfix.log
maillog_file_prefixes = $STATE/logs

myhostname = mail.$FIRST_DOMAIN
mydomain = $FIRST_DOMAIN
myorigin = \$mydomain
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_banner = \$myhostname ESMTP mailstack
biff = no
append_dot_mydomain = no
recipient_delimiter = +
message_size_limit = 52428800
# Dovecot 2.3's LMTP lacks SMTPUTF8: mail accepted with SMTPUTF8 would bounce
# after the 250. Not announcing it makes clients fail (or use 8BITMIME) at once.
smtputf8_enable = no

# Dovecot domains: every address is accepted and delivered over LMTP.
virtual_mailbox_domains = $DOMAINS
virtual_mailbox_maps =
virtual_transport = lmtp:inet:127.0.0.1:$LMTP_PORT

# Guichet domain: every address goes to the pipe(8) transport "guichet"
# (master.cf), one recipient per command run (needed by the D flag).
relay_domains = $PIPE_DOMAIN
relay_recipient_maps = $recipient_map
transport_maps = inline:{ $PIPE_DOMAIN=guichet: }
guichet_destination_recipient_limit = 1
guichet_time_limit = 300s

# Nothing else is ever delivered: other destinations are refused at RCPT time,
# and the error transports make sure no mail (and no DNS query) leaves.
local_transport = error:5.1.1 local delivery is disabled in the test mail stack
default_transport = error:5.7.1 outbound delivery is disabled in the test mail stack
relay_transport = \$default_transport
alias_maps =
alias_database =
local_recipient_maps =
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions = check_recipient_access regexp:$pf/etc/guichet-recipients.regexp
# Treat loopback clients like Internet clients: otherwise Postfix adds
# Message-Id/Date/From to mail from 127.0.0.1 that lacks them.
local_header_rewrite_clients =
smtp_dns_support_level = disabled
lmtp_host_lookup = native
smtp_host_lookup = native
smtpd_peername_lookup = no

# Retry deferred mail (Dovecot briefly down, Guichet exit 75) within seconds.
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 30s
delay_warning_time = 0

smtpd_tls_cert_file = $STATE/tls/server-chain.pem
smtpd_tls_key_file = $STATE/tls/server.key
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:127.0.0.1:$AUTH_PORT
smtpd_sasl_auth_enable = no
EOF

    cat > "$pf/etc/master.cf" <<EOF
# Generated by $PROG start; rewritten at every start.
# No service is chrooted (column 5 = n): paths stay the real ones.
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
127.0.0.1:$SUBMISSION_PORT inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
127.0.0.1:$SUBMISSIONS_PORT inet n - n - - smtpd
  -o syslog_name=postfix/submissions
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
# Guichet ingestion. pipe(8) runs as root (unprivileged column = n) and
# executes the command as user $PIPE_USER. Flags: D = Delivered-To: header,
# R = Return-Path: header, u = \${user} folded to lower case (no F: no From_ line).
guichet   unix  -       n       n       -       -       pipe
  flags=DRu user=$PIPE_USER argv=$GUICHET_DELIVER --config $GUICHET_PIPE_ROOT/\${user}/guichet.toml
EOF
}

start_failed() { # stop whatever start had started, then exit 1
    echo "$PROG: start failed; stopping what was started. Logs: $STATE/logs/" >&2
    tail -n 5 "$STATE/logs/dovecot.log" "$STATE/logs/postfix.log" >&2 2>/dev/null || true
    do_stop "$STATE" >&2 || true
    exit 1
}

cmd_start() {
    require_root start
    if [ -n "$(missing_binaries)" ] || ! getent passwd "$PIPE_USER" >/dev/null; then
        echo "$PROG: installing what is missing first" >&2
        cmd_install >&2
        [ -z "$(missing_binaries)" ] || die "still missing after install: $(missing_binaries | sort -u | xargs)"
    fi
    local u
    for u in dovecot dovenull postfix "${MAILSTACK_MAIL_USER:-mail}" "$PIPE_USER"; do
        getent passwd "$u" >/dev/null || die "system user '$u' missing (reinstall dovecot-core/postfix, or run: $0 install)"
    done
    getent group postdrop >/dev/null || die "group 'postdrop' missing (reinstall postfix)"

    # ------------------------------------------------------- settings ----
    mkdir -p "$1"
    state_paths "$1"
    plain_path STATE_DIR "$STATE"
    local off=${MAILSTACK_PORT_OFFSET:-0}
    SMTP_PORT=${MAILSTACK_SMTP_PORT:-$((10025 + off))}
    SUBMISSION_PORT=${MAILSTACK_SUBMISSION_PORT:-$((10587 + off))}
    SUBMISSIONS_PORT=${MAILSTACK_SUBMISSIONS_PORT:-$((10465 + off))}
    IMAP_PORT=${MAILSTACK_IMAP_PORT:-$((10143 + off))}
    IMAPS_PORT=${MAILSTACK_IMAPS_PORT:-$((10993 + off))}
    LMTP_PORT=${MAILSTACK_LMTP_PORT:-$((10024 + off))}
    AUTH_PORT=${MAILSTACK_AUTH_PORT:-$((10027 + off))}
    OAUTH_PORT=${MAILSTACK_OAUTH_PORT:-$((10080 + off))}
    DOMAINS=$(echo "${MAILSTACK_DOMAINS:-example.test}" | tr ',A-Z' ' a-z' | xargs)
    FIRST_DOMAIN=${DOMAINS%% *}
    PIPE_DOMAIN=$(echo "${MAILSTACK_PIPE_DOMAIN:-desk.example.test}" | tr 'A-Z' 'a-z')
    PIPE_RECIPIENTS=$(echo "${MAILSTACK_PIPE_RECIPIENTS:-}" | tr ',A-Z' ' a-z' | xargs)
    USERS=${MAILSTACK_USERS:-"support@example.test:support-pw alice@example.test:alice-pw bob@example.test:bob-pw user1@example.test:user1-pw vendor@example.test:vendor-pw"}
    MASTER_USER=${MAILSTACK_MASTER_USER:-master}
    MASTER_PASSWORD=${MAILSTACK_MASTER_PASSWORD:-master-pw}
    MAIL_USER=${MAILSTACK_MAIL_USER:-mail}
    AUTH_FAILURE_DELAY=${MAILSTACK_AUTH_FAILURE_DELAY:-0}
    IMAP_MAX_CONN=${MAILSTACK_IMAP_MAX_USERIP_CONNECTIONS:-100}
    GUICHET_BIN=$(realpath -ms -- "${GUICHET_BIN:-$REPO_DIR/target/debug/guichet}")
    GUICHET_DELIVER=$(dirname -- "$GUICHET_BIN")/guichet-deliver
    GUICHET_PIPE_ROOT=${GUICHET_PIPE_ROOT:-$STATE/desk}

    [ -n "$DOMAINS" ] || die "MAILSTACK_DOMAINS is empty"
    [[ "$PIPE_DOMAIN" =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$ ]] || die "bad MAILSTACK_PIPE_DOMAIN '$PIPE_DOMAIN'"
    case " $DOMAINS " in *" $PIPE_DOMAIN "*) die "MAILSTACK_PIPE_DOMAIN $PIPE_DOMAIN is also in MAILSTACK_DOMAINS" ;; esac
    for p in $PIPE_RECIPIENTS; do
        [[ "$p" =~ ^[a-z0-9][a-z0-9._-]*$ ]] || die "bad local part '$p' in MAILSTACK_PIPE_RECIPIENTS"
    done
    plain_path GUICHET_BIN "$GUICHET_BIN"
    # Dovecot puts unix sockets under base_dir; sun_path holds 107 bytes.
    local base_dir="$STATE/dovecot/run"
    [ ${#base_dir} -le 80 ] || die "STATE_DIR path too long (${#base_dir} > 80 chars for $base_dir): unix socket paths would overflow"

    if is_our_daemon "$(pid_from "$DOVECOT_PIDFILE")" "$DOVECOT_EXE" \
       || is_our_daemon "$(pid_from "$POSTFIX_PIDFILE")" "$POSTFIX_MASTER_EXE"; then
        die "a mail stack is already running in $STATE; run: $0 stop $STATE"
    fi
    local all_ports="$SMTP_PORT $SUBMISSION_PORT $SUBMISSIONS_PORT $IMAP_PORT $IMAPS_PORT $LMTP_PORT $AUTH_PORT" p
    [ "$(printf '%s\n' $all_ports | sort -u | wc -l)" -eq 7 ] || die "ports must be distinct: $all_ports"
    for p in $all_ports; do
        port_open "$p" && die "port 127.0.0.1:$p is already in use (set MAILSTACK_PORT_OFFSET or MAILSTACK_*_PORT)"
    done

    local t0; t0=$(date +%s%N)
    # Postfix (user postfix), Dovecot auth (dovecot), mail processes (mail) and
    # the pipe command (guichet) open files under STATE_DIR by absolute path:
    # every ancestor must be searchable. mktemp -d makes 0700; open it to 0711.
    chmod 711 "$STATE"
    for u in postfix dovecot "$MAIL_USER" "$PIPE_USER"; do
        can_user "$u" -x "$STATE" \
            || die "user '$u' cannot reach $STATE (a parent directory is not searchable by others, e.g. /root is 0700). Use /tmp, /var/tmp or the work tree, or chmod o+x the parents."
    done
    if [ ! -d "$GUICHET_PIPE_ROOT" ]; then
        mkdir -p "$GUICHET_PIPE_ROOT"
        chmod 755 "$GUICHET_PIPE_ROOT"
    fi
    GUICHET_PIPE_ROOT=$(cd "$GUICHET_PIPE_ROOT" && pwd -P)
    plain_path GUICHET_PIPE_ROOT "$GUICHET_PIPE_ROOT"
    can_user "$PIPE_USER" -x "$GUICHET_PIPE_ROOT" \
        || die "user '$PIPE_USER' cannot enter GUICHET_PIPE_ROOT $GUICHET_PIPE_ROOT (check the x bits of it and its parents)"
    # The binary may legitimately be built after the stack starts: only warn.
    local program
    for program in "$GUICHET_BIN" "$GUICHET_DELIVER"; do
        can_user "$PIPE_USER" -x "$program" && continue
        if [ -e "$program" ]; then
            echo "$PROG: warning: user '$PIPE_USER' cannot execute $program (x bits of it or a parent directory); pipe deliveries will fail" >&2
        else
            echo "$PROG: warning: $program does not exist (yet); pipe deliveries fail until it does" >&2
        fi
    done

    # Stale sockets from an earlier run confuse Dovecot (a left-over
    # anvil-auth-penalty socket made auth retry it for ~7 s): start empty.
    rm -rf "$STATE/dovecot/run"
    mkdir -p "$STATE"/{tls,dovecot/run,dovecot/state,mail,postfix/etc,postfix/queue,postfix/data,logs}
    chown postfix:postfix "$STATE/postfix/data"; chmod 700 "$STATE/postfix/data"  # master.lock as mail_owner
    chmod 755 "$STATE/dovecot" "$STATE/postfix"
    MAIL_UID=$(id -u "$MAIL_USER"); MAIL_GID=$(id -g "$MAIL_USER"); MAIL_GROUP=$(id -gn "$MAIL_USER")
    [ "$MAIL_UID" -ne 0 ] || die "MAILSTACK_MAIL_USER must not be root (Dovecot refuses mail access as root)"
    chown "$MAIL_UID:$MAIL_GID" "$STATE/mail"; chmod 700 "$STATE/mail"

    make_tls "$STATE/tls"
    write_dovecot_conf
    write_postfix_conf

    # ------------------------------------------------------------ start ----
    # The daemons must not inherit our stdout/stderr: Dovecot's master and log
    # child keep fd 2 open forever, so a caller reading our output to EOF (a
    # pipe, Rust's Command::output()) would hang.
    if ! "$DOVECOT_EXE" -c "$STATE/dovecot/dovecot.conf" < /dev/null >> "$STATE/logs/dovecot-start.log" 2>&1; then
        cat "$STATE/logs/dovecot-start.log" >&2; start_failed
    fi
    if ! /usr/sbin/postfix -c "$STATE/postfix/etc" start < /dev/null >> "$STATE/logs/postfix-start.log" 2>&1; then
        cat "$STATE/logs/postfix-start.log" >&2; start_failed
    fi
    wait_banner "$IMAP_PORT" "* OK" || start_failed
    wait_banner "$LMTP_PORT" "220" || start_failed
    wait_banner "$SMTP_PORT" "220" || start_failed
    wait_banner "$SUBMISSION_PORT" "220" || start_failed
    wait_port "$IMAPS_PORT" || start_failed
    wait_port "$SUBMISSIONS_PORT" || start_failed
    wait_port "$AUTH_PORT" || start_failed
    check_loopback_only "$SMTP_PORT" "$SUBMISSION_PORT" "$SUBMISSIONS_PORT" "$IMAP_PORT" \
        "$IMAPS_PORT" "$LMTP_PORT" "$AUTH_PORT"

    cat > "$STATE/mailstack.env.new" <<EOF
MAILSTACK_STATE_DIR=$STATE
MAILSTACK_HOST=127.0.0.1
MAILSTACK_SMTP_PORT=$SMTP_PORT
MAILSTACK_SUBMISSION_PORT=$SUBMISSION_PORT
MAILSTACK_SUBMISSIONS_PORT=$SUBMISSIONS_PORT
MAILSTACK_IMAP_PORT=$IMAP_PORT
MAILSTACK_IMAPS_PORT=$IMAPS_PORT
MAILSTACK_LMTP_PORT=$LMTP_PORT
MAILSTACK_AUTH_PORT=$AUTH_PORT
MAILSTACK_OAUTH_PORT=$OAUTH_PORT
MAILSTACK_CA_CERT=$STATE/tls/ca.pem
MAILSTACK_DOMAINS=$(echo "$DOMAINS" | tr ' ' ',')
MAILSTACK_MASTER_USER=$MASTER_USER
MAILSTACK_MASTER_PASSWORD=$MASTER_PASSWORD
MAILSTACK_USERS_FILE=$STATE/dovecot/users
MAILSTACK_EXTRA_USERS_FILE=$STATE/dovecot/extra-users
MAILSTACK_DOVECOT_PID=$(pid_from "$DOVECOT_PIDFILE")
MAILSTACK_POSTFIX_PID=$(pid_from "$POSTFIX_PIDFILE")
MAILSTACK_POSTFIX_CONFIG_DIR=$STATE/postfix/etc
MAILSTACK_DOVECOT_CONFIG=$STATE/dovecot/dovecot.conf
MAILSTACK_PIPE_DOMAIN=$PIPE_DOMAIN
MAILSTACK_PIPE_RECIPIENTS=$(echo "$PIPE_RECIPIENTS" | tr " " ",")
GUICHET_BIN=$GUICHET_BIN
GUICHET_PIPE_ROOT=$GUICHET_PIPE_ROOT
EOF
    mv "$STATE/mailstack.env.new" "$STATE/mailstack.env"

    local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    echo "mail stack up in ${ms} ms: state $STATE"
    echo "  SMTP        127.0.0.1:$SMTP_PORT   (no auth, STARTTLS offered; accepts @${DOMAINS// /, @}, @$PIPE_DOMAIN)"
    echo "  submission  127.0.0.1:$SUBMISSION_PORT   (STARTTLS required, AUTH PLAIN/LOGIN required)"
    echo "  submissions 127.0.0.1:$SUBMISSIONS_PORT   (implicit TLS, AUTH required)"
    echo "  IMAP        127.0.0.1:$IMAP_PORT   (STARTTLS available)"
    echo "  IMAPS       127.0.0.1:$IMAPS_PORT"
    local piped="*@$PIPE_DOMAIN"
    [ -z "$PIPE_RECIPIENTS" ] || piped="$(printf '%s@'"$PIPE_DOMAIN"' ' $PIPE_RECIPIENTS)(others: 550 user unknown)"
    echo "  pipe        $piped -> (as $PIPE_USER) $GUICHET_DELIVER --config $GUICHET_PIPE_ROOT/<local part>/guichet.toml"
    echo "  CA cert     $STATE/tls/ca.pem"
    echo "  users       $(echo "$USERS" | tr ' ' '\n' | sed 's/:/ \/ /' | paste -sd, - | sed 's/,/, /g')"
    echo "  master      <user>*$MASTER_USER / $MASTER_PASSWORD (reads any mailbox)"
    echo "  env file    $STATE/mailstack.env   logs: $STATE/logs/"
}

# ================================================================ main =====

case "${1:-}" in
    install) [ $# -eq 1 ] || usage; cmd_install ;;
    start)   [ $# -eq 2 ] || usage; cmd_start "$2" ;;
    stop)    [ $# -eq 2 ] || usage; cmd_stop "$2" ;;
    status)  [ $# -eq 2 ] || usage; cmd_status "$2" ;;
    *) usage ;;
esac
