#!/usr/bin/env bash
# tests/interop/dovecot-peer.sh [TRESOR_BIN]
#
# Interoperability test of tresor against a real Dovecot 2.3 (mail_crypt) peer:
# the harness in ../shared/peer/dovecot (relative to the repository root).
#
#   1. Dovecot -> tresor: mail delivered by Dovecot LMTP (Dovecot-made user key)
#      opens with `tresor file open` byte-identical to what Dovecot returns.
#   2. tresor -> Dovecot: `tresor file seal` files put into Maildir/new are read
#      by Dovecot (doveadm stored text and IMAP BODY[]) byte-identical.
#   3. Keys made by `tresor key generate` (user keys secp521r1, prime256v1,
#      secp384r1; a folder key) are used by Dovecot LMTP/IMAP/doveadm.
#   4. Folders made by Dovecot (IMAP CREATE/APPEND, "Archive", "Entwürfe")
#      open with tresor, and tresor seals into them.
#   5. A tampered (and a truncated) sealed file is refused.
#   6. A home made by tresor (`user add` on the peer's own userdb, `deliver`,
#      `mailbox create`) is read by Dovecot: IMAP, doveadm, keys; Dovecot's LMTP
#      delivery and IMAP APPEND into it are read by `tresor fetch`.
#
# Every check prints "ok - ..." or "not ok - ..." (details on "#" lines), the
# last line is "N passed, M failed"; the exit status is non-zero if M > 0.
#
# Must run as root (the peer runs mail as uid/gid 5000, which up.sh creates).
# Environment:
#   INTEROP_IMAP_PORT / INTEROP_LMTP_PORT  peer ports (default 21143 / 21024, so
#                                          a vector replay on 20143/20024 is not disturbed)
#   INTEROP_KEEP=1                         keep the temporary root for debugging
set -euo pipefail

START_NS=$(date +%s%N)
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
PEER="$REPO/../shared/peer/dovecot"
TRESOR=${1:-$REPO/target/debug/tresor}
case $TRESOR in /*) ;; *) TRESOR="$PWD/$TRESOR" ;; esac
IMAP_PORT=${INTEROP_IMAP_PORT:-21143}
LMTP_PORT=${INTEROP_LMTP_PORT:-21024}
export PEER_IMAP_PORT=$IMAP_PORT PEER_LMTP_PORT=$LMTP_PORT
VMAIL=5000

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
diag() { sed 's/^/# /'; }
summary() {
  local ms=$((($(date +%s%N) - START_NS) / 1000000))
  printf '# elapsed %d.%03ds\n' $((ms / 1000)) $((ms % 1000))
  printf '%d passed, %d failed\n' "$PASS" "$FAIL"
}
abort() { # a setup step failed: nothing after it can run
  notok "$@"
  summary
  exit 1
}

# --- prerequisites ------------------------------------------------------------
[ "$(id -u)" = 0 ] || abort "running as root (the peer needs uid/gid $VMAIL)"
for t in doveadm dovecot doveconf sqlite3 python3 cmp; do
  command -v "$t" >/dev/null || abort "tool $t is installed"
done
[ -x "$TRESOR" ] || abort "tresor binary $TRESOR exists (build: CARGO_BUILD_JOBS=1 cargo build -p tresor)"
for f in up.sh add-user.sh down.sh client.py; do
  [ -f "$PEER/$f" ] || abort "peer script $PEER/$f exists"
done

ROOT=$(mktemp -d /tmp/tresor-interop.XXXXXX)
chmod 755 "$ROOT"
WORK="$ROOT/work"
mkdir -p "$WORK"
cleanup() {
  local rc=$?
  if [ -f "$ROOT/run/master.pid" ]; then
    "$PEER/down.sh" "$ROOT" >"$WORK/down.log" 2>&1 || { echo "# down.sh $ROOT failed:" >&2; cat "$WORK/down.log" >&2; }
  fi
  if [ "${INTEROP_KEEP:-0}" = 1 ]; then
    echo "# kept $ROOT" >&2
  else
    rm -rf "$ROOT"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
CONF="$ROOT/dovecot.conf"

# --- python helpers (byte-level work) ----------------------------------------
PY="$WORK/helper.py"
cat >"$PY" <<'PYEOF'
import base64, hashlib, random, re, sys

def rd(p):
    with open(p, "rb") as f:
        return f.read()

def wr(p, b):
    with open(p, "wb") as f:
        f.write(b)

def hexctx(b, off):
    s = max(0, off - 8)
    return b[s:off + 8].hex(" ") + f"  (from offset {s})"

cmd = sys.argv[1]
if cmd == "diff":  # describe how ACTUAL differs from EXPECTED
    e, a = rd(sys.argv[2]), rd(sys.argv[3])
    n = min(len(e), len(a))
    off = next((i for i in range(n) if e[i] != a[i]), n)
    print(f"expected {len(e)} bytes (sha256 {hashlib.sha256(e).hexdigest()[:16]}), "
          f"actual {len(a)} bytes (sha256 {hashlib.sha256(a).hexdigest()[:16]})")
    if off == n and len(e) != len(a):
        print(f"first difference at offset {off}: one is a prefix of the other")
    else:
        print(f"first difference at offset {off}")
    print("expected: " + hexctx(e, off))
    print("actual:   " + hexctx(a, off))
elif cmd == "imap":  # what IMAP BODY[] gives for stored bytes: bare LF -> CRLF, NUL -> 0x80
    b = re.sub(rb"(?<!\r)\n", b"\r\n", rd(sys.argv[2]))
    wr(sys.argv[3], b.replace(b"\0", b"\x80"))
elif cmd == "lf":  # CRLF -> LF (what Dovecot stores for LMTP/APPEND input)
    wr(sys.argv[3], rd(sys.argv[2]).replace(b"\r\n", b"\n"))
elif cmd == "strip-text":  # doveadm -f pager fetch text: "text:\n" + stored bytes
    b = rd(sys.argv[2])
    if not b.startswith(b"text:\n"):
        print(f"doveadm output does not start with 'text:\\n': {b[:40]!r}")
        sys.exit(1)
    wr(sys.argv[3], b[6:])
elif cmd == "endswith":  # A ends with B (after LF-normalising B)
    a, b = rd(sys.argv[2]), rd(sys.argv[3]).replace(b"\r\n", b"\n")
    sys.exit(0 if a.endswith(b) and len(b) > 0 else 1)
elif cmd == "flip":  # copy IN to OUT with the middle byte inverted
    b = bytearray(rd(sys.argv[2]))
    b[len(b) // 2] ^= 0xFF
    wr(sys.argv[3], bytes(b))
    print(len(b) // 2)
elif cmd == "truncate":  # copy the first half of IN to OUT
    b = rd(sys.argv[2])
    wr(sys.argv[3], b[: len(b) // 2])
elif cmd == "big":  # ~2 MB message with a base64 body of pseudo-random bytes (LF)
    rnd = random.Random(20231129)
    raw = rnd.randbytes(1_500_000)
    body = base64.encodebytes(raw)  # 76-column lines, LF
    hdr = (b"From: Big Sender <big@example.net>\nTo: <dove@example.org>\n"
           b"Subject: 2 MB attachment\nMIME-Version: 1.0\n"
           b"Content-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\n"
           b"Content-Type: text/plain\n\nsee attachment\n--b1\n"
           b"Content-Type: application/octet-stream; name=\"r.bin\"\n"
           b"Content-Transfer-Encoding: base64\n\n")
    wr(sys.argv[2], hdr + body + b"--b1--\n")
elif cmd == "pemset":  # "Public ID: X" + PEM blocks -> sorted "X sha256(pem)" lines
    t = rd(sys.argv[2]).decode()
    out = []
    for m in re.finditer(r"Public ID: ([0-9a-f]+)\s*\n(?:Error:[^\n]*\n)?"
                         r"(-----BEGIN PRIVATE KEY-----\n.*?-----END PRIVATE KEY-----)", t, re.S):
        out.append(f"{m.group(1)} {hashlib.sha256(m.group(2).strip().encode()).hexdigest()[:16]}")
    print("\n".join(sorted(out)))
else:
    sys.exit(f"helper: unknown command {cmd}")
PYEOF
py() { python3 "$PY" "$@"; }

# same WHAT EXPECTED_FILE ACTUAL_FILE: byte comparison as a check
same() {
  if [ -f "$2" ] && [ -f "$3" ] && cmp -s -- "$2" "$3"; then
    ok "$1"
  elif [ ! -f "$2" ] || [ ! -f "$3" ]; then
    notok "$1" "missing file: $([ -f "$2" ] || echo "$2") $([ -f "$3" ] || echo "$3")"
  else
    notok "$1" "$(py diff "$2" "$3")"
  fi
}
sz() { stat -c %s -- "$1"; }
# S=<size> from a Maildir file name ("" if none)
s_of() {
  local b=${1##*/}
  b=${b%%:*}
  case ",$b," in *,S=*) b=${b#*,S=}; echo "${b%%,*}" ;; *) echo "" ;; esac
}
# mail files of a Maildir folder (new/ and cur/), one per line, sorted
mailfiles() { { find "$1/new" "$1/cur" -maxdepth 1 -type f 2>/dev/null || true; } | sort; }
count_mail() { mailfiles "$1" | wc -l; }

