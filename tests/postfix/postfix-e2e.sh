#!/usr/bin/env bash
# tests/postfix/postfix-e2e.sh [TRESOR_BIN]
#
# End-to-end test of `tresor serve` behind a real Postfix (Debian's `postfix` package), wired
# as in the ISPmail guide: Postfix hands mail for the virtual domain to tresor over LMTP
# (`virtual_transport = lmtp:...`) and checks SMTP AUTH against tresor's Dovecot-protocol auth
# socket (`smtpd_sasl_type = dovecot`, `smtpd_sasl_path = private/auth`).
#
# The Postfix instance is private and temporary: its own config_directory, queue_directory and
# data_directory under one temporary root, every listener on 127.0.0.1 (free ports picked at
# start), chroot off, nothing sent off the machine (default_transport is `error:`), its log in
# a file (maillog_file, via postlogd). /etc/postfix is only read (master.cf is copied); the
# system's own Postfix, if any, is neither touched nor needed.
#
#   a. SMTP AUTH on the submission-like port (PLAIN and LOGIN, Python smtplib): the right
#      password is accepted (235) and a message can then be sent; a wrong password or an
#      unknown user gets 535 and nothing can be sent; unauthenticated relaying is refused.
#   b. Mail through Postfix to a crypt=2 user (inbound port) and to a crypt=0 user (sent after
#      AUTH) arrives: `tresor fetch` returns the body with Postfix's and tresor's Received
#      headers; the crypt=2 user's file on disk starts with CRYPTED\x03\x07 and holds no
#      plaintext marker; the crypt=0 user's file is plaintext.
#   c. A recipient Postfix knows but tresor does not is refused by tresor's LMTP with
#      550 5.1.1 and bounced (Postfix log, and the bounce arrives in the sender's INBOX); an
#      address Postfix does not know is refused at RCPT time.
#   d. tresor's log holds no password (right or wrong) and no message text.
#   e. tresor stops cleanly on SIGTERM.
#
# Every check prints "ok - ..." or "not ok - ..." (details on "#" lines), the last line is
# "N passed, M failed"; the exit status is non-zero if M > 0. Logs are printed on failure.
#
# Must run as root (Postfix's master, and tresor binding into Postfix's private/ dir).
# Environment:
#   POSTFIX_E2E_KEEP=1   keep the temporary root for debugging
set -euo pipefail

