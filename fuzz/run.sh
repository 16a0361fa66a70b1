#!/usr/bin/env bash
# Build every fuzz target and run each for a fixed budget (default 20 seconds) on the committed
# corpus (fuzz/corpus/<target>, read only) plus what it finds (a scratch directory), with a
# dictionary, bounded time per input (10 s), resident memory (2 GiB) and single allocations
# (512 MiB). Fails if any target crashes, times out or runs out of memory; the input is left in
# fuzz/artifacts/<target>/. Usage: [FUZZ_SEED=N] fuzz/run.sh [SECONDS] [TARGET...]
#
# The mutation seed is fixed (FUZZ_SEED, default 1) so that runs repeat: CI follows the mutation
# sequence of a local run of the same commit, stopping where its time runs out, so a finding in
# CI shows up again locally (nearly always: coverage of hash-ordered code can differ by process).
# Campaigns (FUZZING.md) use other seeds to go elsewhere.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-20}"
seed="${FUZZ_SEED:-1}"
shift || true

# cargo fuzz needs a nightly compiler (-Z sanitizer flags): the nightly toolchain if installed,
# else stable told to accept nightly flags.
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    toolchain=(+stable)
    export RUSTC_BOOTSTRAP=1
fi
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked

cargo "${toolchain[@]}" fuzz build
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo "${toolchain[@]}" fuzz list)

# What the runs find goes to a scratch directory, removed at the end, or to FUZZ_WORK (kept, for
# fuzz/merge.sh after a campaign): <dir>/<target>/ is the new corpus, <dir>/<target>.log the log.
if [ -n "${FUZZ_WORK:-}" ]; then
    mkdir -p "$FUZZ_WORK"
    scratch="$(cd "$FUZZ_WORK" && pwd)"
else
    scratch="$(mktemp -d)"
    trap 'rm -rf "$scratch"' EXIT
fi
cat dict/yaml.dict dict/template.dict > "$scratch/all.dict"
failed=()
for t in "${targets[@]}"; do
    case "$t" in
        fasttemplate | jinja | gotemplate | patterns) dict=dict/template.dict ;;
        *) dict="$scratch/all.dict" ;;
    esac
    mkdir -p "$scratch/$t" "corpus/$t"
    log="$scratch/$t.log"
    if cargo "${toolchain[@]}" fuzz run "$t" "$scratch/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -seed="$seed" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
        -dict="$dict" -print_final_stats=1 >"$log" 2>&1; then
        status=ok
    else
        status=FAILED
        failed+=("$t")
        # The panic message (the broken invariant), then libFuzzer's summary.
        grep -m 1 -A 4 'panicked at' "$log" || true
        grep -E '^(SUMMARY|==[0-9]+== ERROR)|Test unit written|^MS: |^0x' "$log" || tail -n 30 "$log"
    fi
    done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)"
    execs="$(grep -E 'stat::number_of_executed_units' "$log" | awk '{print $2}' || true)"
    printf '%-16s %-6s execs=%s %s\n' "$t" "$status" "${execs:-?}" "${done_line:-}"
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: failed: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
