#!/usr/bin/env bash
# Builds every cargo-fuzz target in fuzz/ and runs each for a few seconds from its seed corpus.
# Exits non-zero if any target crashes, panics, times out, runs out of memory or fails to build.
#
#   scripts/fuzz-smoke.sh            # 10 s per target
#   scripts/fuzz-smoke.sh 60         # 60 s per target (or FUZZ_SECONDS=60)
#   scripts/fuzz-smoke.sh 30 open    # only the named targets
#
# Environment:
#   FUZZ_SECONDS    seconds per target when not given as the first argument (default 10)
#   FUZZ_SANITIZER  address (default) or none
#   FUZZ_TIMEOUT    seconds one input may take before it counts as a hang (default 30)
#   SKIP_SEED=1     do not run fuzz/seed.sh (use fuzz/corpus as it is)
#   VECTORS         passed on to fuzz/seed.sh
#
# Works on stable Rust: cargo-fuzz needs nightly-only rustc flags (-Zsanitizer, sancov
# passes), so RUSTC_BOOTSTRAP=1 is set when the toolchain is not nightly.
# Crash inputs are kept in fuzz/artifacts/<target>/, logs in fuzz/target/smoke-logs/.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

seconds=${1:-${FUZZ_SECONDS:-10}}
shift || true
sanitizer=${FUZZ_SANITIZER:-address}
timeout=${FUZZ_TIMEOUT:-30}
all_targets=(key_string file_header open attributes_file uidlist lmtp_session)
if (($# > 0)); then targets=("$@"); else targets=("${all_targets[@]}"); fi
logs=fuzz/target/smoke-logs

if ! cargo fuzz --version > /dev/null 2>&1; then
    echo "fuzz-smoke: cargo-fuzz is missing; install it with: cargo install cargo-fuzz --locked" >&2
    exit 2
fi
if ! rustc -V | grep -q nightly; then
    export RUSTC_BOOTSTRAP=1
fi
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}

if [[ -z ${SKIP_SEED:-} ]]; then
    echo "== seeding fuzz/corpus"
    fuzz/seed.sh
fi

echo "== building (sanitizer: $sanitizer)"
cargo fuzz build --sanitizer "$sanitizer"

mkdir -p "$logs"
failed=()
summary=()
for t in "${targets[@]}"; do
    echo "== $t: ${seconds}s"
    mkdir -p "fuzz/corpus/$t"
    log=$logs/$t.log
    rc=0
    cargo fuzz run --sanitizer "$sanitizer" "$t" -- \
        -max_total_time="$seconds" -timeout="$timeout" -print_final_stats=1 \
        > "$log" 2>&1 || rc=$?
    runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 runs in \2 s/p' "$log" | tail -n 1)
    if ((rc != 0)); then
        failed+=("$t")
        summary+=("$(printf '%-16s FAILED (exit %d), log %s' "$t" "$rc" "$log")")
        echo "-- $t FAILED (exit $rc); end of $log:"
        tail -n 40 "$log"
        ls -1 "fuzz/artifacts/$t/" 2> /dev/null | sed 's/^/   artifact: fuzz\/artifacts\/'"$t"'\//' || true
    else
        summary+=("$(printf '%-16s ok, %s' "$t" "${runs:-? runs}")")
    fi
done

echo "== summary"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
    echo "fuzz-smoke: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
    exit 1
fi