# wait_mail DIR N: wait (up to 15 s) until DIR/{new,cur} hold at least N files
wait_mail() {
  local i
  for i in $(seq 1 150); do
    [ "$(count_mail "$1")" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

dv() { doveadm -c "$CONF" "$@"; }

# uidmap USER PW MAILBOX OUT: "uid<TAB>guid" lines (this also makes Dovecot sync the folder)
uidmap() {
  dv -o "plugin/mail_crypt_private_password=$2" -f tab fetch -u "$1" "uid guid" mailbox "$3" all \
    >"$WORK/uidmap.raw" 2>"$WORK/uidmap.err" || return 1
  tail -n +2 "$WORK/uidmap.raw" >"$4"
}
# uid_of MAPFILE MAILFILE: Dovecot's uid for a Maildir file (its GUID is the name's base)
uid_of() {
  local base=${2##*/}
  base=${base%%:*}
  awk -F '\t' -v b="$base" '$2 == b || index(b, $2 ",") == 1 { print $1; exit }' "$1"
}
# stored USER PW MAILBOX UID OUT: what `doveadm fetch text` returns (the decrypted stored bytes)
stored() {
  rm -f "$5"
  dv -o "plugin/mail_crypt_private_password=$2" -f pager fetch -u "$1" text mailbox "$3" uid "$4" \
    >"$WORK/stored.raw" 2>"$WORK/stored.err" || return 1
  py strip-text "$WORK/stored.raw" "$5" >>"$WORK/stored.err"
}
# imap_fetch USER PW MAILBOX_IMAP OUTDIR: IMAP UID FETCH 1:* BODY.PEEK[] -> OUTDIR/UID.eml
imap_fetch() {
  rm -rf "$4"
  python3 "$PEER/client.py" fetch --user "$1" --password "$2" --mailbox "$3" --out "$4" \
    >"$WORK/imap.out" 2>"$WORK/imap.err"
}
# topen HOME PW FILE OUT: tresor file open --password-stdin; sets RC, stderr in $WORK/topen.err
topen() {
  RC=0
  printf '%s\n' "$2" | "$TRESOR" file open --home "$1" --password-stdin "$3" >"$4" 2>"$WORK/topen.err" || RC=$?
}
errtail() { [ -s "$1" ] && tail -n 5 "$1" | sed 's/^/stderr: /'; true; }

# verify_dovecot_mail USER PW HOME MB_UTF8 MB_IMAP FOLDERDIR LABEL EXPECTED_COUNT
# For every mail file Dovecot wrote into FOLDERDIR: Dovecot's stored bytes have the
# S= size of the name, tresor file open gives exactly them, IMAP gives them with CRLF.
verify_dovecot_mail() {
  local user=$1 pw=$2 home=$3 mb=$4 mbi=$5 dir=$6 label=$7 want=$8
  local map="$WORK/map.$label" imapdir="$WORK/imap.$label" f uid s n=0
  if ! uidmap "$user" "$pw" "$mb" "$map"; then
    notok "$label: doveadm fetch uid/guid of $mb" "$(errtail "$WORK/uidmap.err")"
    return 0
  fi
  if ! imap_fetch "$user" "$pw" "$mbi" "$imapdir"; then
    notok "$label: IMAP login + FETCH of $mbi as $user" "$(errtail "$WORK/imap.err")"
  fi
  n=$(count_mail "$dir")
  if [ "$n" = "$want" ]; then ok "$label: $n mail files in ${dir#"$ROOT"/}"; else
    notok "$label: $want mail files in ${dir#"$ROOT"/}" "found $n"; fi
  while IFS= read -r f; do
    uid=$(uid_of "$map" "$f")
    if [ -z "$uid" ]; then notok "$label: Dovecot knows ${f##*/}" "not in: $(tr '\n' ' ' <"$map")"; continue; fi
    if ! stored "$user" "$pw" "$mb" "$uid" "$WORK/st"; then
      notok "$label: doveadm fetch text uid $uid" "$(errtail "$WORK/stored.err")"
      continue
    fi
    s=$(s_of "$f")
    if [ -n "$s" ] && [ "$s" = "$(sz "$WORK/st")" ]; then
      ok "$label: uid $uid doveadm stored text is S=$s bytes (no added newline)"
    else
      notok "$label: uid $uid doveadm stored text size matches S= of ${f##*/}" "stored $(sz "$WORK/st") bytes"
    fi
    topen "$home" "$pw" "$f" "$WORK/op"
    if [ "$RC" != 0 ]; then
      notok "$label: tresor file open uid $uid (${f##*/})" "exit $RC" "$(errtail "$WORK/topen.err")"
    else
      same "$label: tresor file open == Dovecot stored bytes, uid $uid ($(sz "$WORK/st") bytes)" "$WORK/st" "$WORK/op"
    fi
    if [ -f "$imapdir/$uid.eml" ]; then
      py imap "$WORK/st" "$WORK/st.imap"
      same "$label: IMAP BODY[] uid $uid == stored bytes with CRLF" "$WORK/st.imap" "$imapdir/$uid.eml"
    else
      notok "$label: IMAP returned uid $uid"
    fi
  done < <(mailfiles "$dir")
}

SEQ=0
# seal_into HOME MB_UTF8 FOLDERDIR INPUT LABEL: tresor file seal INPUT, deliver the
# result Maildir-style (tmp/ then rename into new/) under a Dovecot-style unique name
# with S=<size>; owner vmail. Sets SEALED (the base name). Returns 1 on failure.
seal_into() {
  local home=$1 mb=$2 dir=$3 in=$4 label=$5 now name rc=0
  SEQ=$((SEQ + 1))
  now=$(date +%s.%N)
  name="${now%.*}.M$((10#${now#*.} / 1000))P$$Q$SEQ.interop,S=$(sz "$in")"
  "$TRESOR" file seal --home "$home" --mailbox "$mb" "$in" >"$dir/tmp/$name" 2>"$WORK/seal.err" || rc=$?
  if [ "$rc" != 0 ]; then
    notok "$label: tresor file seal --mailbox $mb ${in##*/}" "exit $rc" "$(errtail "$WORK/seal.err")"
    rm -f "$dir/tmp/$name"
    return 1
  fi
  chown $VMAIL:$VMAIL "$dir/tmp/$name"
  chmod 600 "$dir/tmp/$name"
  cp -- "$dir/tmp/$name" "$WORK/sealed.$name"
  mv -- "$dir/tmp/$name" "$dir/new/$name"
  if [ "$(sz "$in")" = 0 ]; then
    [ "$(sz "$dir/new/$name")" = 0 ] && ok "$label: tresor file seal ${in##*/} (empty in, empty out, as Dovecot writes)" \
      || notok "$label: tresor file seal of empty input gives an empty file" "got $(sz "$dir/new/$name") bytes"
  elif head -c 9 "$dir/new/$name" | cmp -s - <(printf 'CRYPTED\003\007'); then
    ok "$label: tresor file seal ${in##*/} ($(sz "$in") -> $(sz "$dir/new/$name") bytes, CRYPTED magic)"
  else
    notok "$label: tresor file seal ${in##*/} writes a CRYPTED file" "$(head -c 16 "$dir/new/$name" | od -An -c)"
  fi
  SEALED=$name
}
# find_mail DIR BASE: the current path of a Maildir file (new/BASE or cur/BASE:2,...)
find_mail() {
  if [ -f "$1/new/$2" ]; then echo "$1/new/$2"; return; fi
  { find "$1/cur" -maxdepth 1 -type f -name "$2:*" 2>/dev/null || true; } | sed -n 1p
}
# verify_sealed USER PW HOME MB_UTF8 MB_IMAP FOLDERDIR LABEL BASE INPUT [nul]
# (needs $WORK/map.LABEL and $WORK/imap.LABEL from a uidmap + imap_fetch after sealing)
verify_sealed() {
  local user=$1 pw=$2 home=$3 mb=$4 mbi=$5 dir=$6 label=$7 base=$8 in=$9 f uid what
  what="${in##*/} ($(sz "$in") bytes)"
  f=$(find_mail "$dir" "$base")
  if [ -z "$f" ]; then notok "$label: sealed $what still in the Maildir" "$base not in new/ or cur/"; return 0; fi
  uid=$(uid_of "$WORK/map.$label" "$f")
  if [ -z "$uid" ]; then notok "$label: Dovecot indexed sealed $what" "no uid for $base"; return 0; fi
  if stored "$user" "$pw" "$mb" "$uid" "$WORK/st"; then
    same "$label: doveadm fetch text == sealed input $what, uid $uid" "$in" "$WORK/st"
  else
    notok "$label: doveadm fetch text uid $uid (sealed $what)" "$(errtail "$WORK/stored.err")"
  fi
  if [ -f "$WORK/imap.$label/$uid.eml" ]; then
    py imap "$in" "$WORK/exp.imap"
    same "$label: IMAP BODY[] == sealed input with CRLF$(tr -d '\000' <"$in" | cmp -s - "$in" || echo ' (NUL shown as 0x80)'), $what" \
      "$WORK/exp.imap" "$WORK/imap.$label/$uid.eml"
  else
    notok "$label: IMAP returned uid $uid (sealed $what)"
  fi
  topen "$home" "$pw" "$f" "$WORK/op"
  if [ "$RC" = 0 ]; then
    same "$label: tresor file open of its own sealed file == input, $what" "$in" "$WORK/op"
  else
    notok "$label: tresor file open of its own sealed $what" "exit $RC" "$(errtail "$WORK/topen.err")"
  fi
}
# add_user EMAIL PW [CRYPT] [CURVE]
add_user() {
  if "$PEER/add-user.sh" "$ROOT" "$@" >"$WORK/adduser.log" 2>&1; then
    ok "add-user.sh $1 ${3:-2} ${4:-}"
    diag <"$WORK/adduser.log"
  else
    notok "add-user.sh $1 ${3:-2} ${4:-}" "$(tail -n 5 "$WORK/adduser.log")"
  fi
}
# deliver EMAIL FILES...: LMTP delivery with client.py, then wait for the files to land
deliver() {
  local to=$1 home dir before
  shift
  home=$(homeof "$to")
  dir="$home/Maildir"
  before=$(count_mail "$dir")
  if python3 "$PEER/client.py" deliver --to "$to" "$@" >"$WORK/deliver.out" 2>"$WORK/deliver.err"; then
    if wait_mail "$dir" $((before + $#)); then
      ok "LMTP delivery of $# messages to $to"
    else
      notok "LMTP delivered $# messages to $to into ${dir#"$ROOT"/}" "only $(count_mail "$dir") files after 15 s"
    fi
  else
    notok "LMTP delivery of $# messages to $to" "$(cat "$WORK/deliver.out")" "$(errtail "$WORK/deliver.err")" \
      "$(grep -E 'Error|Panic|Fatal' "$ROOT/log/dovecot.log" | tail -n 5)"
  fi
}
homeof() { local e=$1; echo "$ROOT/vmail/${e#*@}/${e%@*}"; }
# active user key id per doveadm (cryptokey list -U)
dove_active_user_key() {
  { dv -f tab mailbox cryptokey list -U -u "$1" 2>"$WORK/ck.err" || true; } | awk -F '\t' 'NR > 1 && $2 == "yes" { print $3 }'
}

# --- start the peer ------------------------------------------------------------
port_busy() { python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5)' "$1" 2>/dev/null; }
for p in "$IMAP_PORT" "$LMTP_PORT"; do
  port_busy "$p" && abort "port $p is free (something already listens there; set INTEROP_IMAP_PORT/INTEROP_LMTP_PORT)"
done
peer_log_tail() {
  local f
  for f in "$ROOT/log/startup.log" "$ROOT/log/dovecot.log"; do
    [ -s "$f" ] && { echo "tail of $f:"; tail -n 25 "$f"; }
  done
  true
}
if ! "$PEER/up.sh" "$ROOT" "$IMAP_PORT" "$LMTP_PORT" >"$WORK/up.log" 2>&1; then
  abort "Dovecot peer starts (up.sh $ROOT $IMAP_PORT $LMTP_PORT)" "$(cat "$WORK/up.log")" "$(peer_log_tail)"
fi
if ! port_busy "$IMAP_PORT" || ! port_busy "$LMTP_PORT"; then
  abort "Dovecot peer listens on 127.0.0.1:$IMAP_PORT and :$LMTP_PORT" "$(cat "$WORK/up.log")" "$(peer_log_tail)"
fi
ok "Dovecot peer up ($(dovecot --version | cut -d' ' -f1), imap $IMAP_PORT, lmtp $LMTP_PORT)"
diag <"$WORK/up.log"

# --- test messages -------------------------------------------------------------
M="$WORK/msgs"
mkdir -p "$M"
printf 'From: Sender <sender@example.net>\r\nTo: <dove@example.org>\r\nSubject: CRLF message\r\nMessage-ID: <crlf-1@example.net>\r\n\r\nfirst line\r\n.leading dot\r\n.\r\nFrom the start of a line  \r\ntrailing blanks   \r\n\r\nlast line\r\n' >"$M/d1-crlf.eml"
printf 'From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.net>\nTo: <dove@example.org>\nSubject: =?UTF-8?B?R3LDvMOfZQ==?=\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGrüße aus Köln – “quotes”, €, 日本語, emoji 🙂\nÄÖÜ äöü ß\n' >"$M/d2-utf8.eml"
printf 'Subject: s\n\nhi\n' >"$M/d3-small.eml"
: >"$M/s1-empty"
printf 'x' >"$M/s2-onebyte"
printf 'From: tresor <t@example.org>\nTo: <dove@example.org>\nSubject: sealed by tresor\n\nLF text body\nsecond line without final newline' >"$M/s3-lf.eml"
py big "$M/s4-big2mb.eml"
printf 'Subject: NUL bytes\n\nbefore\000after\000\000\nend\n' >"$M/s5-nul.eml"
printf 'Subject: CRLF as stored\r\n\r\nbody\r\n' >"$M/s6-crlf.eml"
printf 'From: a@example.net\nSubject: archived 1\n\nArchive one\n' >"$M/f1-archive.eml"
printf 'From: a@example.net\r\nSubject: archived 2\r\n\r\nArchive two, CRLF\r\n' >"$M/f2-archive.eml"
printf 'From: a@example.net\nSubject: =?UTF-8?Q?Entw=C3=BCrfe?=\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nEin Entwurf für später.\n' >"$M/f3-draft.eml"
printf 'Subject: sealed into Entwürfe\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nvon tresor versiegelt\n' >"$M/f4-sealed-draft.eml"
printf 'From: x@example.net\nSubject: after tresor keys\n\nDelivered by Dovecot LMTP after tresor made the keys.\n' >"$M/k1.eml"
printf 'From: x@example.net\r\nSubject: second, CRLF\r\n\r\nline\r\n' >"$M/k2.eml"
printf 'Subject: sealed to a tresor folder key\n\nsealed by tresor, read by Dovecot\n' >"$M/k3-sealed.eml"

# =============================================================================
echo "# 1. Dovecot -> tresor (Dovecot-made user key, LMTP delivery)"
U1=dove@example.org
PW1='Dove pw #1'
H1=$(homeof $U1)
add_user $U1 "$PW1"
deliver $U1 "$M/d1-crlf.eml" "$M/d2-utf8.eml" "$M/d3-small.eml"
verify_dovecot_mail $U1 "$PW1" "$H1" INBOX INBOX "$H1/Maildir" c1 3
# stored bytes really are the delivered messages (so the comparisons above compare content)
map="$WORK/map.c1"
for m in d1-crlf d2-utf8 d3-small; do
  found=""
  while IFS= read -r f; do
    uid=$(uid_of "$map" "$f")
    [ -n "$uid" ] && stored $U1 "$PW1" INBOX "$uid" "$WORK/st" && py endswith "$WORK/st" "$M/$m.eml" && found=$uid
  done < <(mailfiles "$H1/Maildir")
  [ -n "$found" ] && ok "c1: Dovecot stored $m.eml (LF-normalised) as uid $found" || notok "c1: Dovecot stored $m.eml"
done
F1=$(mailfiles "$H1/Maildir" | sed -n 1p)
if [ -n "$F1" ]; then
  topen "$H1" "wrong $PW1" "$F1" "$WORK/op"
  [ "$RC" = 3 ] && [ ! -s "$WORK/op" ] && ok "c1: wrong password -> exit 3, empty stdout" \
    || notok "c1: wrong password -> exit 3, empty stdout" "exit $RC, $(sz "$WORK/op") bytes on stdout" "$(errtail "$WORK/topen.err")"
  RC=0
  "$TRESOR" file open --home "$H1" "$F1" >"$WORK/op" 2>"$WORK/topen.err" </dev/null || RC=$?
  [ "$RC" = 3 ] && [ ! -s "$WORK/op" ] && ok "c1: no password -> exit 3, empty stdout" \
    || notok "c1: no password -> exit 3, empty stdout" "exit $RC, $(sz "$WORK/op") bytes on stdout" "$(errtail "$WORK/topen.err")"
else
  notok "c1: a mail file to test the wrong password with"
fi

# =============================================================================
echo "# 2. tresor -> Dovecot (tresor file seal into INBOX of the Dovecot-keyed user)"
declare -a C2_IN=() C2_NAME=()
BIG_NAME=none
for m in s1-empty s2-onebyte s3-lf.eml s4-big2mb.eml s5-nul.eml s6-crlf.eml; do
  if seal_into "$H1" INBOX "$H1/Maildir" "$M/$m" c2; then
    C2_IN+=("$M/$m")
    C2_NAME+=("$SEALED")
    [ "$m" = s4-big2mb.eml ] && BIG_NAME=$SEALED
  fi
done
uidmap $U1 "$PW1" INBOX "$WORK/map.c2" || notok "c2: doveadm fetch uid/guid" "$(errtail "$WORK/uidmap.err")"
imap_fetch $U1 "$PW1" INBOX "$WORK/imap.c2" || notok "c2: IMAP FETCH INBOX as $U1" "$(errtail "$WORK/imap.err")"
for i in "${!C2_IN[@]}"; do
  verify_sealed $U1 "$PW1" "$H1" INBOX INBOX "$H1/Maildir" c2 "${C2_NAME[$i]}" "${C2_IN[$i]}"
done
n=$(count_mail "$H1/Maildir")
[ "$n" = $((3 + ${#C2_IN[@]})) ] && ok "c2: INBOX holds 3 delivered + ${#C2_IN[@]} sealed files" \
  || notok "c2: INBOX holds 3 delivered + ${#C2_IN[@]} sealed files" "found $n"

# =============================================================================
echo "# 3. keys made by tresor, used by Dovecot"
# (a) tresor user key, Dovecot LMTP makes the folder key
for spec in "tres521@example.org|Tresor 521 pw|secp521r1" "tres256@example.org|Tresör p256 ✓|prime256v1"; do
  IFS='|' read -r U PW CURVE <<<"$spec"
  H=$(homeof "$U")
  L="c3a-$CURVE"
  add_user "$U" "$PW" 2K
  RC=0
  printf '%s\n' "$PW" | "$TRESOR" key generate --home "$H" --password-stdin --curve "$CURVE" >"$WORK/gen.out" 2>"$WORK/gen.err" || RC=$?
  ID=$(tr -d '\n' <"$WORK/gen.out")
  if [ "$RC" = 0 ] && [[ $ID =~ ^[0-9a-f]{64}$ ]]; then
    ok "$L: tresor key generate --curve $CURVE for $U -> $ID"
  else
    notok "$L: tresor key generate --curve $CURVE for $U" "exit $RC, stdout: $ID" "$(errtail "$WORK/gen.err")"
  fi
  bad=$(find "$H" \( ! -user $VMAIL -o ! -group $VMAIL \) -printf '%P ' )
  [ -z "$bad" ] && ok "$L: everything under the home is owned by $VMAIL:$VMAIL" || notok "$L: files owned by $VMAIL:$VMAIL" "not: $bad"
  act=$(dove_active_user_key "$U")
  [ -n "$ID" ] && [ "$act" = "$ID" ] && ok "$L: doveadm cryptokey list -U shows tresor's key $ID as active" \
    || notok "$L: doveadm cryptokey list -U shows tresor's key as active" "doveadm active: '${act}' tresor: '$ID'" "$(errtail "$WORK/ck.err")"
  deliver "$U" "$M/k1.eml" "$M/k2.eml"
  "$TRESOR" key list --home "$H" >"$WORK/klist" 2>&1 || true
  grep -Eq "^[0-9a-f]{64} +[a-z0-9]+ +yes +folder INBOX +key:$ID\$" "$WORK/klist" \
    && ok "$L: Dovecot made the INBOX folder key encrypted to tresor's user key" \
    || notok "$L: Dovecot made the INBOX folder key encrypted to tresor's user key" "$(cat "$WORK/klist")"
  if python3 "$PEER/client.py" compare --user "$U" --password "$PW" "$M/k1.eml" "$M/k2.eml" >"$WORK/cmp.out" 2>&1; then
    ok "$L: IMAP login with the password; BODY[] == LMTP headers + messages as sent"
  else
    notok "$L: IMAP login + compare with messages as sent" "$(head -c 1500 "$WORK/cmp.out")"
  fi
  verify_dovecot_mail "$U" "$PW" "$H" INBOX INBOX "$H/Maildir" "$L" 2
done

# (b) tresor user key AND tresor folder key, tresor seals, Dovecot reads
U=tresfold@example.org
PW='folder key pw'
H=$(homeof $U)
L=c3b
add_user $U "$PW" 2K
RC=0
printf '%s\n' "$PW" | "$TRESOR" key generate --home "$H" --password-stdin --curve secp384r1 >"$WORK/gen.out" 2>"$WORK/gen.err" || RC=$?
UID3=$(tr -d '\n' <"$WORK/gen.out")
[ "$RC" = 0 ] && [[ $UID3 =~ ^[0-9a-f]{64}$ ]] && ok "$L: tresor key generate --curve secp384r1 (user key $UID3)" \
  || notok "$L: tresor key generate --curve secp384r1" "exit $RC" "$(errtail "$WORK/gen.err")"
RC=0
"$TRESOR" key generate --home "$H" --mailbox INBOX >"$WORK/gen.out" 2>"$WORK/gen.err" </dev/null || RC=$?
FID3=$(tr -d '\n' <"$WORK/gen.out")
[ "$RC" = 0 ] && [[ $FID3 =~ ^[0-9a-f]{64}$ ]] && ok "$L: tresor key generate --mailbox INBOX (folder key $FID3)" \
  || notok "$L: tresor key generate --mailbox INBOX" "exit $RC" "$(errtail "$WORK/gen.err")"
act=$(dove_active_user_key $U)
[ "$act" = "$UID3" ] && ok "$L: doveadm cryptokey list -U shows tresor's user key as active" \
  || notok "$L: doveadm cryptokey list -U shows tresor's user key as active" "doveadm: '$act' tresor: '$UID3'"
factive=$({ dv -f tab mailbox cryptokey list -u $U INBOX 2>"$WORK/ck.err" || true; } | awk -F '\t' 'NR > 1 && $2 == "yes" { print $3 }')
[ -n "$FID3" ] && [ "$factive" = "$FID3" ] && ok "$L: doveadm cryptokey list INBOX shows tresor's folder key as active" \
  || notok "$L: doveadm cryptokey list INBOX shows tresor's folder key as active" "doveadm: '$factive' tresor: '$FID3'" "$(errtail "$WORK/ck.err")"
declare -a C3_IN=() C3_NAME=()
for m in k3-sealed.eml s3-lf.eml; do
  if seal_into "$H" INBOX "$H/Maildir" "$M/$m" $L; then C3_IN+=("$M/$m"); C3_NAME+=("$SEALED"); fi
done
uidmap $U "$PW" INBOX "$WORK/map.$L" || notok "$L: doveadm fetch uid/guid" "$(errtail "$WORK/uidmap.err")"
imap_fetch $U "$PW" INBOX "$WORK/imap.$L" || notok "$L: IMAP login + FETCH INBOX as $U" "$(errtail "$WORK/imap.err")"
for i in "${!C3_IN[@]}"; do
  verify_sealed $U "$PW" "$H" INBOX INBOX "$H/Maildir" $L "${C3_NAME[$i]}" "${C3_IN[$i]}"
done
# Dovecot keeps using tresor's folder key for new deliveries
deliver $U "$M/k1.eml"
"$TRESOR" key list --home "$H" >"$WORK/klist" 2>&1 || true
nf=$(grep -c ' folder INBOX ' "$WORK/klist" || true)
[ "$nf" = 1 ] && grep -q "^$FID3 .* yes .*folder INBOX .*key:$UID3\$" "$WORK/klist" \
  && ok "$L: after LMTP delivery INBOX still has only tresor's folder key" \
  || notok "$L: after LMTP delivery INBOX still has only tresor's folder key" "$(cat "$WORK/klist")"
f=$(mailfiles "$H/Maildir" | while IFS= read -r x; do case ${x##*/} in *.interop,*) ;; *) echo "$x" ;; esac; done | sed -n 1p)
uidmap $U "$PW" INBOX "$WORK/map.$L.2" || true
uid=""
[ -n "$f" ] && uid=$(uid_of "$WORK/map.$L.2" "$f")
if [ -n "$uid" ] && stored $U "$PW" INBOX "$uid" "$WORK/st"; then
  topen "$H" "$PW" "$f" "$WORK/op"
  [ "$RC" = 0 ] && same "$L: tresor file open of Dovecot's delivery with tresor's folder key == stored, uid $uid" "$WORK/st" "$WORK/op" \
    || notok "$L: tresor file open of Dovecot's delivery" "exit $RC" "$(errtail "$WORK/topen.err")"
else
  notok "$L: Dovecot's LMTP delivery to $U readable by doveadm" "file: $f" "$(errtail "$WORK/stored.err")"
fi

# =============================================================================
echo "# 4. folders made by Dovecot (IMAP CREATE + APPEND)"
ENTW_IMAP='Entw&APw-rfe'
for spec in "Archive|Archive|Archive|f1-archive.eml f2-archive.eml" "Entwürfe|$ENTW_IMAP|$ENTW_IMAP|f3-draft.eml"; do
  IFS='|' read -r MB MBI DIRNAME FILES <<<"$spec"
  files=()
  for x in $FILES; do files+=("$M/$x"); done
  if python3 "$PEER/client.py" append --user $U1 --password "$PW1" --mailbox "$MBI" --create "${files[@]}" \
    >"$WORK/append.out" 2>"$WORK/append.err"; then
    ok "c4: IMAP CREATE + APPEND ${#files[@]} to $MB ($MBI)"
  else
    notok "c4: IMAP CREATE + APPEND to $MB ($MBI)" "$(errtail "$WORK/append.err")"
  fi
  D="$H1/Maildir/.$DIRNAME"
  [ -d "$D" ] && ok "c4: Dovecot made folder dir Maildir/.$DIRNAME" || notok "c4: Dovecot made folder dir Maildir/.$DIRNAME"
  wait_mail "$D" ${#files[@]} || true
  verify_dovecot_mail $U1 "$PW1" "$H1" "$MB" "$MBI" "$D" "c4-$MB" ${#files[@]}
  # APPEND stores the message with LF line endings and nothing added
  for x in "${files[@]}"; do
    py lf "$x" "$WORK/exp.lf"
    hit=""
    while IFS= read -r f; do
      topen "$H1" "$PW1" "$f" "$WORK/op"
      [ "$RC" = 0 ] && cmp -s "$WORK/exp.lf" "$WORK/op" && hit=${f##*/}
    done < <(mailfiles "$D")
    [ -n "$hit" ] && ok "c4: tresor opens the APPENDed ${x##*/} in $MB as exactly the message (LF)" \
      || notok "c4: tresor opens the APPENDed ${x##*/} in $MB as exactly the message (LF)"
  done
done
D="$H1/Maildir/.$ENTW_IMAP"
if seal_into "$H1" "Entwürfe" "$D" "$M/f4-sealed-draft.eml" c4-seal; then
  SN=$SEALED
  uidmap $U1 "$PW1" "Entwürfe" "$WORK/map.c4-seal" || notok "c4-seal: doveadm fetch uid/guid Entwürfe" "$(errtail "$WORK/uidmap.err")"
  imap_fetch $U1 "$PW1" "$ENTW_IMAP" "$WORK/imap.c4-seal" || notok "c4-seal: IMAP FETCH $ENTW_IMAP" "$(errtail "$WORK/imap.err")"
  verify_sealed $U1 "$PW1" "$H1" "Entwürfe" "$ENTW_IMAP" "$D" c4-seal "$SN" "$M/f4-sealed-draft.eml"
fi
# key export: tresor decrypts the same private keys as doveadm (user + every folder)
dexport() {
  local mb
  dv -o "plugin/mail_crypt_private_password=$PW1" mailbox cryptokey export -u $U1 -U >"$WORK/dexp" 2>"$WORK/dexp.err" || return 1
  for mb in INBOX Archive "Entwürfe"; do
    dv -o "plugin/mail_crypt_private_password=$PW1" mailbox cryptokey export -u $U1 "$mb" >>"$WORK/dexp" 2>>"$WORK/dexp.err" || return 1
  done
}
if dexport; then
  RC=0
  printf '%s\n' "$PW1" | "$TRESOR" key export --home "$H1" --password-stdin >"$WORK/texp" 2>"$WORK/texp.err" || RC=$?
  py pemset "$WORK/dexp" >"$WORK/dexp.set"
  py pemset "$WORK/texp" >"$WORK/texp.set"
  if [ "$RC" = 0 ] && [ "$(wc -l <"$WORK/dexp.set")" = 4 ]; then
    same "c4: tresor key export == doveadm cryptokey export (user key + 3 folder keys, PKCS#8 PEM)" "$WORK/dexp.set" "$WORK/texp.set"
  else
    notok "c4: tresor key export vs doveadm cryptokey export" "tresor exit $RC, doveadm keys: $(wc -l <"$WORK/dexp.set")" "$(errtail "$WORK/texp.err")"
  fi
else
  notok "c4: doveadm mailbox cryptokey export" "$(errtail "$WORK/dexp.err")"
fi

# =============================================================================
echo "# 5. tampered and truncated files"
tamper() { # tamper SRC LABEL: copy to Maildir/tmp (same name), flip/truncate, open
  local src=$1 label=$2 t
  t="$H1/Maildir/tmp/${src##*/}"
  local off
  off=$(py flip "$src" "$t")
  topen "$H1" "$PW1" "$t" "$WORK/op"
  [ "$RC" = 5 ] && [ ! -s "$WORK/op" ] && ok "c5: $label, byte $off flipped -> exit 5, empty stdout" \
    || notok "c5: $label, byte $off flipped -> exit 5, empty stdout" "exit $RC, $(sz "$WORK/op") bytes on stdout" "$(errtail "$WORK/topen.err")"
  py truncate "$src" "$t"
  topen "$H1" "$PW1" "$t" "$WORK/op"
  [ "$RC" = 6 ] && [ ! -s "$WORK/op" ] && ok "c5: $label, cut to $(sz "$t") bytes -> exit 6, empty stdout" \
    || notok "c5: $label, cut to $(sz "$t") bytes -> exit 6, empty stdout" "exit $RC, $(sz "$WORK/op") bytes on stdout" "$(errtail "$WORK/topen.err")"
  rm -f "$t"
}
big=$(find_mail "$H1/Maildir" "$BIG_NAME")
[ -n "$big" ] && tamper "$big" "tresor-sealed 2 MB file" || notok "c5: the sealed 2 MB file exists"
dove=$(mailfiles "$H1/Maildir" | { grep -v '\.interop,' || true; } | sed -n 1p)
[ -n "$dove" ] && tamper "$dove" "Dovecot-written file" || notok "c5: a Dovecot-written file exists"

# =============================================================================
echo "# 6. a home tresor created, delivered into and added folders to is read by real Dovecot"
# tresor works on the peer's own userdb and vmail tree; Dovecot then serves what it made.
TCONF="$WORK/tresor.toml"
cat >"$TCONF" <<EOF
[userdb]
url = "sqlite:$ROOT/db/mailserver.sqlite"

[mail]
home = "$ROOT/vmail/%d/%n"
uid = $VMAIL
gid = $VMAIL
EOF
tres() { "$TRESOR" --config "$TCONF" "$@"; }
# tfetch EMAIL PW MAILBOX UID OUT: tresor fetch; sets RC, stderr in $WORK/tfetch.err
tfetch() {
  RC=0
  printf '%s\n' "$2" | tres fetch "$1" --password-stdin --mailbox "$3" --uid "$4" >"$5" 2>"$WORK/tfetch.err" || RC=$?
}
MARK6=T6-PLAINTEXT-MARKER-3f9c1a # in every message tresor delivers; never in the crypt=2 home
printf 'From: Sender <sender@example.net>\r\nTo: <six@example.org>\r\nSubject: CRLF via tresor deliver\r\nMessage-ID: <t6-crlf@example.net>\r\n\r\n%s crlf body\r\ntrailing blanks   \r\n\r\nlast line\r\n' "$MARK6" >"$M/t1-crlf.eml"
printf 'From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.net>\nSubject: =?UTF-8?B?R3LDvMOfZQ==?=\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n%s Grüße aus Köln – “quotes”, €, 日本語, 🙂\nÄÖÜ äöü ß\n' "$MARK6" >"$M/t2-utf8.eml"
printf 'From: d@example.net\nSubject: dot lines\n\n.leading dot\n..two dots\n.\n%s\n. dot space\n.\n' "$MARK6" >"$M/t3-dots.eml"
printf 'From: a@example.net\nSubject: archived by tresor\n\n%s archive\nno final newline' "$MARK6" >"$M/t4-archive.eml"
printf 'From: a@example.net\nSubject: =?UTF-8?Q?Entw=C3=BCrfe?=\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n%s Entwurf für später\n' "$MARK6" >"$M/t5-draft.eml"
printf 'From: x@example.net\r\nSubject: LMTP into a tresor-made INBOX\r\n\r\ndelivered by Dovecot\r\n.dot after tresor\r\n' >"$M/t6-lmtp.eml"
printf 'From: x@example.net\nSubject: APPEND into tresor Archive\n\nappended by IMAP\n' >"$M/t7-append.eml"
printf 'From: x@example.net\nSubject: tresor again\n\n%s delivered by tresor after Dovecot wrote here\n' "$MARK6" >"$M/t8-after.eml"

U6=six@example.org
PW6='Sechs Tresör-Paßwort mit Leerzeichen ✓'
U7=plain0@tresor.example # a domain the userdb does not have yet
PW7='plain zero pw'
H6=$(homeof $U6)
H7=$(homeof $U7)
declare -A T6_DIR=([INBOX]="" [Archive]=".Archive" ["Entwürfe"]=".$ENTW_IMAP")
declare -A T6_IMAP=([INBOX]=INBOX [Archive]=Archive ["Entwürfe"]="$ENTW_IMAP")
t6exp() { echo "$WORK/t6exp.$1.$2"; } # TAG MAILBOX: "UID MSGFILE" lines tresor printed
# t6_deliver EMAIL MAILBOX MSG TAG WANT_UID
t6_deliver() {
  local e=$1 mb=$2 msg=$3 tag=$4 want=$5 rc=0 uid
  tres deliver "$e" --mailbox "$mb" <"$msg" >"$WORK/t6del.out" 2>"$WORK/t6del.err" || rc=$?
  uid=$(tr -d '\n' <"$WORK/t6del.out")
  if [ "$rc" = 0 ] && [ "$uid" = "$want" ]; then
    ok "c6-$tag: tresor deliver ${msg##*/} ($(sz "$msg") bytes) to $mb -> uid $uid"
  else
    notok "c6-$tag: tresor deliver ${msg##*/} to $mb prints uid $want" "exit $rc, stdout: '$uid'" "$(errtail "$WORK/t6del.err")"
  fi
  [ "$rc" = 0 ] && [[ $uid =~ ^[0-9]+$ ]] && printf '%s %s\n' "$uid" "$msg" >>"$(t6exp "$tag" "$mb")"
  return 0
}
# t6_verify EMAIL PW MAILBOX TAG: Dovecot (doveadm + IMAP) serves every message tresor
# delivered into MAILBOX under the UID tresor printed; tresor fetch agrees with doveadm.
t6_verify() {
  local e=$1 pw=$2 mb=$3 tag=$4 mbi=${T6_IMAP[$3]} exp want got uid msg l imapdir
  exp=$(t6exp "$tag" "$mb")
  imapdir="$WORK/imap.t6-$tag-$mbi"
  [ -s "$exp" ] || { notok "c6-$tag: tresor delivered into $mb"; return 0; }
  want=$(cut -d' ' -f1 "$exp" | sort -n | tr '\n' ' ')
  if uidmap "$e" "$pw" "$mb" "$WORK/t6map"; then
    got=$(cut -f1 "$WORK/t6map" | sort -n | tr '\n' ' ')
    [ "$got" = "$want" ] && ok "c6-$tag: doveadm sees uids ${want% } in $mb, as tresor deliver printed" \
      || notok "c6-$tag: doveadm sees the uids tresor deliver printed in $mb" "doveadm: '$got' tresor: '$want'"
  else
    notok "c6-$tag: doveadm fetch uid/guid of $mb" "$(errtail "$WORK/uidmap.err")"
  fi
  if imap_fetch "$e" "$pw" "$mbi" "$imapdir"; then
    got=$({ find "$imapdir" -name '*.eml' -printf '%f\n' 2>/dev/null || true; } | sed 's/\.eml$//' | sort -n | tr '\n' ' ')
    [ "$got" = "$want" ] && ok "c6-$tag: IMAP login with the password, SELECT $mbi, FETCH uids ${want% }" \
      || notok "c6-$tag: IMAP FETCH of $mbi returns the uids tresor printed" "IMAP: '$got' tresor: '$want'"
  else
    notok "c6-$tag: IMAP login + FETCH of $mbi as $e" "$(errtail "$WORK/imap.err")"
  fi
  while read -r uid msg; do
    l="c6-$tag: $mb uid $uid (${msg##*/})"
    py lf "$msg" "$WORK/t6.lf"
    if [ -f "$imapdir/$uid.eml" ]; then
      py imap "$WORK/t6.lf" "$WORK/t6.imap"
      same "$l: IMAP BODY[] == delivered message with CRLF" "$WORK/t6.imap" "$imapdir/$uid.eml"
    else
      notok "$l: IMAP returned it"
    fi
    if stored "$e" "$pw" "$mb" "$uid" "$WORK/st"; then
      same "$l: doveadm fetch text == delivered message (LF)" "$WORK/t6.lf" "$WORK/st"
      tfetch "$e" "$pw" "$mb" "$uid" "$WORK/tf"
      if [ "$RC" = 0 ]; then
        same "$l: tresor fetch == doveadm fetch text" "$WORK/st" "$WORK/tf"
      else
        notok "$l: tresor fetch" "exit $RC" "$(errtail "$WORK/tfetch.err")"
      fi
    else
      notok "$l: doveadm fetch text" "$(errtail "$WORK/stored.err")"
    fi
  done <"$exp"
}
# t6_owned TAG HOME...: every file and directory under the homes is owned by vmail
t6_owned() {
  local tag=$1 bad
  shift
  bad=$(find "$@" \( ! -user $VMAIL -o ! -group $VMAIL \) -printf '%P(%U:%G) ' 2>&1 || true)
  [ -z "$bad" ] && ok "c6: $tag: all $(find "$@" | wc -l) files/dirs under both homes are owned by $VMAIL:$VMAIL" \
    || notok "c6: $tag: all files under both homes owned by $VMAIL:$VMAIL" "not: $bad"
}

# --- tresor makes the users, delivers, makes folders ---------------------------
for spec in "$U6|$PW6|2|crypt" "$U7|$PW7|0|plain"; do
  IFS='|' read -r U PW CRYPT TAG <<<"$spec"
  H=$(homeof "$U")
  args=()
  [ "$CRYPT" = 0 ] && args=(--no-crypt)
  RC=0
  printf '%s\n' "$PW" | tres user add "$U" --password-stdin "${args[@]}" >"$WORK/t6add.out" 2>"$WORK/t6add.err" || RC=$?
  row=$(sqlite3 "$ROOT/db/mailserver.sqlite" "SELECT crypt || ' ' || substr(password, 1, 15) FROM virtual_users WHERE email = '$U'" 2>&1 || true)
  if [ "$RC" = 0 ] && [ "$row" = "$CRYPT {BLF-CRYPT}\$2y\$" ] && [ -d "$H/Maildir/cur" ]; then
    ok "c6-$TAG: tresor user add $U${args[*]:+ ${args[*]}} (row crypt=$CRYPT, {BLF-CRYPT} hash, home ${H#"$ROOT"/})"
  else
    notok "c6-$TAG: tresor user add $U${args[*]:+ ${args[*]}}" "exit $RC, row: '$row', home: $(ls -d "$H/Maildir/cur" 2>&1)" "$(errtail "$WORK/t6add.err")"
  fi
  diag <"$WORK/t6add.out"
  n=0
  for m in t1-crlf.eml t2-utf8.eml t3-dots.eml; do
    n=$((n + 1))
    t6_deliver "$U" INBOX "$M/$m" "$TAG" $n
  done
  for spec2 in "Archive|t4-archive.eml" "Entwürfe|t5-draft.eml"; do
    IFS='|' read -r MB m <<<"$spec2"
    RC=0
    tres mailbox create "$U" "$MB" >"$WORK/t6mb.out" 2>"$WORK/t6mb.err" || RC=$?
    D="$H/Maildir/${T6_DIR[$MB]}"
    if [ "$RC" = 0 ] && [ -d "$D/cur" ] && [ -d "$D/new" ] && [ -d "$D/tmp" ] && [ -f "$D/maildirfolder" ]; then
      ok "c6-$TAG: tresor mailbox create $U $MB -> Maildir/${T6_DIR[$MB]}"
    else
      notok "c6-$TAG: tresor mailbox create $U $MB -> Maildir/${T6_DIR[$MB]}" "exit $RC" \
        "$(ls -la "$H/Maildir" 2>&1)" "$(errtail "$WORK/t6mb.err")"
    fi
    t6_deliver "$U" "$MB" "$M/$m" "$TAG" 1
  done
done
t6_owned "before Dovecot touched them" "$H6" "$H7"

# --- Dovecot reads it all ---------------------------------------------------------
for spec in "$U6|$PW6|crypt" "$U7|$PW7|plain"; do
  IFS='|' read -r U PW TAG <<<"$spec"
  dv -f tab mailbox list -u "$U" >"$WORK/t6mblist" 2>"$WORK/t6mblist.err" || true
  got=$(tail -n +2 "$WORK/t6mblist" | sort | tr '\n' ' ') # -f tab: header line "mailbox"
  [ "$got" = "Archive Entwürfe INBOX " ] && ok "c6-$TAG: doveadm mailbox list -u $U: INBOX Archive Entwürfe" \
    || notok "c6-$TAG: doveadm mailbox list -u $U shows INBOX Archive Entwürfe" "got: '$got'" "$(errtail "$WORK/t6mblist.err")"
  for MB in INBOX Archive "Entwürfe"; do
    t6_verify "$U" "$PW" "$MB" "$TAG"
  done
done

# keys: Dovecot uses the user key and the folder keys tresor made
tres key list "$U6" >"$WORK/t6klist" 2>&1 || true
TUK=$(awk '$3 == "yes" && $4 == "user" { print $1 }' "$WORK/t6klist")
act=$(dove_active_user_key "$U6")
[[ $TUK =~ ^[0-9a-f]{64}$ ]] && [ "$act" = "$TUK" ] && ok "c6-crypt: doveadm cryptokey list -U shows tresor's user key $TUK as active" \
  || notok "c6-crypt: doveadm cryptokey list -U shows tresor's user key as active" "doveadm: '$act' tresor: '$TUK'" \
    "$(cat "$WORK/t6klist")" "$(errtail "$WORK/ck.err")"
for MB in INBOX Archive "Entwürfe"; do
  tfk=$({ grep -E "^[0-9a-f]{64} +[a-z0-9]+ +yes +folder $MB +key:$TUK\$" "$WORK/t6klist" || true; } | cut -d' ' -f1)
  dfk=$({ dv -f tab mailbox cryptokey list -u "$U6" "$MB" 2>"$WORK/ck.err" || true; } | awk -F '\t' 'NR > 1 && $2 == "yes" { print $3 }')
  [ -n "$tfk" ] && [ "$dfk" = "$tfk" ] && ok "c6-crypt: doveadm cryptokey list $MB shows tresor's folder key $tfk as active" \
    || notok "c6-crypt: doveadm cryptokey list $MB shows tresor's folder key (encrypted to the user key) as active" \
      "doveadm: '$dfk' tresor: '$tfk'" "$(cat "$WORK/t6klist")" "$(errtail "$WORK/ck.err")"
done
if [ ! -e "$H7/Maildir/dovecot-attributes" ] || ! grep -q 'crypt/privkeys/' "$H7/Maildir/dovecot-attributes"; then
  ok "c6-plain: no key was made for the crypt=0 user"
else
  notok "c6-plain: no key was made for the crypt=0 user" "$(cut -c 1-120 "$H7/Maildir/dovecot-attributes")"
fi

# --- Dovecot writes into tresor's folders, tresor reads it ------------------------
U=$U6 PW=$PW6
deliver "$U" "$M/t6-lmtp.eml"
uidmap "$U" "$PW" INBOX "$WORK/t6map" || true
got=$({ cut -f1 "$WORK/t6map" 2>/dev/null || true; } | sort -n | tr '\n' ' ')
[ "$got" = "1 2 3 4 " ] && ok "c6-crypt: Dovecot's LMTP delivery into the tresor-made INBOX got the next uid, 4" \
  || notok "c6-crypt: Dovecot's LMTP delivery into the tresor-made INBOX got uid 4" "doveadm uids: '$got'" "$(errtail "$WORK/uidmap.err")"
tfetch "$U" "$PW" INBOX 4 "$WORK/tf"
if [ "$RC" != 0 ]; then
  notok "c6-crypt: tresor fetch INBOX uid 4 (Dovecot's LMTP delivery)" "exit $RC" "$(errtail "$WORK/tfetch.err")"
elif stored "$U" "$PW" INBOX 4 "$WORK/st"; then
  same "c6-crypt: tresor fetch INBOX uid 4 (LMTP) == doveadm fetch text" "$WORK/st" "$WORK/tf"
  py endswith "$WORK/tf" "$M/t6-lmtp.eml" && ok "c6-crypt: tresor fetch INBOX uid 4 == LMTP headers + t6-lmtp.eml (LF)" \
    || notok "c6-crypt: tresor fetch INBOX uid 4 ends with t6-lmtp.eml (LF)" "$(head -c 600 "$WORK/tf")"
else
  notok "c6-crypt: doveadm fetch text INBOX uid 4" "$(errtail "$WORK/stored.err")"
fi
tres key list "$U" >"$WORK/t6klist2" 2>&1 || true
nf=$(grep -c ' folder INBOX ' "$WORK/t6klist2" || true)
ifk=$({ grep -E "^[0-9a-f]{64} +[a-z0-9]+ +yes +folder INBOX " "$WORK/t6klist" || true; } | cut -d' ' -f1)
[ "$nf" = 1 ] && [ -n "$ifk" ] && grep -q "^$ifk .* yes .*folder INBOX " "$WORK/t6klist2" \
  && ok "c6-crypt: after LMTP delivery INBOX still has only tresor's folder key" \
  || notok "c6-crypt: after LMTP delivery INBOX still has only tresor's folder key" "$(cat "$WORK/t6klist2")"
if python3 "$PEER/client.py" append --user "$U" --password "$PW" --mailbox Archive "$M/t7-append.eml" \
  >"$WORK/append.out" 2>"$WORK/append.err"; then
  ok "c6-crypt: IMAP APPEND t7-append.eml into tresor's Archive"
else
  notok "c6-crypt: IMAP APPEND into tresor's Archive" "$(errtail "$WORK/append.err")"
fi
tfetch "$U" "$PW" Archive 2 "$WORK/tf"
if [ "$RC" = 0 ]; then
  py lf "$M/t7-append.eml" "$WORK/t6.lf"
  same "c6-crypt: tresor fetch Archive uid 2 == the APPENDed message (LF)" "$WORK/t6.lf" "$WORK/tf"
  if stored "$U" "$PW" Archive 2 "$WORK/st"; then
    same "c6-crypt: tresor fetch Archive uid 2 (APPEND) == doveadm fetch text" "$WORK/st" "$WORK/tf"
  else
    notok "c6-crypt: doveadm fetch text Archive uid 2" "$(errtail "$WORK/stored.err")"
  fi
else
  notok "c6-crypt: tresor fetch Archive uid 2 (Dovecot's APPEND)" "exit $RC" "$(errtail "$WORK/tfetch.err")"
fi
# and tresor keeps delivering after Dovecot wrote its indexes and moved files to cur/
t6_deliver "$U" INBOX "$M/t8-after.eml" crypt-after 5
imap_fetch "$U" "$PW" INBOX "$WORK/imap.t6-after" || notok "c6-crypt: IMAP FETCH INBOX after" "$(errtail "$WORK/imap.err")"
py lf "$M/t8-after.eml" "$WORK/t6.lf"
py imap "$WORK/t6.lf" "$WORK/t6.imap"
same "c6-crypt: IMAP BODY[] uid 5 (tresor deliver after Dovecot) == message with CRLF" "$WORK/t6.imap" "$WORK/imap.t6-after/5.eml"
if stored "$U" "$PW" INBOX 5 "$WORK/st"; then
  same "c6-crypt: doveadm fetch text uid 5 == message (LF)" "$WORK/t6.lf" "$WORK/st"
else
  notok "c6-crypt: doveadm fetch text INBOX uid 5" "$(errtail "$WORK/stored.err")"
fi

# --- at rest: crypt=2 sealed, no plaintext; crypt=0 plaintext -----------------------
n=0 bad=""
while IFS= read -r f; do
  n=$((n + 1))
  head -c 9 "$f" | cmp -s - <(printf 'CRYPTED\003\007') || bad="$bad ${f#"$H6"/}"
done < <(for d in "" .Archive ".$ENTW_IMAP"; do mailfiles "$H6/Maildir/$d"; done)
[ "$n" = 8 ] && [ -z "$bad" ] && ok "c6-crypt: all $n mail files (tresor's and Dovecot's) start with the CRYPTED magic" \
  || notok "c6-crypt: 8 mail files, all with the CRYPTED magic" "found $n; not sealed:$bad"
leak=$({ grep -rlaF -e "$MARK6" -e 'Grüße aus Köln' "$H6" || true; } | sed "s|^$H6/||" | tr '\n' ' ')
[ -z "$leak" ] && ok "c6-crypt: no file under the crypt=2 home contains the plaintext marker or the 8-bit text" \
  || notok "c6-crypt: no plaintext under the crypt=2 home" "marker found in: $leak"
n=0 bad=""
for spec in "INBOX|" "Archive|.Archive" "Entwürfe|.$ENTW_IMAP"; do
  IFS='|' read -r MB d <<<"$spec"
  while IFS= read -r f; do
    n=$((n + 1))
    hit=""
    while read -r uid msg; do
      py lf "$msg" "$WORK/t6.lf"
      cmp -s "$WORK/t6.lf" "$f" && hit=$uid
    done < <(cat "$(t6exp plain "$MB")" 2>/dev/null || true)
    [ -n "$hit" ] || bad="$bad ${f#"$H7"/}"
  done < <(mailfiles "$H7/Maildir/$d")
done
[ "$n" = 5 ] && [ -z "$bad" ] && ok "c6-plain: all $n mail files are plaintext, each exactly a delivered message (LF)" \
  || notok "c6-plain: 5 mail files, each exactly a delivered message in plaintext" "found $n; not matching:$bad"
t6_owned "at the end" "$H6" "$H7"

# =============================================================================
if grep -E 'Panic|Fatal' "$ROOT/log/dovecot.log" >"$WORK/panics"; then
  notok "Dovecot log has no Panic/Fatal" "$(tail -n 10 "$WORK/panics")"
else
  ok "Dovecot log has no Panic/Fatal"
fi
if grep -E 'Error' "$ROOT/log/dovecot.log" >"$WORK/errors"; then
  echo "# Dovecot logged $(wc -l <"$WORK/errors") Error lines (last 5):"
  tail -n 5 "$WORK/errors" | sed "s|$ROOT/||g" | cut -c 1-500 | diag
fi
summary
[ "$FAIL" = 0 ]
