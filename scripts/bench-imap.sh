#!/usr/bin/env bash
# scripts/bench-imap.sh [--runs N] [--count N] [--size B]
# IMAP reads, tresor vs a real Dovecot 2.3 + mail_crypt (../shared/peer/dovecot), same
# workload in the same run: log in and UID FETCH 1:* BODY.PEEK[] of 2000 encrypted 10 KB
# messages of a crypt=2 secp521r1 user; tresor cold (first session after delivery), warm,
# and after a restart. Prints medians and ratios. Needs root (the peer's vmail user) and
# Dovecot's packages (.ci/run installs them). Results: $BENCH_OUT (default
# target/bench/imap.json).
set -euo pipefail
cd "$(dirname "$0")/.."
PEER=${PEER_DIR:-$(cd ../shared/peer/dovecot && pwd)}
export PEER_DIR=$PEER
WORK=$(mktemp -d /tmp/tresor-bench-imap.XXXXXX)
chmod 755 "$WORK"   # the mail user (uid 5000) must reach its homes below
export PEER_IMAP_PORT=${PEER_IMAP_PORT:-22143} PEER_LMTP_PORT=${PEER_LMTP_PORT:-22024}
export PEER_MAIL_FSYNC=${PEER_MAIL_FSYNC:-optimized}
cargo build --release -p tresor --quiet
"$PEER/up.sh" "$WORK/peer" "$PEER_IMAP_PORT" "$PEER_LMTP_PORT" >/dev/null
mkdir -p target/bench
trap '"$PEER/down.sh" "$WORK/peer" >/dev/null 2>&1 || true; cp "$WORK/tresor/serve.log" target/bench/tresor-serve-imap.log 2>/dev/null || true; rm -rf "$WORK"' EXIT
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
mkdir -p target/bench
python3 scripts/bench_imap.py --tresor target/release/tresor --work "$WORK/tresor" \
  --peer-root "$WORK/peer" --out "${BENCH_OUT:-target/bench/imap.json}" "$@"
