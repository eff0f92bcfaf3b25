#!/usr/bin/env bash
# fuzz/raft.sh SECONDS [libFuzzer flags...]: called by `fuzz/run.sh raft`. Builds the
# Raft codec + core target (fuzz/RaftFuzz.swift) with ASan, seeds fuzz/corpus-raft/ with
# one valid encoding of every message kind (fuzz/raft-seeds.py), and fuzzes for SECONDS.
set -euo pipefail
seconds=$1; shift
cd "$(dirname "$0")/.."
mkdir -p fuzz/bin fuzz/corpus-raft fuzz/artifacts

# One module: the Time and Checksum modules, the core's sources, the frame layout, the codec,
# the byte reader and the entry point (their imports of each other are dropped: they are in
# the same module). A new import in one of these files needs its module added here.
src=fuzz/bin/raft-src
rm -rf "$src"; mkdir -p "$src"
for f in Sources/Time/*.swift Sources/RaftCore/*.swift Sources/Checksum/*.swift; do
    sed -E '/^(@_exported )?(public |internal )?import (Time|RaftCore|Checksum)$/d' "$f" > "$src/$(basename "$(dirname "$f")")-$(basename "$f")"
done
for f in Bytes Frame MessageCodec; do
    sed -E '/^(public |internal )?import (RaftCore|Checksum)$/d' "Sources/PeerWire/$f.swift" > "$src/PeerWire-$f.swift"
done
swiftc -sanitize=fuzzer,address -parse-as-library -O -swift-version 6 \
    -module-name RaftFuzz "$src"/*.swift fuzz/RaftFuzz.swift -o fuzz/bin/raft-fuzz \
    2>fuzz/bin/raft-build.log || { cat fuzz/bin/raft-build.log; exit 1; }

python3 fuzz/raft-seeds.py fuzz/corpus-raft

log=fuzz/artifacts/last-raft-run.log
set +e
SWIFT_BACKTRACE=enable=no fuzz/bin/raft-fuzz \
    -max_total_time="$seconds" -print_final_stats=1 -max_len=4096 \
    -artifact_prefix=fuzz/artifacts/ "$@" fuzz/corpus-raft >"$log" 2>&1
status=$?
set -e
grep -v -E '^#[0-9]|# Uses:' "$log" | tail -40
executions=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
corpus=$(ls fuzz/corpus-raft | wc -l)
crashes=$(ls fuzz/artifacts | grep -c -E '^(crash|leak|timeout|oom|slow-unit)-' || true)
echo "fuzz raft: ${seconds}s, ${executions} executions, corpus ${corpus} inputs, exit status ${status}, ${crashes} crash files in fuzz/artifacts"
exit "$status"
