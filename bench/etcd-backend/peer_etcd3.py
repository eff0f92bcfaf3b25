"""A correct lease election with python-etcd3 (the peer of bench/etcd-backend).

Put-if-absent done right, unlike the broken example issue 18 quotes: the key is created
only if absent (a transaction on create_revision == 0), bound to a lease; the value says
who leads; the leader renews every TTL/3 (clientv3's rhythm) and stops leading the moment
a renewal fails or etcd says the lease is gone; the others watch the key from the
revision they read and contend again when it is deleted. Prints `LEADER` / `LOST` lines.
SIGTERM revokes the lease it holds (its key goes with it) and exits: the planned hand-over.

    python peer_etcd3.py NAME TTL PREFIX HOST:PORT
"""
import os
import signal
import sys
import time

import etcd3
import etcd3.events


def main():
    name, ttl, prefix, endpoint = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    host, port = endpoint.rsplit(":", 1)
    client = etcd3.client(host=host, port=int(port), timeout=max(1, ttl // 2))
    key = prefix + "/leader"
    held = {}

    def hand_over(*_):
        # Revoking deletes the key bound to the lease, so the next candidate's watch fires.
        if "lease" in held:
            try:
                held["lease"].revoke()
            except Exception:
                pass
        os._exit(0)
    signal.signal(signal.SIGTERM, hand_over)
    while True:
        lease = client.lease(ttl)
        held["lease"] = lease
        won, _ = client.transaction(
            compare=[client.transactions.create(key) == 0],
            success=[client.transactions.put(key, name, lease=lease)],
            failure=[])
        if won:
            print("LEADER", flush=True)
            while True:
                time.sleep(ttl / 3)
                try:
                    if lease.refresh()[0].TTL <= 0:
                        break
                except Exception:
                    break
            print("LOST", flush=True)
            continue
        lease.revoke()
        value, meta = client.get(key)
        if value is None:
            continue
        events, cancel = client.watch(key, start_revision=meta.mod_revision + 1)
        for event in events:
            if isinstance(event, etcd3.events.DeleteEvent):
                break
        cancel()


if __name__ == "__main__":
    main()
