#!/usr/bin/env bash
# examples/local-cluster/run.sh — the README's first command: builds baton, then runs
# `baton demo`: three agents on this machine (127.0.0.1); shows who leads, kills the
# leader with SIGKILL and shows the failover and its time, restarts the node (it rejoins
# as a follower without deposing anyone), hands over with SIGTERM, then stops everything
# and removes its files. Ctrl-C at any point leaves no process behind.
#
#   ./examples/local-cluster/run.sh                   # the demo
#   ./examples/local-cluster/run.sh --keep-running    # then keep the cluster up to curl it
#   ./examples/local-cluster/run.sh --help            # every option (ports, verbose, …)
#   BATON_BIN=/usr/bin/baton ./examples/local-cluster/run.sh   # skip the build
#
# Why a debug build: on a fresh machine the first build is what you wait for. A cold
# debug build compiles faster than a release build (no whole-module optimisation, C at
# -O0): measured on the same busy 2-core machine, 1,027 s against 1,427 s (`swift build
# [-c release] --product baton --scratch-path EMPTY_DIR`). It is also the build
# `./scripts/test` (the README's second command) uses, so that command starts with baton
# already built. The demo's times are the agents' timers and round trips, which
# optimisation hardly changes.
set -euo pipefail
cd "$(dirname "$0")/../.."

BATON="${BATON_BIN:-}"
if [[ -z "$BATON" ]]; then
    if ! command -v swift >/dev/null && [[ -x /opt/swift/usr/bin/swift ]]; then
        export PATH="/opt/swift/usr/bin:$PATH"
    fi
    command -v swift >/dev/null || { echo "run.sh: swift not found: install Swift 6.3 at /opt/swift or put it on PATH" >&2; exit 2; }
    # The build compiles against libsystemd-dev's headers (the sd-bus API it loads at
    # run time); install them when missing, as scripts/test does.
    if [[ ! -f /usr/include/systemd/sd-bus.h ]]; then
        if [[ $EUID -eq 0 ]]; then
            echo "== installing libsystemd-dev (headers the build checks the sd-bus calls against)"
            (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q libsystemd-dev) >/dev/null
        else
            echo "run.sh: the build needs libsystemd-dev's headers: sudo apt-get install libsystemd-dev" >&2; exit 2
        fi
    fi
    echo "== building baton (debug; the first build takes a few minutes)"
    swift build --product baton
    BATON=.build/debug/baton
fi

# exec: the demo replaces this shell, so Ctrl-C and SIGTERM reach it directly and it
# stops its agents itself.
exec "$BATON" demo "$@"
