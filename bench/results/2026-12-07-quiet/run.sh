#!/bin/bash
# Quiet-machine rerun of failover and hand-over: A = 2c72f74 (before AgentDriver),
# B = c7ed757 (before membership), C = this stop's head. Alternating, same session.
set -u
cd /work/wt/lead
R=/tmp/qb/results; mkdir -p $R
declare -A BIN=([A]=/tmp/qb/baton-A [B]=/tmp/qb/baton-B [C]=/tmp/qb/baton-C)
log() { echo "$(date +%T) $* (load $(cut -d' ' -f1 /proc/loadavg))" >> $R/progress.txt; }
log start
for i in 1 2 3; do
  for s in A B C; do
    log "handover $s $i"
    BATON_BIN=${BIN[$s]} timeout 600 python3 bench/handover/run.py --rounds 50 --nice 10 > $R/handover-$s-$i.txt 2>&1
  done
done
for i in 1 2 3; do
  for s in A B C; do
    log "failover $s $i"
    timeout 900 bench/failover/run --system baton --rounds 40 --idle-seconds 0 --nice 10 --baton-bin ${BIN[$s]} --report $R/failover-$s-$i.txt > $R/failover-$s-$i.log 2>&1
  done
done
log end