START_NS=$(date +%s%N)
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
TRESOR=${1:-$REPO/target/debug/tresor}
case $TRESOR in /*) ;; *) TRESOR="$PWD/$TRESOR" ;; esac
DELIVERY_TIMEOUT=30 # seconds a message may take from SMTP to the store

PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); printf 'ok - %s\n' "$1"; }
notok() {
  FAIL=$((FAIL + 1))
  printf 'not ok - %s\n' "$1"
  shift
  local l
  for l in "$@"; do [ -n "$l" ] && printf '%s\n' "$l" | sed 's/^/#   /'; done
  return 0
}
summary() {
  local ms=$((($(date +%s%N) - START_NS) / 1000000))
  printf '# elapsed %d.%03ds\n' $((ms / 1000)) $((ms % 1000))
  printf '%d passed, %d failed\n' "$PASS" "$FAIL"
}
abort() { # a setup step failed: nothing after it can run
  notok "$@"
  dump_logs
  summary
  exit 1
}
dump_logs() {
  local f
  for f in "${PFLOG:-}" "${TLOG:-}"; do
    [ -n "$f" ] && [ -s "$f" ] || continue
    printf '# ---- %s (last 80 lines)\n' "$f"
    tail -n 80 "$f" | sed 's/^/# /'
  done
}

# --- prerequisites ------------------------------------------------------------
[ "$(id -u)" = 0 ] || abort "running as root (Postfix's master and the auth socket in its spool)"
export PATH="$PATH:/usr/sbin:/sbin"
for t in postfix postconf python3; do
  command -v "$t" >/dev/null || abort "tool $t is installed (apt-get install postfix python3)"
done
getent passwd postfix >/dev/null || abort "user postfix exists (Debian package postfix)"
getent group postdrop >/dev/null || abort "group postdrop exists (Debian package postfix)"
[ -x "$TRESOR" ] || abort "tresor binary $TRESOR exists (build: CARGO_BUILD_JOBS=1 cargo build -p tresor)"
PF_UID=$(id -u postfix)
PF_GID=$(id -g postfix)

ROOT=$(mktemp -d /tmp/tresor-postfix.XXXXXX)
chmod 755 "$ROOT" # tresor runs as the mail user (5000) after binding
PFCONF="$ROOT/postfix-etc"
SPOOL="$ROOT/spool"
PFDATA="$ROOT/postfix-data"
PFLOG="$ROOT/postfix.log"
TDATA="$ROOT/tresor"
TCONF="$ROOT/tresor.toml"
TLOG="$ROOT/tresor.log"
WORK="$ROOT/work"
mkdir -p "$PFCONF" "$WORK" "$SPOOL"  # queue_directory: root-owned; postfix makes the rest
TRESOR_PID=
PF_STARTED=0

cleanup() {
  local rc=$?
  set +e
  if [ "$PF_STARTED" = 1 ]; then
    local master="" pids=""
    [ -f "$SPOOL/pid/master.pid" ] && master=$(tr -dc 0-9 <"$SPOOL/pid/master.pid")
    # Snapshot the master's children now: they are the only leftovers a stop can leave.
    [ -n "$master" ] && pids=$(python3 "$PY" children "$master" 2>/dev/null)
    postfix -c "$PFCONF" stop >/dev/null 2>&1
    local _
    for _ in $(seq 50); do
      if [ -z "$master" ] || ! kill -0 "$master" 2>/dev/null; then break; fi
      sleep 0.1
    done
    for p in $master $pids; do kill -9 "$p" 2>/dev/null; done
  fi
  if [ -n "$TRESOR_PID" ] && kill -0 "$TRESOR_PID" 2>/dev/null; then
    kill -TERM "$TRESOR_PID"
    for _ in $(seq 50); do kill -0 "$TRESOR_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$TRESOR_PID" 2>/dev/null
  fi
  if [ "${POSTFIX_E2E_KEEP:-0}" = 1 ]; then
    echo "# kept $ROOT" >&2
  else
    rm -rf "$ROOT"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- python helpers -----------------------------------------------------------
PY="$WORK/helper.py"
cat >"$PY" <<'PYEOF'
import os, smtplib, socket, sys

def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports

def message(sender, rcpt, subject, body):
    return (f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{os.urandom(8).hex()}@postfix-e2e.test>\r\n\r\n{body}\r\n").encode()

def auth(smtp, mech, user, password):
    """Returns the reply code of AUTH."""
    smtp.user, smtp.password = user, password
    obj = {"PLAIN": smtp.auth_plain, "LOGIN": smtp.auth_login}[mech]
    try:
        code, _ = smtp.auth(mech, obj, initial_response_ok=(mech == "PLAIN"))
        return code
    except smtplib.SMTPAuthenticationError as e:
        print(f"AUTH {mech}: {e.smtp_code} {e.smtp_error.decode(errors='replace')}")
        return e.smtp_code

def socket_inodes(pid):
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes

def tcp_listeners(inodes):
    """ip:port of the listening TCP sockets among INODES ("*" marks a non-IPv4 one)."""
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] != "0A" or f[9] not in inodes:  # 0A: LISTEN
                continue
            hexip, hexport = f[1].split(":")
            if len(hexip) == 8:
                ip = socket.inet_ntoa(bytes.fromhex(hexip)[::-1])
            else:
                ip = "*ipv6:" + hexip
            out.append(f"{ip}:{int(hexport, 16)}")
    return sorted(out)

cmd = sys.argv[1]
if cmd == "listeners":  # PID PORT...: PID listens on exactly 127.0.0.1:PORT...
    found = tcp_listeners(socket_inodes(sys.argv[2]))
    print(*found)
    sys.exit(0 if set(found) == {f"127.0.0.1:{p}" for p in sys.argv[3:]} else 1)
elif cmd == "children":  # PID: its child processes
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open(f"/proc/{d}/stat").read()
            except OSError:
                continue
            if stat.rsplit(")", 1)[1].split()[1] == sys.argv[2]:
                print(d)
elif cmd == "ports":
    print(*free_ports(int(sys.argv[2])))
elif cmd == "banner":  # the server answers with 220
    s = smtplib.SMTP("127.0.0.1", int(sys.argv[2]), timeout=5)
    s.quit()
elif cmd == "ehlo-auth":  # the port offers AUTH with these mechanisms
    s = smtplib.SMTP("127.0.0.1", int(sys.argv[2]), timeout=15)
    s.ehlo("client.postfix-e2e.test")
    mechs = s.esmtp_features.get("auth", "")
    print(f"AUTH {mechs.strip()}")
    s.quit()
    sys.exit(0 if set(sys.argv[3:]) <= set(mechs.upper().split()) else 1)
elif cmd == "auth-send":  # PORT MECH USER PASS FROM TO SUBJECT BODY: AUTH must give 235, then send
    port, mech, user, pw, frm, to, subj, body = sys.argv[2:10]
    s = smtplib.SMTP("127.0.0.1", int(port), timeout=30)
    s.ehlo("client.postfix-e2e.test")
    code = auth(s, mech, user, pw)
    if code != 235:
        print(f"AUTH gave {code}, expected 235")
        sys.exit(1)
    if to != "-":
        refused = s.sendmail(frm, [to], message(frm, to, subj, body))
        if refused:
            print(f"refused: {refused}")
            sys.exit(1)
    s.quit()
elif cmd == "auth-fail":  # PORT MECH USER PASS TO: AUTH must give 535 and MAIL/RCPT must be refused
    port, mech, user, pw, to = sys.argv[2:7]
    s = smtplib.SMTP("127.0.0.1", int(port), timeout=30)
    s.ehlo("client.postfix-e2e.test")
    code = auth(s, mech, user, pw)
    if code != 535:
        print(f"AUTH gave {code}, expected 535")
        sys.exit(1)
    try:
        s.sendmail(user, [to], message(user, to, "must not arrive", "NOT-DELIVERED-" + pw))
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as e:
        print(f"send after failed AUTH refused: {e}")
    else:
        print("a message was accepted after a failed AUTH")
        sys.exit(1)
    s.quit()
elif cmd == "send":  # PORT FROM TO SUBJECT BODY: unauthenticated, must be accepted
    port, frm, to, subj, body = sys.argv[2:7]
    s = smtplib.SMTP("127.0.0.1", int(port), timeout=30)
    s.ehlo("client.postfix-e2e.test")
    refused = s.sendmail(frm, [to], message(frm, to, subj, body))
    s.quit()
    sys.exit(1 if refused else 0)
elif cmd == "send-refused":  # PORT FROM TO CODE: RCPT must be refused with CODE
    port, frm, to, want = sys.argv[2:6]
    s = smtplib.SMTP("127.0.0.1", int(port), timeout=30)
    s.ehlo("client.postfix-e2e.test")
    try:
        s.sendmail(frm, [to], message(frm, to, "refused", "refused"))
    except smtplib.SMTPRecipientsRefused as e:
        code, text = e.recipients[to]
        print(f"RCPT refused: {code} {text.decode(errors='replace')}")
        sys.exit(0 if str(code) == want else 1)
    print("accepted")
    sys.exit(1)
elif cmd == "crypted":  # FILE MARKER...: mail-crypt magic and none of the markers
    b = open(sys.argv[2], "rb").read()
    if not b.startswith(b"CRYPTED\x03\x07"):
        print(f"starts with {b[:9]!r}")
        sys.exit(1)
    leaked = [m for m in sys.argv[3:] if m.encode() in b]
    if leaked:
        print(f"plaintext in the sealed file: {leaked}")
        sys.exit(1)
elif cmd == "plain":  # FILE MARKER: plaintext file with the marker
    b = open(sys.argv[2], "rb").read()
    sys.exit(0 if not b.startswith(b"CRYPTED") and sys.argv[3].encode() in b else 1)
PYEOF

read -r SMTP_PORT SUB_PORT LMTP_PORT < <(python3 "$PY" ports 3)

# Users. Passwords are ASCII (smtplib encodes AUTH PLAIN as ASCII) with spaces and symbols.
RUN_ID=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
ALICE=alice@example.org # crypt=2
BOB=bob@example.org     # crypt=0
GHOST=ghost@example.org # known to Postfix only
ALICE_PW="Alice pw $RUN_ID %&\"'!"
BOB_PW="Bob pw $RUN_ID #;:"
WRONG_PW="wrong pw $RUN_ID"
MARK_ALICE="E2E-BODY-ALICE-$RUN_ID"
MARK_BOB="E2E-BODY-BOB-$RUN_ID"
SUBJ_ALICE="E2E-SUBJECT-ALICE-$RUN_ID"

# --- tresor -------------------------------------------------------------------
cat >"$TCONF" <<EOF
[paths]
data_dir = "$TDATA"

[lmtp]
listen = ["127.0.0.1:$LMTP_PORT"]

[auth]
# As in production: Postfix's private/ dir (smtpd_sasl_path = private/auth), owned by postfix.
listen = ["$SPOOL/private/auth"]
socket_mode = 0o660
socket_uid = $PF_UID
socket_gid = $PF_GID

[server]
hostname = "store.postfix-e2e.test"
shutdown_grace = 5
EOF

T() { "$TRESOR" --config "$TCONF" "$@"; }
out=$(printf '%s\n' "$ALICE_PW" | T user add "$ALICE" --password-stdin 2>&1) ||
  abort "tresor user add $ALICE (crypt=2)" "$out"
out=$(printf '%s\n' "$BOB_PW" | T user add "$BOB" --password-stdin --no-crypt 2>&1) ||
  abort "tresor user add $BOB (crypt=0)" "$out"

# --- postfix ------------------------------------------------------------------
# Debian's pristine master.cf (the one in /etc/postfix may carry a site's own services).
if [ -f /usr/share/postfix/master.cf.dist ]; then
  cp /usr/share/postfix/master.cf.dist "$PFCONF/master.cf"
else
  cp /etc/postfix/master.cf "$PFCONF/master.cf"
fi
printf '%s OK\n' "$ALICE" "$BOB" "$GHOST" >"$PFCONF/vmailbox"
cat >"$PFCONF/main.cf" <<EOF
# Private Postfix instance of tests/postfix/postfix-e2e.sh (temporary; loopback only).
compatibility_level = 3.6
queue_directory = $SPOOL
data_directory = $PFDATA
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-e2e
maillog_file = $PFLOG
maillog_file_prefixes = $ROOT

myhostname = mx.postfix-e2e.test
mydomain = postfix-e2e.test
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
biff = no
alias_maps =
alias_database =
local_recipient_maps =
relayhost =
# Nothing leaves this machine.
local_transport = error:local delivery is disabled in this test
default_transport = error:outbound mail is disabled in this test
relay_transport = error:outbound mail is disabled in this test
smtpd_tls_security_level = none
smtp_tls_security_level = none
lmtp_tls_security_level = none
smtpd_error_sleep_time = 0
smtpd_banner = \$myhostname ESMTP

# The ISPmail part (what an admin sets for tresor; see dist/postfix-main.cf.snippet).
virtual_mailbox_domains = example.org
virtual_mailbox_maps = texthash:$PFCONF/vmailbox
virtual_alias_maps =
virtual_transport = lmtp:inet:127.0.0.1:$LMTP_PORT
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_sasl_auth_enable = no
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
EOF
# master.cf: Debian's, without chroot (the test spool has no chroot jail) and without the
# port-25 listener; an inbound smtpd and a submission-like smtpd (SASL on) on free ports.
postconf -c "$PFCONF" -F '*/*/chroot = n'
postconf -c "$PFCONF" -MX smtp/inet
postconf -c "$PFCONF" -M "127.0.0.1:$SMTP_PORT/inet = 127.0.0.1:$SMTP_PORT inet n - n - - smtpd"
postconf -c "$PFCONF" -M "127.0.0.1:$SUB_PORT/inet = 127.0.0.1:$SUB_PORT inet n - n - - smtpd"
postconf -c "$PFCONF" -P "127.0.0.1:$SUB_PORT/inet/syslog_name=postfix-e2e/submission" \
  "127.0.0.1:$SUB_PORT/inet/smtpd_sasl_auth_enable=yes" \
  "127.0.0.1:$SUB_PORT/inet/smtpd_client_restrictions=permit_sasl_authenticated,reject" \
  "127.0.0.1:$SUB_PORT/inet/smtpd_relay_restrictions=permit_sasl_authenticated,reject" \
  "127.0.0.1:$SUB_PORT/inet/smtpd_sasl_authenticated_header=yes"

