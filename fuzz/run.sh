#!/usr/bin/env bash
# fuzz/run.sh [http|raft] SECONDS [libFuzzer flags...]: build one libFuzzer target with
# ASan, seed its corpus, fuzz for SECONDS, and print how many inputs ran and the corpus
# size. Targets: `http` (the default) is the HTTP request parser; `raft` is the Raft
# message codec and the core's handling of decoded messages (fuzz/RaftFuzz.swift).
# Crash inputs land in fuzz/artifacts/ (replay one with `fuzz/bin/TARGET-fuzz
# fuzz/artifacts/crash-…`); the corpus grows in fuzz/corpus/ (fuzz/corpus-raft/).
set -euo pipefail
target=http
case "${1:-}" in http|raft) target=$1; shift ;; esac
seconds=${1:?usage: fuzz/run.sh [http|raft] SECONDS [libFuzzer flags...]}
shift
cd "$(dirname "$0")/.."
mkdir -p fuzz/bin fuzz/corpus fuzz/corpus-raft fuzz/artifacts
if [ "$target" = raft ]; then exec fuzz/raft.sh "$seconds" "$@"; fi

# One module: the parser's sources plus the entry point, so nothing is left out by a
# module boundary; -O as in release, Swift 6 mode as in Package.swift.
swiftc -sanitize=fuzzer,address -parse-as-library -O -swift-version 6 \
    -module-name HTTPParserFuzz \
    Sources/HTTPParser/*.swift fuzz/HTTPParserFuzz.swift -o fuzz/bin/http-parser-fuzz \
    2>fuzz/bin/build.log || { cat fuzz/bin/build.log; exit 1; }  # the log is ld.gold noise when it links

# Seeds: valid requests of each shape, so mutation starts inside the grammar.
seed() { printf '%b' "$2" > "fuzz/corpus/seed-$1"; }
seed get 'GET /leader HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n'
seed query 'GET /leader?wait=5s&term=3&x=a%20b+c HTTP/1.1\r\nHost: a\r\n\r\n'
seed post 'POST /resign HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello'
seed http10 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'
seed absolute 'GET http://example.com:80/status?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n'
seed options 'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n'
seed expect 'PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\nConnection: close, TE\r\n\r\n'
seed pipelined '\r\nGET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n'
seed smuggle 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 4\r\nTransfer-Encoding: chunked\r\n\r\n'

# SWIFT_BACKTRACE=enable=no keeps the Swift runtime's crash handler out of the way:
# with it on, the handler takes the signal first and (checked with Swift 6.3.1) trips
# ASan itself, so the report shows a bogus heap overflow in CrashHandlerLinux.cpp
# instead of libFuzzer's "deadly signal" and the real fault; older toolchains also
# lost the crash file. libFuzzer exits 77 when it finds a crash.
log=fuzz/artifacts/last-run.log
set +e
SWIFT_BACKTRACE=enable=no fuzz/bin/http-parser-fuzz \
    -max_total_time="$seconds" -print_final_stats=1 -dict=fuzz/http.dict \
    -artifact_prefix=fuzz/artifacts/ "$@" fuzz/corpus >"$log" 2>&1
status=$?
set -e
grep -v -E '^#[0-9]|# Uses:' "$log" | tail -40
executions=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
crashes=$(ls fuzz/artifacts | grep -c -E '^(crash|leak|timeout|oom|slow-unit)-' || true)
echo "fuzz: ${seconds}s, ${executions} executions, exit status ${status}, ${crashes} crash files in fuzz/artifacts"
exit "$status"
