#!/usr/bin/env python3
"""Writes the committed seed corpus of service_transactions (the input
layout is in fuzz_targets/service_transactions.rs). Rerun after changing
that layout: python3 tests/fuzz/seeds.py"""

import struct
from pathlib import Path

OUT = Path(__file__).resolve().parent / "corpus" / "service_transactions"
RW, RO, NONE = 0, 1, 2
# Indexes into CODES.
GET_BUFFER, GET_BUFFER_SIZE, GET_RO_BUFFER, GET_REGION, GET_RO_REGION = range(5)
VERSION, HASH, PING, INTERFACE, DUMP, SHELL = range(5, 11)
TOKEN, NO_TOKEN, NAME_TOKEN, HEADER_TOKEN = range(4)
MEMFD, PIPE_W, PIPE_W_NO_READER, PIPE_R, SOCKET, DEV_NULL = range(6)


def string16(s):
    units = s.encode("utf-16-le") + b"\0\0"
    data = struct.pack("<i", len(s)) + units
    return data + b"\0" * (-len(data) % 4)


def seed(caller, code, token, fds=(), payload=b"", extra=b""):
    """`code` past CODES is a u32 of its own; `extra` follows the token
    byte (a fuzzed name or header word)."""
    code = bytes([code]) if code < 21 else b"\xff" + struct.pack("<I", code)
    head = bytes([caller]) + code + bytes([token]) + extra + bytes([len(fds)])
    for kind, word in fds:
        head += bytes([kind]) + struct.pack("<H", word)
    return head + payload


SEEDS = {
    "rw-getBufferSize": seed(RW, GET_BUFFER_SIZE, TOKEN),
    "rw-getRegion": seed(RW, GET_REGION, TOKEN),
    "ro-getReadOnlyRegion": seed(RO, GET_RO_REGION, TOKEN),
    "ro-getBuffer-pipe": seed(RO, GET_BUFFER, TOKEN, [(PIPE_W, 0)]),
    "none-getBuffer": seed(NONE, GET_BUFFER, TOKEN),
    "none-getReadOnlyBuffer-socket": seed(NONE, GET_RO_BUFFER, TOKEN, [(SOCKET, 3)]),
    "rw-getInterfaceVersion": seed(RW, VERSION, TOKEN),
    "rw-getInterfaceHash": seed(RW, HASH, TOKEN),
    "rw-ping": seed(RW, PING, NO_TOKEN),
    "rw-interface": seed(RW, INTERFACE, NO_TOKEN),
    "rw-dump-memfd": seed(RW, DUMP, NO_TOKEN, [(MEMFD, 0)], struct.pack("<i", 1) + string16("-a")),
    "rw-dump-closed-pipe": seed(RW, DUMP, NO_TOKEN, [(PIPE_W_NO_READER, 0)], struct.pack("<i", 0)),
    "rw-shell-devnull": seed(RW, SHELL, NO_TOKEN, [(DEV_NULL, 0), (DEV_NULL, 6), (PIPE_R, 12)]),
    "rw-wrong-name": seed(RW, GET_BUFFER, NAME_TOKEN, extra=bytes([6]) + b"android"[:6]),
    "rw-wrong-header": seed(RW, GET_BUFFER, HEADER_TOKEN, extra=b"VNDR"),
    "rw-unknown-code": seed(RW, 0x5F4E4F50, NO_TOKEN, payload=b"\x01\x02\x03\x04"),
}

if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in SEEDS.items():
        (OUT / name).write_bytes(data)
    print(f"{len(SEEDS)} seeds in {OUT}")
