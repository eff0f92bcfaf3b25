"""A userspace TCP proxy for delay and reordering (`tc netem` is not available here).

One proxy runs inside each node's namespace and carries that node's outbound peer
connections: the node's --peers list names 127.0.0.1:LOCAL for every other member, and
the proxy forwards to the member's real address on the bridge. So every peer link passes
exactly one proxy, and the harness can delay a link by editing a JSON file the proxy
re-reads every 50 ms: {"TARGET": [base_ms, jitter_ms], ...}.

TCP delivers a stream in order, so a chunk is never released before the one ahead of it
on the same direction; "reordering" is what remains possible between TCP streams: the two
directions of a link, the links of different peers, and a message on a new connection
overtaking the tail of an old one. Partitions, loss and duplication are nft rules on the
real packets (netns.py), not the proxy's business.

The proxy must not change how a cut link behaves: the agent's own socket only reaches
the proxy on loopback, where every byte is acknowledged at once, so its TCP_USER_TIMEOUT
never fires. The upstream socket therefore gets the agent's TCP_USER_TIMEOUT (1 s), and
when it fails the proxy closes the agent's side, which then redials as it would without
a proxy. (Without this, a link cut by a partition resumed only at the proxy's next TCP
retransmission, about 1.1 s after the heal, whatever the agent did.)

Usage: python3 -m faultlib.proxy CONFIG SEED LOCAL_PORT=TARGET=HOST:PORT ...
"""
import asyncio
import json
import os
import random
import socket
import sys
import time

# The agent's TransportLimits.unacknowledgedTimeoutMs.
UNACKNOWLEDGED_TIMEOUT_MS = 1000


class Delays:
    def __init__(self, path, seed):
        self.path = path
        self.mtime = None
        self.table = {}
        self.rng = random.Random(seed)

    def reload(self):
        try:
            m = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            self.table, self.mtime = {}, None
            return
        if m != self.mtime:
            self.mtime = m
            try:
                with open(self.path) as f:
                    self.table = json.load(f)
            except (OSError, ValueError):
                pass  # a half-written file: keep the old table, the next read fixes it

    def draw(self, target):
        base, jitter = self.table.get(target, (0, 0))
        if not base and not jitter:
            return 0.0
        return (base + self.rng.uniform(0, jitter)) / 1000.0


async def pump(reader, writer, delays, target):
    """Copies one direction, holding each chunk for its drawn delay, never out of order."""
    queue = asyncio.Queue()
    last_release = 0.0

    async def release():
        while True:
            item = await queue.get()
            if item is None:
                break
            at, data = item
            wait = at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                writer.write(data)
                await writer.drain()
            except (OSError, ConnectionError):
                break
        try:
            writer.close()
        except (OSError, RuntimeError):
            pass

    task = asyncio.create_task(release())
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            at = max(time.monotonic() + delays.draw(target), last_release)
            last_release = at
            queue.put_nowait((at, data))
    except (OSError, ConnectionError):
        pass
    queue.put_nowait(None)
    await task


async def listen(local_port, target, host, port, delays):
    async def handle(client_r, client_w):
        try:
            up_r, up_w = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=1.0)
        except (OSError, asyncio.TimeoutError):
            client_w.close()
            return
        up_w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, UNACKNOWLEDGED_TIMEOUT_MS)
        await asyncio.gather(pump(client_r, up_w, delays, target), pump(up_r, client_w, delays, target))

    return await asyncio.start_server(handle, "127.0.0.1", local_port, reuse_address=True)


async def main(argv):
    config, seed, routes = argv[0], int(argv[1]), argv[2:]
    delays = Delays(config, seed)

    async def reloader():
        while True:
            delays.reload()
            await asyncio.sleep(0.05)

    servers = []
    for r in routes:
        local, target, addr = r.split("=", 2)
        host, port = addr.rsplit(":", 1)
        servers.append(await listen(int(local), target, host, int(port), delays))
    print("proxy ready", flush=True)  # only once every listener is bound
    await asyncio.gather(reloader(), *(s.serve_forever() for s in servers))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
