#!/usr/bin/env python3
"""slowloris.py: background load for bench/http's idle-connections test.

Opens IDLE keep-alive connections (each makes one GET, reads the full answer, then stays
open and silent) and SLOWLORIS connections (each sends a request head one byte every
INTERVAL ms and never finishes it). A slowloris connection the server closes (header-read
timeout, header limits) is counted and reopened, so the pressure stays constant.

Protocol with the harness, on stdout: one line "ready idle=N slowloris=M open_seconds=S"
once everything is open, then, after "stop" on stdin (or --duration seconds, whichever comes
first), one line "stats key=value ...". Everything is bounded: connection counts, the open
phase (--open-timeout) and the whole run (--duration).
"""
import argparse
import asyncio
import random
import resource
import sys
import threading
import time

HEADER_CYCLE = b"X-Slow: a\r\n"


def raise_fd_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        sys.exit(f"slowloris.py: RLIMIT_NOFILE {soft} < {needed}; raise ulimit -n")


async def read_response(reader):
    """Read one HTTP/1.1 response with Content-Length; returns the status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


class Load:
    def __init__(self, args):
        self.args = args
        self.stats = {
            "idle_open": 0, "idle_failed": 0, "idle_non200": 0, "idle_closed_by_server": 0,
            "slowloris_open": 0, "slowloris_failed": 0, "slowloris_closed_by_server": 0,
            "slowloris_bytes": 0,
        }
        self.stopping = asyncio.Event()
        self.writers = []

    async def open_idle(self, gate):
        args = self.args
        async with gate:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(args.host, args.port), args.open_timeout)
                writer.write(f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n\r\n".encode())
                status = await asyncio.wait_for(read_response(reader), args.open_timeout)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
                self.stats["idle_failed"] += 1
                return None
        if status != 200:
            self.stats["idle_non200"] += 1
        self.stats["idle_open"] += 1
        self.writers.append(writer)
        return reader

    async def watch_idle(self, reader):
        """Wait for the server to close an idle connection (or for the end)."""
        closed = asyncio.ensure_future(reader.read(1))
        stop = asyncio.ensure_future(self.stopping.wait())
        done, _ = await asyncio.wait({closed, stop}, return_when=asyncio.FIRST_COMPLETED)
        if closed in done and not self.stopping.is_set():
            self.stats["idle_closed_by_server"] += 1
            self.stats["idle_open"] -= 1
        closed.cancel()
        stop.cancel()

    async def slowloris(self, index, opened):
        args = self.args
        head = f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n".encode()
        interval = args.interval_ms / 1000
        first = True
        while not self.stopping.is_set():
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(args.host, args.port), args.open_timeout)
            except (OSError, asyncio.TimeoutError):
                self.stats["slowloris_failed"] += 1
                if first:
                    opened.release()
                    first = False
                await asyncio.sleep(interval)
                continue
            self.stats["slowloris_open"] += 1
            if first:
                opened.release()
                first = False
            self.writers.append(writer)
            closed = asyncio.ensure_future(reader.read(1))
            await asyncio.sleep(random.random() * interval)  # spread the trickle over the interval
            sent = 0
            while not self.stopping.is_set() and not closed.done():
                stream = head if sent < len(head) else HEADER_CYCLE
                offset = sent if sent < len(head) else (sent - len(head)) % len(HEADER_CYCLE)
                try:
                    writer.write(stream[offset:offset + 1])
                    await writer.drain()
                except (OSError, ConnectionError):
                    break
                sent += 1
                self.stats["slowloris_bytes"] += 1
                await asyncio.wait({closed}, timeout=interval)
            if self.stopping.is_set():
                closed.cancel()
                return
            self.stats["slowloris_closed_by_server"] += 1
            self.stats["slowloris_open"] -= 1
            writer.close()
            closed.cancel()

    async def run(self):
        args = self.args
        started = time.monotonic()
        gate = asyncio.Semaphore(args.open_concurrency)
        readers = await asyncio.gather(*(self.open_idle(gate) for _ in range(args.idle)))
        watchers = [asyncio.ensure_future(self.watch_idle(r)) for r in readers if r is not None]
        opened = asyncio.Semaphore(0)
        slow = [asyncio.ensure_future(self.slowloris(i, opened)) for i in range(args.slowloris)]
        for _ in range(args.slowloris):
            await asyncio.wait_for(opened.acquire(), args.open_timeout)
        print(f"ready idle={self.stats['idle_open']} slowloris={self.stats['slowloris_open']} "
              f"idle_failed={self.stats['idle_failed']} open_seconds={time.monotonic() - started:.2f}",
              flush=True)

        loop = asyncio.get_running_loop()
        asked = asyncio.Event()
        # A daemon thread, not run_in_executor: a blocked readline must not keep us alive.
        threading.Thread(target=lambda: (sys.stdin.readline(), loop.call_soon_threadsafe(asked.set)),
                         daemon=True).start()
        remaining = max(0.0, args.duration - (time.monotonic() - started))
        try:
            await asyncio.wait_for(asked.wait(), remaining)
        except asyncio.TimeoutError:
            pass
        snapshot = dict(self.stats)  # counts at the moment the harness asked to stop
        snapshot["seconds"] = f"{time.monotonic() - started:.1f}"
        self.stopping.set()
        await asyncio.wait(watchers + slow, timeout=5)
        for writer in self.writers:
            writer.close()
        print("stats " + " ".join(f"{k}={v}" for k, v in snapshot.items()), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/leader")
    parser.add_argument("--idle", type=int, default=10000, help="idle keep-alive connections (default 10000)")
    parser.add_argument("--slowloris", type=int, default=200, help="slowloris connections (default 200)")
    parser.add_argument("--interval-ms", type=int, default=300, help="ms between slowloris bytes (default 300)")
    parser.add_argument("--open-concurrency", type=int, default=256, help="connections opened at once (default 256)")
    parser.add_argument("--open-timeout", type=float, default=30.0, help="seconds per connect/answer (default 30)")
    parser.add_argument("--duration", type=float, default=120.0, help="hard stop, seconds (default 120)")
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        sys.exit("slowloris.py: loopback only")
    if not (0 <= args.idle <= 60000 and 0 <= args.slowloris <= 5000):
        sys.exit("slowloris.py: --idle at most 60000, --slowloris at most 5000")
    raise_fd_limit(args.idle + args.slowloris + 64)
    asyncio.run(Load(args).run())


if __name__ == "__main__":
    main()
