#!/usr/bin/env bash
# Runs the mailcrypt criterion benches and `openssl speed -evp aes-256-gcm` in the same run,
# then prints each bulk case in MB/s with its ratio to openssl's 16 KB figure, and the
# per-message unlock and seal-header costs in ms. Medians throughout: criterion's median
# point estimate, and the median of OPENSSL_RUNS openssl runs per block size.
#
# Usage: scripts/bench-crypto.sh [extra args for the criterion binary, e.g. a filter]
# Env:   OPENSSL_SECONDS (default 3), OPENSSL_RUNS (default 3), CARGO_BUILD_JOBS (default 1).
# Goal (issue): bulk seal/open >= 80 % of openssl's 16 KB figure.
# MB/s are decimal (10^6 bytes/s) on both sides; 10 KB = 10,240 bytes, 10 MB = 10,485,760.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
seconds="${OPENSSL_SECONDS:-3}"
runs="${OPENSSL_RUNS:-3}"

target_dir="$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
criterion_dir="$target_dir/criterion"

# Results older than this file were not produced by this run (e.g. filtered out).
stamp="$(mktemp)"
trap 'rm -f "$stamp"' EXIT

cargo bench -p mailcrypt --bench crypto -- "$@"

# `-mr` prints "+F:<n>:<cipher>:<bytes per second>"; one comma-separated figure per run.
openssl_bps() {
    local i
    for ((i = 0; i < runs; i++)); do
        openssl speed -mr -evp aes-256-gcm -bytes "$1" -seconds "$seconds" 2>/dev/null |
            awk -F: '$1 == "+F" { print $4 }' | tail -n 1
    done | paste -sd, -
}
echo "openssl speed -evp aes-256-gcm: $runs x $seconds s per block size ..." >&2
ossl_16k="$(openssl_bps 16384)"
ossl_10k="$(openssl_bps 10240)"

python3 - "$criterion_dir" "$stamp" "$ossl_16k" "$ossl_10k" "$(openssl version)" <<'PY'
import json
import os
import statistics
import sys

crit, stamp, csv_16k, csv_10k, ossl_version = sys.argv[1:]
since = os.path.getmtime(stamp)


def mbs_runs(csv):
    """The openssl runs in MB/s and their median (None when openssl printed nothing)."""
    runs = [float(x) / 1e6 for x in csv.split(",") if x]
    return runs, (statistics.median(runs) if runs else None)


def result(group, name):
    """(median ns per iteration, throughput bytes), or None when absent or stale."""
    d = os.path.join(crit, group, name, "new")
    try:
        with open(os.path.join(d, "estimates.json")) as f:
            est = json.load(f)
        with open(os.path.join(d, "benchmark.json")) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    if os.path.getmtime(os.path.join(d, "estimates.json")) < since:
        return None
    return est["median"]["point_estimate"], (meta.get("throughput") or {}).get("Bytes")


def pct(x, ref):
    return f"{100 * x / ref:.0f} %" if ref else "-"


runs_16k, ossl_16k = mbs_runs(csv_16k)
runs_10k, ossl_10k = mbs_runs(csv_10k)

bulk = [
    ("seal", "10KB", "seal 10 KB (incl. P-521 header)"),
    ("seal", "10MB", "seal 10 MB (incl. P-521 header)"),
    ("seal", "stream_10MB", "Sealer 10 MB (streaming)"),
    ("open", "10KB", "open 10 KB (incl. P-521 unwrap)"),
    ("open", "10MB", "open 10 MB (incl. P-521 unwrap)"),
    ("open", "decrypt_10KB", "decrypt 10 KB (bulk AES-GCM)"),
    ("open", "decrypt_10MB", "decrypt 10 MB (bulk AES-GCM)"),
]
w = 34
print()
print(f"openssl: {ossl_version}")
print(f"{'case':<{w}} {'MB/s':>9} {'% of openssl 16 KB':>19}")
print("-" * (w + 30))
for group, name, label in bulk:
    r = result(group, name)
    if r is None or not r[1]:
        print(f"{label:<{w}} {'(not run)':>9}")
        continue
    mbs = r[1] / r[0] * 1000
    print(f"{label:<{w}} {mbs:9.0f} {pct(mbs, ossl_16k):>19}")
seal, header = result("seal", "10MB"), result("seal_header", "P-521")
if seal and header and seal[1] and seal[0] > header[0]:
    mbs = seal[1] / (seal[0] - header[0]) * 1000
    print(f"{'seal 10 MB body (seal - header)':<{w}} {mbs:9.0f} {pct(mbs, ossl_16k):>19}")
for label, v, runs in (
    ("openssl speed 16 KB (median)", ossl_16k, runs_16k),
    ("openssl speed 10 KB (median)", ossl_10k, runs_10k),
):
    if v is None:
        print(f"{label:<{w}} {'(failed)':>9}")
    else:
        print(f"{label:<{w}} {v:9.0f}   runs: {', '.join(f'{x:.0f}' for x in runs)}")

print()
print(f"{'per message (median)':<{w}} {'unlock ms':>9} {'seal header ms':>15}")
print("-" * (w + 26))
for curve in ("P-256", "P-384", "P-521"):
    cells = []
    for group in ("unlock", "seal_header"):
        r = result(group, curve)
        cells.append(f"{r[0] / 1e6:.3f}" if r else "-")
    print(f"{curve:<{w}} {cells[0]:>9} {cells[1]:>15}")
PY
