#!/usr/bin/env bash
# examples/local-cluster/run.sh — three baton agents on this machine: shows who leads,
# kills the leader with SIGKILL, shows the failover and how long it took, brings the
# node back (it rejoins without deposing anyone), then hands over with SIGTERM and
# stops everything. Ctrl-C at any point leaves no process behind.
set -euo pipefail
cd "$(dirname "$0")/../.."

BATON="${BATON_BIN:-}"
if [[ -z "$BATON" ]]; then
    echo "== building baton (release)"
    swift build -c release --product baton >/dev/null
    BATON=.build/release/baton
fi

WORK="$(mktemp -d /tmp/baton-local-cluster.XXXXXX)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

head -c 32 /dev/urandom > "$WORK/secret"
PEERS="n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103"

start() {  # start N [--bootstrap]
    local i=$1; shift
    "$BATON" agent --id "n$i" --peers "$PEERS" --api-listen "127.0.0.1:810$i" \
        --data-dir "$WORK/n$i" --cluster-secret-file "$WORK/secret" "$@" \
        2>>"$WORK/n$i.log" &
    PIDS[$i]=$!
}

leader() {  # prints the node whose /leader says it is in office
    for i in 1 2 3; do
        if curl -sf "127.0.0.1:810$i/leader" 2>/dev/null | grep -q '"self":true'; then echo "$i"; return; fi
    done
}

wait_leader() {  # wait_leader [EXCLUDE]
    for _ in $(seq 1 500); do
        local l; l="$(leader)"
        if [[ -n "$l" && "$l" != "${1:-}" ]]; then echo "$l"; return; fi
        sleep 0.01
    done
    echo "no leader" >&2; exit 1
}

show() {
    for i in 1 2 3; do
        printf '  n%s  %s\n' "$i" "$(curl -s "127.0.0.1:810$i/leader" 2>/dev/null || echo '(down)')"
    done
}

echo "== starting n1 n2 n3 (data in $WORK)"
for i in 1 2 3; do start "$i" --bootstrap; done
L="$(wait_leader)"
echo "== n$L leads:"; show

echo "== kill -9 n$L"
T0=$(date +%s%N)
kill -9 "${PIDS[$L]}"; wait "${PIDS[$L]}" 2>/dev/null || true
N="$(wait_leader "$L")"
T1=$(date +%s%N)
echo "== n$N in office $(( (T1 - T0) / 1000000 )) ms after the kill:"; show

echo "== restarting n$L from its data dir (no --bootstrap): it rejoins as a follower"
start "$L"
sleep 1
show

echo "== SIGTERM to n$N: planned hand-over"
T0=$(date +%s%N)
kill -TERM "${PIDS[$N]}"
M="$(wait_leader "$N")"
T1=$(date +%s%N)
echo "== n$M in office $(( (T1 - T0) / 1000000 )) ms after SIGTERM (polling with curl adds a few ms)"
wait "${PIDS[$N]}" 2>/dev/null && echo "== n$N exited cleanly"
show
echo "== office decisions logged by the agents:"
grep -h "event=office" "$WORK"/n*.log | sed 's/^/  /'
