#!/usr/bin/env bash
# tests/interop/lifecycle-peer.sh [TRESOR_BIN]
#
# The key lifecycle against a real Dovecot 2.3 (mail_crypt) peer
# (../shared/peer/dovecot): after each tresor command, Dovecot logs the user in
# with the current password over IMAP and serves every message byte for byte,
# and doveadm fetch text gives the stored bytes.
#
#   1. tresor user add + deliver (crypt=2, secp521r1): Dovecot reads it
#   2. tresor user passwd OLD -> NEW: Dovecot reads with NEW, refuses OLD
#   3. tresor key recovery + user reset: Dovecot reads with the reset password
#   4. tresor key rotate: Dovecot reads; its active user key is tresor's new one;
#      every file is sealed to a folder key that is now active
#   5. a crypt=0 user: tresor mailbox encrypt, Dovecot reads (files sealed);
#      tresor mailbox decrypt, Dovecot reads (files plaintext again)
#   6. tresor key password --wrap argon2id: tresor still reads, Dovecot cannot
#      (the documented trade-off); --wrap dovecot: Dovecot reads again
#   7. with INTEROP_FAULTS=1 and a binary built with --features fault-injection:
#      rotate and encrypt aborted half-way (TRESOR_FAULT_AT), Dovecot reads every
#      message of the mixed state; passwd aborted after the hash switch, tresor
#      reads with the new password; each rerun finishes and Dovecot reads
#
# Every check prints "ok - ..." or "not ok - ..."; the last line is
# "N passed, M failed"; the exit status is non-zero if M > 0. Must run as root.
# INTEROP_IMAP_PORT / INTEROP_LMTP_PORT (default 21243 / 21124), INTEROP_KEEP=1.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
PEER="$REPO/../shared/peer/dovecot"
TRESOR=${1:-$REPO/target/debug/tresor}
case $TRESOR in /*) ;; *) TRESOR="$PWD/$TRESOR" ;; esac
IMAP_PORT=${INTEROP_IMAP_PORT:-21243}
LMTP_PORT=${INTEROP_LMTP_PORT:-21124}
export PEER_IMAP_PORT=$IMAP_PORT PEER_LMTP_PORT=$LMTP_PORT
START_NS=$(date +%s%N)

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
abort() { notok "$@"; summary; exit 1; }

[ "$(id -u)" = 0 ] || abort "running as root (the peer needs uid/gid 5000)"
for t in doveadm dovecot sqlite3 python3 cmp; do
  command -v "$t" >/dev/null || abort "tool $t is installed"
done
[ -x "$TRESOR" ] || abort "tresor binary $TRESOR exists"

ROOT=$(mktemp -d /tmp/tresor-lifecycle.XXXXXX)
chmod 755 "$ROOT"
WORK="$ROOT/work"
mkdir -p "$WORK"
cleanup() {
  local rc=$?
  [ -f "$ROOT/run/master.pid" ] && "$PEER/down.sh" "$ROOT" >/dev/null 2>&1 || true
  if [ "${INTEROP_KEEP:-0}" = 1 ]; then echo "# kept $ROOT" >&2; else rm -rf "$ROOT"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
CONF="$ROOT/dovecot.conf"

"$PEER/up.sh" "$ROOT" "$IMAP_PORT" "$LMTP_PORT" >"$WORK/up.log" 2>&1 ||
  abort "Dovecot peer starts" "$(tail -n 20 "$WORK/up.log")"
ok "Dovecot peer up ($(dovecot --version | cut -d' ' -f1), imap $IMAP_PORT)"

TCONF="$WORK/tresor.toml"
cat >"$TCONF" <<CONF
[userdb]
url = "sqlite:$ROOT/db/mailserver.sqlite"

[mail]
home = "$ROOT/vmail/%d/%n"
uid = 5000
gid = 5000
CONF
tres() { "$TRESOR" --config "$TCONF" "$@"; }
dv() { doveadm -c "$CONF" "$@"; }
errtail() { [ -s "$1" ] && tail -n 5 "$1" | sed 's/^/stderr: /'; true; }
homeof() { local e=$1; echo "$ROOT/vmail/${e#*@}/${e%@*}"; }

# run LABEL STDIN CMD...: a tresor command that must succeed
run() {
  local label=$1 input=$2 rc=0
  shift 2
  printf '%s' "$input" | tres "$@" >"$WORK/run.out" 2>"$WORK/run.err" || rc=$?
  if [ "$rc" = 0 ]; then
    ok "$label"
  else
    notok "$label" "exit $rc" "$(errtail "$WORK/run.err")"
  fi
}

M="$WORK/msgs"
mkdir -p "$M"
printf 'From: a@example.net\nSubject: one\n\nfirst message\n' >"$M/1.eml"
printf 'From: b@example.net\nSubject: =?UTF-8?Q?zw=C3=B6lf?=\nContent-Type: text/plain; charset=utf-8\n\nGrüße, zweite Nachricht\n.dot line\n' >"$M/2.eml"
printf 'From: c@example.net\nSubject: archived\n\nin Archive\nno final newline' >"$M/3.eml"

# deliver USER: 1 and 2 into INBOX, 3 into Archive; remembers "MAILBOX UID FILE"
deliver() {
  local u=$1 uid
  : >"$WORK/sent.$u"
  tres mailbox create "$u" Archive >/dev/null
  for spec in "INBOX 1" "INBOX 2" "Archive 3"; do
    set -- $spec
    uid=$(tres deliver "$u" --mailbox "$1" <"$M/$2.eml")
    echo "$1 $uid $M/$2.eml" >>"$WORK/sent.$u"
  done
}

# dovecot_reads LABEL USER PW: IMAP login with PW, BODY[] of every message == sent (CRLF),
# doveadm fetch text == sent (LF)
dovecot_reads() {
  local label=$1 u=$2 pw=$3 mb uid f bad=""
  for mb in INBOX Archive; do
    rm -rf "$WORK/imap.$mb"
    if ! python3 "$PEER/client.py" fetch --user "$u" --password "$pw" --mailbox "$mb" \
      --out "$WORK/imap.$mb" >"$WORK/imap.out" 2>"$WORK/imap.err"; then
      notok "$label: Dovecot IMAP login as $u and FETCH $mb" "$(errtail "$WORK/imap.err")"
      return 0
    fi
  done
  while read -r mb uid f; do
    python3 -c 'import re,sys; sys.stdout.buffer.write(re.sub(rb"(?<!\r)\n", b"\r\n", open(sys.argv[1],"rb").read()))' "$f" >"$WORK/want.imap"
    cmp -s "$WORK/want.imap" "$WORK/imap.$mb/$uid.eml" || bad="$bad IMAP:$mb/$uid"
    dv -o "plugin/mail_crypt_private_password=$pw" -f pager fetch -u "$u" text mailbox "$mb" uid "$uid" \
      >"$WORK/st.raw" 2>"$WORK/st.err" || bad="$bad doveadm:$mb/$uid"
    # doveadm -f pager prints "text:\n" + the bytes + a form feed line
    python3 -c '
import sys
b = open(sys.argv[1], "rb").read()
b = b[len(b"text:\n"):] if b.startswith(b"text:\n") else b
b = b[:-2] if b.endswith(b"\f\n") else b
sys.exit(0 if b.rstrip(b"\n") == open(sys.argv[2], "rb").read().rstrip(b"\n") else 1)' "$WORK/st.raw" "$f" || bad="$bad text:$mb/$uid"
  done <"$WORK/sent.$u"
  if [ -z "$bad" ]; then
    ok "$label: Dovecot logs $u in with the current password and serves all $(wc -l <"$WORK/sent.$u") messages byte for byte"
  else
    notok "$label: Dovecot serves every message of $u" "differs:$bad" "$(errtail "$WORK/st.err")"
  fi
}

# dovecot_refuses LABEL USER PW: IMAP login with PW fails
dovecot_refuses() {
  if python3 "$PEER/client.py" fetch --user "$2" --password "$3" --mailbox INBOX \
    --out "$WORK/imap.refused" >/dev/null 2>&1; then
    notok "$1: Dovecot refuses the old password of $2"
  else
    ok "$1: Dovecot refuses the old password of $2"
  fi
}

sealed_files() { # HOME: "sealed plain" counts of message files
  local s=0 p=0 f
  while IFS= read -r f; do
    if [ "$(head -c 7 "$f")" = CRYPTED ]; then s=$((s + 1)); else p=$((p + 1)); fi
  done < <(find "$1/Maildir" -path '*/cur/*' -o -path '*/new/*' -type f)
  echo "$s $p"
}

U=life@example.org
PW1='first pass wörd'
PW2='second password'
PW3='after the reset'

echo "# 1. tresor makes and fills the user"
run "tresor user add $U (crypt=2)" "$PW1
" user add "$U" --password-stdin
deliver "$U"
dovecot_reads "c1" "$U" "$PW1"

echo "# 2. passwd"
run "tresor user passwd $U" "$PW1
$PW2
" user passwd "$U"
dovecot_reads "c2" "$U" "$PW2"
dovecot_refuses "c2" "$U" "$PW1"

echo "# 3. recovery code and reset"
run "tresor key recovery $U" "$PW2
" key recovery "$U" --password-stdin
CODE=$(tr -d '\n' <"$WORK/run.out")
run "tresor user reset $U with the code" "$CODE
$PW3
" user reset "$U" --recovery-code-stdin
dovecot_reads "c3" "$U" "$PW3"
dovecot_refuses "c3" "$U" "$PW2"

echo "# 4. rotate"
before=$(tres key list "$U" | awk '$4 == "user" && $3 == "yes" { print $1 }')
run "tresor key rotate $U" "$PW3
" key rotate "$U" --password-stdin
after=$(tres key list "$U" | awk '$4 == "user" && $3 == "yes" { print $1 }')
dove=$({ dv -f tab mailbox cryptokey list -U -u "$U" 2>/dev/null || true; } | awk -F '\t' 'NR > 1 && $2 == "yes" { print $3 }')
if [ -n "$after" ] && [ "$after" != "$before" ] && [ "$dove" = "$after" ]; then
  ok "c4: the active user key changed ($before -> $after) and Dovecot sees the new one"
else
  notok "c4: Dovecot's active user key is tresor's new one" "before '$before' after '$after' doveadm '$dove'"
fi
dovecot_reads "c4" "$U" "$PW3"
run "c4: tresor mailbox verify $U after rotate" "$PW3
" mailbox verify "$U" --password-stdin

echo "# 5. encrypt and decrypt a crypt=0 user"
P=plainlife@example.org
PWP='plain user pw'
run "tresor user add $P --no-crypt" "$PWP
" user add "$P" --password-stdin --no-crypt
deliver "$P"
dovecot_reads "c5-plain" "$P" "$PWP"
run "tresor mailbox encrypt $P" "$PWP
" mailbox encrypt "$P" --password-stdin
counts=$(sealed_files "$(homeof "$P")")
[ "$counts" = "3 0" ] && ok "c5: all 3 message files are sealed" || notok "c5: all message files sealed" "sealed/plain: $counts"
crypt=$(sqlite3 "$ROOT/db/mailserver.sqlite" "SELECT crypt FROM virtual_users WHERE email = '$P'")
[ "$crypt" = 2 ] && ok "c5: crypt=2 in the userdb" || notok "c5: crypt=2 in the userdb" "crypt=$crypt"
dovecot_reads "c5-encrypted" "$P" "$PWP"
printf 'From: d@example.net\nSubject: after encrypt\n\nDovecot sealed this one\n' >"$M/4.eml"
python3 "$PEER/client.py" deliver --to "$P" "$M/4.eml" >/dev/null 2>&1 || true
run "c5: tresor mailbox verify $P (with a message Dovecot delivered after the encrypt)" "$PWP
" mailbox verify "$P" --password-stdin
run "tresor mailbox decrypt $P" "$PWP
" mailbox decrypt "$P" --password-stdin
counts=$(sealed_files "$(homeof "$P")")
[ "$counts" = "0 4" ] && ok "c5: all 4 message files are plaintext again" || notok "c5: all files plaintext" "sealed/plain: $counts"
dovecot_reads "c5-decrypted" "$P" "$PWP"

echo "# 6. the argon2id wrap and back"
run "tresor key password $U --wrap argon2id" "$PW3
" key password "$U" --wrap argon2id
run "c6: tresor mailbox verify $U with the argon2id wrap" "$PW3
" mailbox verify "$U" --password-stdin
if python3 "$PEER/client.py" fetch --user "$U" --password "$PW3" --mailbox INBOX \
  --out "$WORK/imap.argon" >/dev/null 2>&1 && [ -s "$WORK/imap.argon/1.eml" ]; then
  notok "c6: Dovecot cannot open argon2id-wrapped keys (it served a message)"
else
  ok "c6: Dovecot cannot open argon2id-wrapped keys (as documented)"
fi
run "tresor key password $U --wrap dovecot" "$PW3
" key password "$U" --wrap dovecot
dovecot_reads "c6" "$U" "$PW3"

if [ "${INTEROP_FAULTS:-0}" = 1 ]; then
  echo "# 7. crashed half-way (the binary has the test-only fault hook)"
  # crash LABEL FAULT STDIN CMD...: the command aborts at FAULT
  crash() {
    local label=$1 at=$2 input=$3 rc=0
    shift 3
    printf '%s' "$input" | TRESOR_FAULT_AT=$at tres "$@" >/dev/null 2>"$WORK/crash.err" || rc=$?
    if [ "$rc" = 134 ] && grep -q "fault injected at $at" "$WORK/crash.err"; then
      ok "$label: tresor $1 $2 aborted at $at"
    else
      notok "$label: tresor $1 $2 aborted at $at" "exit $rc" "$(errtail "$WORK/crash.err")"
    fi
  }
  F=crash@example.org
  PWF='crash pw one'
  PWF2='crash pw two'
  run "tresor user add $F (crypt=2)" "$PWF
" user add "$F" --password-stdin
  deliver "$F"
  # rotate:5 = journal, new keys, message 1 re-sealed (tmp, rename), message 2's tmp written
  crash c7-rotate rotate:5 "$PWF
" key rotate "$F" --password-stdin
  [ -f "$(homeof "$F")/Maildir/tresor-rotate" ] && ok "c7-rotate: the journal is there" ||
    notok "c7-rotate: the journal is there"
  dovecot_reads "c7-rotate-crashed" "$F" "$PWF"
  run "c7-rotate: tresor key rotate again finishes" "$PWF
" key rotate "$F" --password-stdin
  dovecot_reads "c7-rotate-finished" "$F" "$PWF"
  # passwd:3 = new wraps staged, login hash switched, not yet committed
  crash c7-passwd passwd:3 "$PWF
$PWF2
" user passwd "$F"
  run "c7-passwd: tresor opens every message with the new password already" "$PWF2
" mailbox verify "$F" --password-stdin
  run "c7-passwd: tresor user passwd again finishes" "$PWF
$PWF2
" user passwd "$F"
  dovecot_reads "c7-passwd-finished" "$F" "$PWF2"
  FP=crashplain@example.org
  run "tresor user add $FP --no-crypt" "$PWF
" user add "$FP" --password-stdin --no-crypt
  deliver "$FP"
  # encrypt:5 = keys, crypt=2, message 1 sealed (tmp, rename), message 2's tmp written
  crash c7-encrypt encrypt:5 "$PWF
" mailbox encrypt "$FP" --password-stdin
  counts=$(sealed_files "$(homeof "$FP")")
  [ "$counts" = "1 2" ] && ok "c7-encrypt: 1 file sealed, 2 still plaintext" ||
    notok "c7-encrypt: 1 file sealed, 2 still plaintext" "sealed/plain: $counts"
  dovecot_reads "c7-encrypt-crashed" "$FP" "$PWF"
  run "c7-encrypt: tresor mailbox encrypt again finishes" "$PWF
" mailbox encrypt "$FP" --password-stdin
  counts=$(sealed_files "$(homeof "$FP")")
  [ "$counts" = "3 0" ] && ok "c7-encrypt: all 3 files sealed" || notok "c7-encrypt: all sealed" "sealed/plain: $counts"
  dovecot_reads "c7-encrypt-finished" "$FP" "$PWF"
fi

summary
[ "$FAIL" = 0 ]
