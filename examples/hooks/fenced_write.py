#!/usr/bin/env python3
"""fenced_write.py — the application's half of fencing, as a runnable sketch.

A writer reads the token file the `fencing-token` hook keeps (the term of the office
this node holds, 0 when out of office) and sends it with every write. The store keeps
the highest token it has accepted and refuses any write with a lower one, and any with
token 0. So a former leader that wakes from a pause and writes with its old term is
refused as soon as the new leader has written once, even if it still believes it leads.

    fenced_write.py --token-file /run/baton/fencing-token --store /srv/data WRITE_TEXT

Exit status: 0 written, 3 refused as stale (the message names both tokens), 2 usage.
The store here is a directory holding `data` and `highest-token`, updated under an
exclusive lock; a real application does the same check inside its database
transaction (e.g. UPDATE ... WHERE fencing_token <= :token).
"""
import argparse
import fcntl
import os
import sys


class StaleToken(Exception):
    pass


def read_token(path):
    with open(path) as f:
        text = f.read().strip()
    if not text.isdigit():
        raise ValueError(f"{path}: '{text}' is not a fencing token (a non-negative integer)")
    return int(text)


def fenced_write(store, token, data):
    """Writes `data` into `store` if `token` is at least the highest seen, atomically
    with respect to other writers; raises StaleToken otherwise."""
    if token <= 0:
        raise StaleToken("token 0: this node is not in office")
    os.makedirs(store, exist_ok=True)
    with open(os.path.join(store, "lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        highest_path = os.path.join(store, "highest-token")
        highest = read_token(highest_path) if os.path.exists(highest_path) else 0
        if token < highest:
            raise StaleToken(f"token {token} is older than {highest}, already used by a newer leader")
        for name, text in (("data", data), ("highest-token", f"{token}\n")):
            tmp = os.path.join(store, name + ".tmp")
            with open(tmp, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, os.path.join(store, name))


def main():
    ap = argparse.ArgumentParser(description="Write to a store only with a current fencing token.")
    ap.add_argument("--token-file", default="/run/baton/fencing-token")
    ap.add_argument("--store", required=True)
    ap.add_argument("text")
    args = ap.parse_args()
    try:
        token = read_token(args.token_file)
        fenced_write(args.store, token, args.text)
    except StaleToken as e:
        print(f"fenced_write: refused: {e}", file=sys.stderr)
        sys.exit(3)
    except (OSError, ValueError) as e:
        print(f"fenced_write: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"fenced_write: written with token {token}")


if __name__ == "__main__":
    main()