out=$(postfix -c "$PFCONF" check 2>&1) || abort "postfix check of the test instance" "$out"
# tresor first: the submission smtpd connects to the auth socket as soon as it starts
# (and Postfix throttles it for a minute if the socket is missing). `postfix check` above
# has made the spool, private/ included.
[ -d "$SPOOL/private" ] || abort "postfix made its private/ dir in $SPOOL"
NO_COLOR=1 "$TRESOR" --config "$TCONF" serve 2>"$TLOG" &
TRESOR_PID=$!
for _ in $(seq 100); do
  [ -S "$SPOOL/private/auth" ] && grep -q "LMTP listening" "$TLOG" 2>/dev/null && break
  kill -0 "$TRESOR_PID" 2>/dev/null || break
  sleep 0.1
done
if ! [ -S "$SPOOL/private/auth" ] || ! grep -q "LMTP listening" "$TLOG" 2>/dev/null; then
  abort "tresor serve started (auth socket $SPOOL/private/auth, LMTP 127.0.0.1:$LMTP_PORT)"
fi
sock_owner=$(stat -c '%u:%g %a' "$SPOOL/private/auth")
if [ "$sock_owner" = "$PF_UID:$PF_GID 660" ]; then
  ok "tresor serve started; auth socket in Postfix's private/ owned by postfix, mode 660"
