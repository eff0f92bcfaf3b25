"""The observer: polls every node's GET /leader and GET /is-leader every 20 ms from the
bridge namespace and records what each answered, with CLOCK_BOOTTIME just before the
request was sent and just after the answer arrived (the host's clock: a network namespace
does not change clocks).

History file, one line per answer that claims office and per change of answer:
    EP NODE SENT_NS RECEIVED_NS STATUS TERM SELF
EP is L (/leader) or I (/is-leader); STATUS 0 means no answer (refused, timed out);
TERM is X-Baton-Term or -; SELF is 1 when the answer says "this node is in office"
(/leader "self": true, /is-leader 200), else 0.

It also rewrites NOW_FILE ten times a second with the latest answer per node, so the
nemesis can aim at the current leader.

Usage: python3 -m faultlib.observer HISTORY NOW_FILE INTERVAL_MS NAME=HOST:PORT ...
"""
import http.client
import json
import os
import sys
import threading
import time

BOOT = time.CLOCK_BOOTTIME


def now_ns():
    return time.clock_gettime_ns(BOOT)


class Observer:
    def __init__(self, history, now_file, interval_ms, targets):
        self.out = open(history, "a", buffering=1 << 16)
        self.now_file = now_file
        self.interval = interval_ms / 1000.0
        self.targets = targets
        self.lock = threading.Lock()
        self.latest = {}

    def record(self, line):
        with self.lock:
            self.out.write(line)

    def poll(self, name, host, port, ep):
        path = "/leader" if ep == "L" else "/is-leader"
        conn = None
        previous = None
        next_at = time.monotonic()
        while True:
            s = now_ns()
            status, term, self_flag = 0, "-", 0
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, port, timeout=0.5)
                conn.request("GET", path)
                r = conn.getresponse()
                body = r.read()
                status = r.status
                term = r.getheader("X-Baton-Term") or "-"
                if ep == "I":
                    self_flag = 1 if status == 200 else 0
                elif status == 200:
                    try:
                        self_flag = 1 if json.loads(body).get("self") else 0
                    except ValueError:
                        self_flag = 0
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
            r_ns = now_ns()
            key = (status, term, self_flag)
            if self_flag or key != previous:
                self.record(f"{ep} {name} {s} {r_ns} {status} {term} {self_flag}\n")
            previous = key
            if ep == "I":
                self.latest[name] = {"in_office": bool(self_flag), "term": term, "status": status, "t": r_ns}
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.monotonic()  # fell behind (a paused node): don't burst

    def publish(self):
        while True:
            time.sleep(0.1)
            with self.lock:
                self.out.flush()
            tmp = self.now_file + ".tmp"
            with open(tmp, "w") as f:
                json.dump(self.latest, f)
            os.replace(tmp, self.now_file)

    def run(self):
        for name, (host, port) in self.targets.items():
            for ep in ("L", "I"):
                threading.Thread(target=self.poll, args=(name, host, port, ep), daemon=True).start()
        self.publish()


def main(argv):
    history, now_file, interval = argv[0], argv[1], float(argv[2])
    targets = {}
    for t in argv[3:]:
        name, addr = t.split("=", 1)
        host, port = addr.rsplit(":", 1)
        targets[name] = (host, int(port))
    Observer(history, now_file, interval, targets).run()


if __name__ == "__main__":
    main(sys.argv[1:])
