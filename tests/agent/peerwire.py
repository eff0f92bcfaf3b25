"""peerwire: a minimal client of Baton's peer protocol (Sources/PeerWire), so a test can
act as a hostile member: the three-message handshake (with the cluster secret, or none
under --insecure-peers), then Raft messages in authenticated frames.

Layout from Sources/PeerWire/Frame.swift, PeerSession.swift and MessageCodec.swift:
frame = "BTN1", version 2, type u8, flags u16 = 0, length u32 LE, payload, CRC32C u32 LE
of everything before it, then (established, with a secret) a 16-byte HMAC-SHA256 MAC
keyed per direction over (sequence u64 LE ‖ frame). Version 2's hello and challenge carry
each side's group fingerprint and incarnation, bound into the transcript."""
import hashlib
import hmac
import os
import socket
import struct
import sys

# One CRC32C for the tests: the fault harness's reader of state files has it.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "faults"))
from faultlib.statefile import crc32c  # noqa: E402

HELLO, CHALLENGE, PROOF, RAFT = 1, 2, 3, 4
VERSION = 2


def short(s):
    b = s.encode() if isinstance(s, str) else s
    return bytes([len(b)]) + b


def frame(ftype, payload):
    head = b"BTN1" + struct.pack("<BBHI", VERSION, ftype, 0, len(payload)) + payload
    return head + struct.pack("<I", crc32c(head))


def vote_response(term, granted=False):
    return struct.pack("<QBB", term, 4, 1 if granted else 0)


def append_entries(term, prev_index, prev_term, commit, send_time=0):
    return struct.pack("<QBQQQqI", term, 5, prev_index, prev_term, commit, send_time, 0)


class PeerClient:
    """Dials `port` as member `name` of `cluster` towards member `target`."""

    def __init__(self, port, name, target, secret=None, cluster="baton", timeout=3.0, then=(),
                 incarnation=1, fingerprint=0):
        """`then`: Raft payloads sent in the same segment as the proof, so the server
        handles them before anything else can happen (posing as a running member, the
        real one reconnects within milliseconds and replaces this connection)."""
        self.secret = secret
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        nonce = os.urandom(32)
        peer_addr, api_addr = "127.0.0.1:1", "127.0.0.1:2"
        hello = (bytes([1 if secret else 0]) + short(cluster) + struct.pack("<Q", fingerprint) + short(name)
                 + struct.pack("<Q", incarnation) + short(target) + nonce + short(peer_addr) + short(api_addr))
        self.sock.sendall(frame(HELLO, hello))
        payload = self._read_frame(CHALLENGE, mac=False)
        nonce_s = payload[1:33]
        server_fp, server_inc = struct.unpack("<QQ", payload[65:81])
        rest = payload[81:]
        server_peer = rest[1:1 + rest[0]]
        rest = rest[1 + rest[0]:]
        server_api = rest[1:1 + rest[0]]
        transcript = (b"baton-peer-v2" + short(cluster)
                      + short(name) + struct.pack("<QQ", incarnation, fingerprint) + short(peer_addr) + short(api_addr)
                      + short(target) + struct.pack("<QQ", server_inc, server_fp) + short(server_peer) + short(server_api)
                      + nonce + nonce_s)
        self.transcript = transcript
        self.key = self._hmac("c2s") if secret else None
        self.sequence = 0
        out = frame(PROOF, self._hmac("client") if secret else bytes(32))
        for payload in then:
            out += self._seal(payload)
        self.sock.sendall(out)

    def _hmac(self, label):
        return hmac.new(self.secret, label.encode() + b"\0" + self.transcript, hashlib.sha256).digest()

    def _recv_exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("peer closed the connection")
            out += chunk
        return out

    def _read_frame(self, want, mac):
        head = self._recv_exact(12)
        assert head[:4] == b"BTN1", head
        ftype, length = head[5], struct.unpack("<I", head[8:12])[0]
        payload = self._recv_exact(length)
        self._recv_exact(4 + (16 if mac else 0))
        assert ftype == want, (ftype, want)
        return payload

    def _seal(self, payload):
        f = frame(RAFT, payload)
        if self.key:
            f += hmac.new(self.key, struct.pack("<Q", self.sequence) + f, hashlib.sha256).digest()[:16]
        self.sequence += 1
        return f

    def send_raft(self, payload):
        self.sock.sendall(self._seal(payload))

    def close(self):
        self.sock.close()