else
  notok "auth socket owned by postfix with mode 660" "got $sock_owner"
fi

out=$(postfix -c "$PFCONF" start 2>&1) || abort "postfix -c $PFCONF start" "$out"
PF_STARTED=1
for _ in $(seq 50); do
  python3 "$PY" banner "$SMTP_PORT" 2>/dev/null && python3 "$PY" banner "$SUB_PORT" 2>/dev/null && break
  sleep 0.2
done
for port in "$SMTP_PORT" "$SUB_PORT"; do
  python3 "$PY" banner "$port" >/dev/null 2>&1 || abort "postfix answers on 127.0.0.1:$port"
done
master=$(tr -dc 0-9 <"$SPOOL/pid/master.pid" 2>/dev/null || true)
if listening=$(python3 "$PY" listeners "$master" "$SMTP_PORT" "$SUB_PORT" 2>&1); then
  ok "postfix test instance started (master pid $master), listening on loopback only: $listening"
else
  notok "postfix listens on 127.0.0.1:$SMTP_PORT and :$SUB_PORT only" \
    "master pid ${master:-unknown}: ${listening:-no listening socket}"
fi

# fetch_uid USER PASSWORD UID OUT: polls `tresor fetch` until the message is there.
fetch_uid() {
  local deadline=$(($(date +%s) + DELIVERY_TIMEOUT))
  while :; do
    if printf '%s\n' "$2" | T fetch "$1" --password-stdin --mailbox INBOX --uid "$3" >"$4" 2>"$4.err"; then
      return 0
    fi
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.5
  done
}
# mail_files USER: the mail files of USER's INBOX (new/ and cur/).
mail_files() { find "$TDATA/vmail/example.org/$1/Maildir/new" "$TDATA/vmail/example.org/$1/Maildir/cur" -type f 2>/dev/null | sort; }
pflog_tail() { tail -n 30 "$PFLOG" 2>/dev/null; }

