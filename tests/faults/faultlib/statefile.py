"""Reads an agent's `DATA_DIR/state` (term and vote) independently of the agent's code,
from the documented layout (Sources/Storage/StateFile.swift), CRC32C included:

    0 magic u32 "BTST" | 4 version u16 | 6 flags u16 (bit 0: vote recorded)
    8 bodyLength u32 = 24 | 12 term u64 | 20 commitIndex u64 | 28 votedFor u32
    32 reserved u32 | 36 crc32c u32 over bytes 0..<36        (little-endian, 40 bytes)
"""
import os
import struct

MAGIC = 0x54535442
SIZE = 40


def _table():
    poly = 0x82F63B78  # Castagnoli, reflected
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        t.append(c)
    return t


_TABLE = _table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


class StateError(Exception):
    pass


def parse(data):
    """(term, voted_for or None, commit_index); StateError names what is wrong."""
    if len(data) != SIZE:
        raise StateError(f"state file is {len(data)} bytes, expected {SIZE}")
    magic, version, flags, body = struct.unpack_from("<IHHI", data, 0)
    if magic != MAGIC:
        raise StateError(f"bad magic {magic:#x}")
    if version != 1 or body != 24:
        raise StateError(f"unknown version {version} or body length {body}")
    stored = struct.unpack_from("<I", data, 36)[0]
    if stored != crc32c(data[:36]):
        raise StateError(f"checksum mismatch: stored {stored:#x}, computed {crc32c(data[:36]):#x}")
    term, commit, vote = struct.unpack_from("<QQI", data, 12)
    return term, (vote if flags & 1 else None), commit


def read(data_dir):
    """The state in data_dir, or None when the agent has not written one yet."""
    path = os.path.join(data_dir, "state")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    return parse(data)
