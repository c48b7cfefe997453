#!/usr/bin/env bash
# Short, bounded fuzz run of every cargo fuzz target in fuzz/: `bash scripts/fuzz.sh [seconds]`
# (default 30 per target). Installs cargo-fuzz if it is missing, replays the seed corpus and
# the saved reproducers on the stable toolchain, then fuzzes each target for that many
# seconds. Fails on the first broken invariant and prints how to reproduce it.
#
# The machine has only the stable toolchain, so the fuzzer runs without a sanitizer (the code
# under test has no `unsafe`). FUZZ_SANITIZER=address asks for AddressSanitizer through
# RUSTC_BOOTSTRAP=1; FUZZ_STRICT=1 also checks the open findings listed in fuzz/README.md.
set -euo pipefail

secs="${1:-30}"
case "$secs" in '' | *[!0-9]*) echo "usage: $0 [seconds per target]" >&2; exit 2 ;; esac
root="$(cd "$(dirname "$0")/.." && pwd)"
fuzz="$root/fuzz"
cd "$root"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

sanitizer="${FUZZ_SANITIZER:-none}"
if [ "$sanitizer" != none ]; then
    # cargo fuzz asks rustc for -Zsanitizer, which only nightly accepts unless bootstrapped.
    export RUSTC_BOOTSTRAP=1
fi

echo "== replaying the seed corpus and the reproducers"
cargo test --manifest-path "$fuzz/Cargo.toml" --quiet

echo "== building the targets (sanitizer: $sanitizer)"
cargo fuzz build --fuzz-dir "$fuzz" --sanitizer "$sanitizer"

for target in alert_parser webhook; do
    dict="$fuzz/dict/alert.dict"
    [ "$target" = webhook ] && dict="$fuzz/dict/webhook.dict"
    # New inputs go to an ignored working corpus; the committed seeds are only read.
    work="$fuzz/work-corpus/$target"
    mkdir -p "$work" "$fuzz/artifacts/$target"
    echo "== fuzzing $target for ${secs}s"
    # -max_total_time bounds the run; the outer timeout is a backstop should libFuzzer hang.
    # -max_len reaches past the 16 KiB body limit; -timeout flags one input taking over 10 s.
    log="$fuzz/artifacts/$target/last-run.log"
    set +e
    timeout --kill-after=30 "$((secs + 120))" \
        cargo fuzz run --fuzz-dir "$fuzz" --sanitizer "$sanitizer" "$target" \
        "$work" "$fuzz/corpus/$target" -- \
        -max_total_time="$secs" -dict="$dict" -max_len=17000 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
    status=$?
    set -e
    grep -E '^(#[0-9]+[[:space:]]+DONE|stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb))' "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 60 "$log" >&2
        echo "== $target FAILED (exit $status); full log: $log" >&2
        echo "   the failing input is the crash-* file above, under fuzz/artifacts/$target/" >&2
        exit 1
    fi
done
echo "== fuzz: no invariant broken"
