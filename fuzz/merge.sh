#!/usr/bin/env bash
# Fold what a run kept (FUZZ_WORK=DIR fuzz/run.sh ...) into the committed corpora, minimised:
# libFuzzer's -merge=1 keeps the smallest set of inputs of fuzz/corpus/<target> and DIR/<target>
# that reaches every feature (coverage edge and counter) either reaches, and the committed corpus
# is replaced by that set. Usage: fuzz/merge.sh DIR [TARGET...] (default: every target with a
# DIR/<target>/ directory). Run it after fuzz/run.sh has built the targets.
set -euo pipefail
cd "$(dirname "$0")"
work="$(cd "$1" && pwd)"
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for d in "$work"/*/; do targets+=("$(basename "$d")"); done
fi
bin="target/$(rustc -vV | sed -n 's/^host: //p')/release"
for t in "${targets[@]}"; do
    [ -x "$bin/$t" ] || { echo "merge: $bin/$t is not built (run fuzz/run.sh first)" >&2; exit 1; }
    merged="$(mktemp -d)"
    "$bin/$t" -merge=1 -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
        "$merged" "corpus/$t" "$work/$t" >"$work/$t.merge.log" 2>&1 \
        || { tail -n 20 "$work/$t.merge.log" >&2; rm -rf "$merged"; exit 1; }
    before="$(find "corpus/$t" -type f | wc -l) files, $(du -sk "corpus/$t" | cut -f1) KiB"
    rm -rf "corpus/$t"
    mv "$merged" "corpus/$t"
    chmod 755 "corpus/$t"
    echo "$t: $before -> $(find "corpus/$t" -type f | wc -l) files, $(du -sk "corpus/$t" | cut -f1) KiB ($(grep -m1 -o 'MERGE-OUTER: [0-9]* new files with [0-9]* new features' "$work/$t.merge.log" || echo 'merged'))"
done