# --- a. SMTP AUTH ---------------------------------------------------------------
if out=$(python3 "$PY" ehlo-auth "$SUB_PORT" PLAIN LOGIN 2>&1); then
  ok "submission port offers tresor's mechanisms ($out)"
else
  notok "submission port offers AUTH PLAIN LOGIN" "$out" "$(pflog_tail)"
fi
if out=$(python3 "$PY" auth-send "$SUB_PORT" PLAIN "$ALICE" "$ALICE_PW" "$ALICE" "$BOB" "hello bob" "$MARK_BOB" 2>&1); then
  ok "AUTH PLAIN with the right password: 235, and a message to $BOB is accepted"
else
  notok "AUTH PLAIN with the right password" "$out" "$(pflog_tail)"
fi
if out=$(python3 "$PY" auth-send "$SUB_PORT" LOGIN "$BOB" "$BOB_PW" - - - - 2>&1); then
  ok "AUTH LOGIN with the right password (crypt=0 user): 235"
else
  notok "AUTH LOGIN with the right password" "$out" "$(pflog_tail)"
fi
if out=$(python3 "$PY" auth-fail "$SUB_PORT" PLAIN "$BOB" "$WRONG_PW" "$BOB" 2>&1); then
  ok "AUTH PLAIN with a wrong password: 535, and MAIL/RCPT afterwards is refused"
