#!/usr/bin/env python3
"""fuzz/raft-seeds.py DIR: writes seed inputs for fuzz/RaftFuzz.swift, so mutation starts
inside the message grammar: one valid encoding of every message kind (the layout of
Sources/PeerWire/MessageCodec.swift, little-endian), alone and in short conversations
(a leader's appends, a vote round, huge terms and indexes), each record framed as
`ctl u8, length u16 LE, payload`."""
import struct
import sys
from pathlib import Path


def msg(term, tag, rest=b""):
    return struct.pack("<QB", term, tag) + rest


def pre_vote(term, last_index, last_term):
    return msg(term, 1, struct.pack("<QQ", last_index, last_term))


def pre_vote_response(term, granted, remaining_ns=0):
    return msg(term, 2, struct.pack("<Bq", granted, remaining_ns))


def vote(term, last_index, last_term, transfer=0):
    return msg(term, 3, struct.pack("<QQB", last_index, last_term, transfer))


def vote_response(term, granted):
    return msg(term, 4, struct.pack("<B", granted))


def append(term, prev_index, prev_term, commit, entries=(), send_time=0):
    body = struct.pack("<QQQqI", prev_index, prev_term, commit, send_time, len(entries))
    for index, eterm, data in entries:
        if data is None:
            body += struct.pack("<QQB", index, eterm, 0)
        else:
            body += struct.pack("<QQBI", index, eterm, 1, len(data)) + data
    return msg(term, 5, body)


def append_response(term, success, match, hint, echo=0, can_lead=1):
    return msg(term, 6, struct.pack("<BQQqB", success, match, hint, echo, can_lead))


def timeout_now(term):
    return msg(term, 7)


def record(payload, ctl=0):
    return struct.pack("<BH", ctl, len(payload)) + payload


MAX = 2**64 - 1
seeds = {
    "prevote": [record(pre_vote(3, 3, 1))],
    "prevote-response": [record(pre_vote_response(3, 1))],
    "vote": [record(vote(3, 3, 1))],
    "vote-response": [record(vote_response(2, 1))],
    "append": [record(append(2, 3, 1, 3, [(4, 2, None), (5, 2, b"abc")], 5))],
    "append-response": [record(append_response(2, 1, 3, 4))],
    "timeout-now": [record(timeout_now(2))],
    # A campaign the node wins, then its followers' answers.
    "win": [record(b"", ctl=0x0E), record(pre_vote_response(3, 1), ctl=0x0E),
            record(vote_response(3, 1)), record(append_response(3, 1, 4, 5), ctl=0x10),
            record(append_response(3, 1, 5, 6, can_lead=1), ctl=0x21)],
    # Absurd values: the term and indexes at the top of their range.
    "huge-term": [record(vote_response(MAX, 0)), record(b"", ctl=0x0E)],
    "huge-index": [record(append(2, MAX, 1, MAX, [(MAX, 2, None)])),
                   record(append_response(2, 1, MAX, MAX, echo=-(2**63)))],
}
out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
for name, records in seeds.items():
    (out / f"seed-{name}").write_bytes(b"".join(records))
