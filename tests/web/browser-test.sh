#!/usr/bin/env bash
# The self-service web page in Debian's chromium (chromium + chromium-driver from apt),
# driven by playwright-core from npm. Screenshots, the downloaded recovery file and the
# server log go to target/web-test/ (or $2).
#
# usage: tests/web/browser-test.sh [TRESOR_BINARY] [OUTPUT_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="$(realpath "${1:-$root/target/debug/tresor}")"
out="${2:-$root/target/web-test}"
mkdir -p "$out"
out="$(realpath "$out")"

[ -x /usr/bin/chromium ] || { echo "browser-test: /usr/bin/chromium missing (apt-get install chromium chromium-driver)" >&2; exit 1; }
command -v node >/dev/null || { echo "browser-test: node missing" >&2; exit 1; }

cd "$here"
npm ci --no-audit --no-fund --loglevel=error
node browser-test.mjs "$bin" "$out"