else
  notok "AUTH PLAIN with a wrong password is refused" "$out" "$(pflog_tail)"
fi
if out=$(python3 "$PY" auth-fail "$SUB_PORT" PLAIN "nobody@example.org" "$WRONG_PW" "$BOB" 2>&1); then
  ok "AUTH PLAIN for an unknown user: 535"
else
  notok "AUTH PLAIN for an unknown user is refused" "$out" "$(pflog_tail)"
fi
if out=$(python3 "$PY" send-refused "$SMTP_PORT" "$ALICE" "someone@elsewhere.test" 554 2>&1); then
  ok "unauthenticated relaying is refused (${out#RCPT refused: })"
else
  notok "unauthenticated relaying is refused with 554" "$out"
fi

# --- b. delivery through Postfix into tresor ------------------------------------
if out=$(python3 "$PY" send "$SMTP_PORT" "carol@remote.test" "$ALICE" "$SUBJ_ALICE" "$MARK_ALICE" 2>&1); then
  ok "inbound SMTP to $ALICE (crypt=2) accepted by Postfix"
else
  notok "inbound SMTP to $ALICE accepted by Postfix" "$out" "$(pflog_tail)"
fi

A1="$WORK/alice-1.eml"
if fetch_uid "$ALICE" "$ALICE_PW" 1 "$A1"; then
  missing=()
  grep -qF "$MARK_ALICE" "$A1" || missing+=("body marker")
  grep -qF "Subject: $SUBJ_ALICE" "$A1" || missing+=("Subject")
  grep -q '^Return-Path: <carol@remote.test>' "$A1" || missing+=("Return-Path")
  grep -q "^Delivered-To: $ALICE" "$A1" || missing+=("Delivered-To")
  grep -qE '^Received: from mx\.postfix-e2e\.test \(\[127\.0\.0\.1\]\)$' "$A1" &&
    grep -qE '^[[:space:]]+by store\.postfix-e2e\.test with LMTP$' "$A1" ||
    missing+=("tresor's Received (from mx... by store... with LMTP)")
  grep -qE '^[[:space:]]+by mx\.postfix-e2e\.test \(Postfix\) with ESMTP id ' "$A1" || missing+=("Postfix's Received (with ESMTP)")
  if [ ${#missing[@]} -eq 0 ]; then
    ok "$ALICE's message arrived via LMTP: body, Return-Path, Delivered-To, both Received headers"
  else
    notok "$ALICE's message has everything" "missing: ${missing[*]}" "$(head -c 2000 "$A1")"
  fi
else
  notok "$ALICE's message arrived within ${DELIVERY_TIMEOUT}s" "$(cat "$A1.err")" "$(pflog_tail)"
fi
mapfile -t files < <(mail_files alice)
if [ ${#files[@]} -eq 1 ] && out=$(python3 "$PY" crypted "${files[0]}" "$MARK_ALICE" "$SUBJ_ALICE" "carol@remote.test" 2>&1); then
  ok "$ALICE's file on disk is sealed (CRYPTED\\x03\\x07, no plaintext marker)"
else
  notok "$ALICE's single file on disk is sealed without plaintext" "files: ${files[*]:-none}" "${out:-}"
fi
own=$([ ${#files[@]} -ge 1 ] && stat -c '%u:%g' "${files[0]}" || echo none)
if [ "$own" = 5000:5000 ]; then
  ok "the mail file is owned by the mail user 5000:5000"
else
  notok "the mail file is owned by the mail user 5000:5000" "owner $own"
fi

B1="$WORK/bob-1.eml"
if fetch_uid "$BOB" "$BOB_PW" 1 "$B1"; then
  missing=()
  grep -qF "$MARK_BOB" "$B1" || missing+=("body marker")
  grep -q "^Return-Path: <$ALICE>" "$B1" || missing+=("Return-Path")
  grep -qE '^[[:space:]]+by store\.postfix-e2e\.test with LMTP$' "$B1" || missing+=("tresor's Received")
  # ESMTPA: authenticated without TLS (the test runs no TLS; ESMTPSA with it).
  grep -qE '^[[:space:]]+by mx\.postfix-e2e\.test \(Postfix\) with ESMTPA id ' "$B1" || missing+=("Postfix's Received (with ESMTPA)")
  grep -qF "(Authenticated sender: $ALICE)" "$B1" || missing+=("Authenticated sender: $ALICE")
  if [ ${#missing[@]} -eq 0 ]; then
    ok "$BOB's message (sent after AUTH as $ALICE) arrived: body, ESMTPA Received with the authenticated sender, tresor's Received"
  else
    notok "$BOB's message has everything" "missing: ${missing[*]}" "$(head -c 2000 "$B1")"
  fi
else
  notok "$BOB's message arrived within ${DELIVERY_TIMEOUT}s" "$(cat "$B1.err")" "$(pflog_tail)"
fi
mapfile -t files < <(mail_files bob)
if [ ${#files[@]} -eq 1 ] && python3 "$PY" plain "${files[0]}" "$MARK_BOB"; then
  ok "$BOB's (crypt=0) file on disk is plaintext"
else
  notok "$BOB has one plaintext file on disk" "files: ${files[*]:-none}"
fi

# --- c. unknown recipients --------------------------------------------------------
if out=$(python3 "$PY" send-refused "$SMTP_PORT" "carol@remote.test" "nobody@example.org" 550 2>&1); then
  ok "an address in neither Postfix's map nor tresor is refused at RCPT (${out#RCPT refused: })"
else
  notok "an address Postfix does not know is refused at RCPT with 550" "$out"
fi
if out=$(python3 "$PY" auth-send "$SUB_PORT" PLAIN "$ALICE" "$ALICE_PW" "$ALICE" "$GHOST" "to the ghost" "E2E-GHOST-$RUN_ID" 2>&1); then
  ok "mail to $GHOST (in Postfix's map, not in tresor) accepted by Postfix"
else
  notok "mail to $GHOST accepted by Postfix" "$out" "$(pflog_tail)"
fi
deadline=$(($(date +%s) + DELIVERY_TIMEOUT))
until grep -q "to=<$GHOST>.*status=bounced" "$PFLOG" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; do sleep 0.5; done
line=$(grep "to=<$GHOST>.*status=bounced" "$PFLOG" 2>/dev/null | tail -n1 || true)
case $line in
*"said: 550 5.1.1"*"in reply to RCPT TO"*) ok "tresor's LMTP refused $GHOST with 550 5.1.1 and Postfix bounced it" ;;
*) notok "Postfix logs a bounce for $GHOST with tresor's 550 5.1.1" "${line:-no bounce logged}" "$(pflog_tail)" ;;
esac
A2="$WORK/alice-2.eml"
if fetch_uid "$ALICE" "$ALICE_PW" 2 "$A2" && grep -qF "$GHOST" "$A2" && grep -qF "5.1.1" "$A2" &&
  grep -q '^From: .*MAILER-DAEMON@mx\.postfix-e2e\.test' "$A2" && grep -q '^Return-Path: <>$' "$A2"; then
  ok "the bounce for $GHOST reached the sender $ALICE through tresor"
else
  notok "the bounce for $GHOST reaches $ALICE" "$(cat "$A2.err" 2>/dev/null)" "$(head -c 1500 "$A2" 2>/dev/null)"
fi
sent_to_bob=$(grep -c "to=<$BOB>.*status=sent" "$PFLOG" || true)
mapfile -t files < <(mail_files bob)
if [ ${#files[@]} -eq 1 ] && [ "$sent_to_bob" = 1 ]; then
  ok "nothing else arrived for $BOB (the send after a failed AUTH was not delivered)"
else
  notok "exactly one message for $BOB" "files: ${files[*]:-none}; Postfix deliveries: $sent_to_bob"
fi

# --- d. tresor's log ----------------------------------------------------------------
leaks=()
for secret in "$ALICE_PW" "$BOB_PW" "$WRONG_PW" "$MARK_ALICE" "$MARK_BOB" "$SUBJ_ALICE" "E2E-GHOST-$RUN_ID"; do
  grep -qF -- "$secret" "$TLOG" && leaks+=("$secret")
done
if [ ${#leaks[@]} -eq 0 ]; then
  ok "tresor's log has no password and no message text"
else
  notok "tresor's log has no password and no message text" "found: ${leaks[*]}"
fi
missing=()
grep -q 'SMTP AUTH ok' "$TLOG" || missing+=("SMTP AUTH ok")
grep -q 'SMTP AUTH failed' "$TLOG" || missing+=("SMTP AUTH failed")
grep -q 'delivered' "$TLOG" || missing+=("delivered")
if [ ${#missing[@]} -eq 0 ]; then
  ok "tresor logged the logins and deliveries"
else
  notok "tresor logged the logins and deliveries" "missing: ${missing[*]}"
fi

# --- e. shutdown ----------------------------------------------------------------------
kill -TERM "$TRESOR_PID"
rc=0
for _ in $(seq 150); do kill -0 "$TRESOR_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$TRESOR_PID" 2>/dev/null; then
  notok "tresor serve exits within 15 s of SIGTERM"
else
  wait "$TRESOR_PID" || rc=$?
  TRESOR_PID=
  if [ "$rc" = 0 ] && grep -q 'stopped' "$TLOG"; then
    ok "tresor serve stopped cleanly on SIGTERM (exit 0)"
  else
    notok "tresor serve stops cleanly on SIGTERM" "exit $rc" "$(tail -n 5 "$TLOG")"
  fi
fi

[ "$FAIL" -gt 0 ] && dump_logs
summary
[ "$FAIL" -eq 0 ]
