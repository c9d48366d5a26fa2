#!/usr/bin/env bash
# Count the server's instructions under one load of the load bench (docs/benchmarks.md):
# the release server runs under callgrind with instrumentation off, switched on once the bench
# has seeded its cases, for SECONDS of the mix, then dumped. Instruction counts repeat for the
# same binary and inputs however busy the machine is, which wall-clock figures on a VM do not.
#
#   scripts/callgrind-load.sh OUT_DIR [SECONDS] -- [load bench arguments]
#   scripts/callgrind-load.sh /tmp/cg-ingest 15 -- --backend sqlite --mix ingest-new \
#       --concurrency 16 --seed 2000 --seconds 30
#
# The bench's own window must outlast the warm-up plus SECONDS (the server is killed when
# the bench ends). The count starts once the bench has printed a line matching CALLGRIND_AFTER
# (default `seeded`; `raw INSERT` starts it after the ceilings, when the first mix begins —
# the ceilings take most of a short run). Read the result with `callgrind_annotate OUT_DIR/callgrind.out.*`; divide
# by the calls the bench reports, or by a function's call count in the dump.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:?usage: $0 OUT_DIR [SECONDS] -- [load bench arguments]}
shift
seconds=15
if [[ ${1:-} != "--" && -n ${1:-} ]]; then
    seconds=$1
    shift
fi
[[ ${1:-} == "--" ]] && shift

command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
mkdir -p "$out"
rm -f "$out"/callgrind.out.*
log="$out/bench.log"

cargo bench -p aftersales-server --bench load --no-run >/dev/null 2>&1
AFTERSALES_BENCH_SERVER_WRAPPER="valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$out/callgrind.out.%p" \
    cargo bench -p aftersales-server --bench load -- "$@" >"$log" 2>&1 &
bench=$!

# By default the first line after seeding: the server has started and done its one-off work.
after=${CALLGRIND_AFTER:-seeded}
until grep -q "$after" "$log" 2>/dev/null; do
    kill -0 "$bench" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 1
done
sleep 2 # the bench's warm-up second, and a margin
callgrind_control -i on >/dev/null
sleep "$seconds"
callgrind_control -d >/dev/null
callgrind_control -i off >/dev/null
wait "$bench" || true
echo "bench output: $log"
ls "$out"/callgrind.out.*
