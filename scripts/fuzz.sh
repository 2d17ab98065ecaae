#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers of untrusted bytes with libFuzzer, on stable Rust: the targets in fuzz/
# are built with LLVM's sanitizer-coverage instrumentation (the flags cargo-fuzz passes, without a sanitizer, which
# needs nightly) and linked against libfuzzer-sys's libFuzzer. Each target runs for SECONDS (default 60) from its
# seed corpus in fuzz/corpus/<target>, and the executions, corpus size and findings are written to
# fuzz/results.json. A finding (a panic, an abort, a leak or an allocation over -rss_limit_mb) fails the script and
# leaves its input in fuzz/artifacts/<target>/.
#
#     scripts/fuzz.sh [SECONDS] [target ...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER=${1:-60}
shift || true
TARGETS=${*:-safetensors_header gauge_file npy npz sae_config gguf}
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-/var/tmp/gauge-transport-fuzz-target}
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# --target keeps the instrumentation off build scripts and proc macros (which run on the host, unlinked to libFuzzer).
TRIPLE=$(rustc -vV | sed -n "s/^host: //p")
(cd fuzz && cargo build --release --bins --target "$TRIPLE")
python3 scripts/fuzz_seeds.py
results=()
status=0
for t in $TARGETS; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  log="fuzz/artifacts/$t/log.txt"
  set +e
  "$CARGO_TARGET_DIR/$TRIPLE/release/$t" "fuzz/corpus/$t" -max_total_time="$SECONDS_PER" -rss_limit_mb=1024 \
    -malloc_limit_mb=1024 -max_len=65536 -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
  findings=$(find "fuzz/artifacts/$t" -name 'crash-*' -o -name 'oom-*' -o -name 'leak-*' -o -name 'timeout-*' | wc -l)
  corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
  echo "$t: $execs executions in ${SECONDS_PER} s, coverage $cov, corpus $corpus, findings $findings (exit $rc)"
  results+=("{\"target\": \"$t\", \"seconds\": $SECONDS_PER, \"executions\": $execs, \"coverage\": $cov, \"corpus\": $corpus, \"findings\": $findings, \"exit\": $rc}")
  if [ "$rc" -ne 0 ] || [ "$findings" -ne 0 ]; then status=1; fi
done
(IFS=,; echo "[${results[*]}]") | python3 -m json.tool > fuzz/results.json
exit $status
