#!/usr/bin/env bash
# Runs every test of tresor: formatting and lints, the Rust unit and integration tests, the
# cross-check against the independent Python model of the format, and the interop run against
# a real Dovecot 2.3 (../shared/peer/dovecot). Needs what .ci/run installs.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "rustfmt"
cargo fmt --all --check
step "clippy"
cargo clippy --workspace --all-targets -- -D warnings
step "cargo test"
cargo test --workspace
step "fuzz targets build"
if [ -f fuzz/Cargo.toml ]; then
  cargo check --manifest-path fuzz/Cargo.toml --bins
fi
step "Python reference model cross-check"
cargo build -p tresor
python3 tests/oracle/reference-check.py target/debug/tresor
step "Postfix end-to-end (SMTP AUTH via tresor's auth socket, LMTP delivery)"
tests/postfix/postfix-e2e.sh target/debug/tresor
step "mbsync (isync) syncs an encrypted mailbox over IMAP, byte for byte"
python3 tests/clients/mbsync_e2e.py target/debug/tresor
step "Dovecot 2.3 peer interop"
tests/interop/dovecot-peer.sh target/debug/tresor
step "web page in a browser (chromium via playwright-core; screenshots in target/web-test)"
tests/web/browser-test.sh target/debug/tresor target/web-test
step "key lifecycle crash tests (fault injection at every step, random SIGKILL)"
# Last: these rebuild target/debug/tresor with the test-only fault hook.
cargo test -p tresor --features fault-injection --test lifecycle_faults
step "key lifecycle against the Dovecot 2.3 peer (passwd, reset, rotate, encrypt, decrypt, crashed half-way)"
cargo build -p tresor --features fault-injection
INTEROP_FAULTS=1 tests/interop/lifecycle-peer.sh target/debug/tresor
