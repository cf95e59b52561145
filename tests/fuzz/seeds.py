#!/usr/bin/env python3
"""Writes the committed seed corpora of the host fuzz targets (each input
layout is in fuzz_targets/<target>.rs). Rerun after changing a layout:
python3 tests/fuzz/seeds.py"""

import struct
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"
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

# client_verify: fd kinds and seal bits.
V_MEMFD, V_UNSEALABLE, V_PIPE_R, V_PIPE_W, V_SOCKET, V_DEV_NULL, V_FILE = range(7)
SHRINK, GROW, WRITE, FUTURE_WRITE, SEAL = (1 << bit for bit in range(5))


def verify_seed(kind, seals, writable, reported, layout, size_mode=0, size=0):
    """`size_mode`: the file holds the reported size (0), that plus the i8
    `size` (1), or the u32 `size` (2)."""
    flags = int(writable) | size_mode << 1
    tail = struct.pack("<b", size) if size_mode == 1 else struct.pack("<I", size)
    return bytes([kind, seals, flags]) + struct.pack("<qi", reported, layout) + tail


SIZE_SEALS = SHRINK | GROW
VERIFY_SEEDS = {
    "memfd-sealed-rw-v1": verify_seed(V_MEMFD, SIZE_SEALS | SEAL, True, 4096, 1),
    "memfd-sealed-ro-small": verify_seed(V_MEMFD, SIZE_SEALS, False, 32, 1),
    "memfd-write-sealed-rw": verify_seed(V_MEMFD, SIZE_SEALS | WRITE, True, 4096, 1),
    "memfd-future-write-ro": verify_seed(V_MEMFD, SIZE_SEALS | FUTURE_WRITE, False, 4096, 0),
    "memfd-grow-only": verify_seed(V_MEMFD, GROW, True, 4096, 1),
    "memfd-one-byte-short": verify_seed(V_MEMFD, SIZE_SEALS, True, 4096, 1, 1, -1),
    "memfd-too-large": verify_seed(V_MEMFD, SIZE_SEALS, False, (1 << 30) + 1, 1),
    "memfd-negative": verify_seed(V_MEMFD, SIZE_SEALS, True, -1, 1, 2, 4096),
    "unsealable-memfd": verify_seed(V_UNSEALABLE, 0, True, 4096, 1),
    "pipe-reader": verify_seed(V_PIPE_R, 0, False, 4096, 1),
    "pipe-writer": verify_seed(V_PIPE_W, 0, True, 4096, 1),
    "socket": verify_seed(V_SOCKET, 0, True, 4096, 1),
    "dev-null": verify_seed(V_DEV_NULL, 0, False, 4096, 1),
    "regular-file": verify_seed(V_FILE, 0, True, 4096, 1),
}

# snapshot_reader: call kinds.
SNAPSHOT, RO_SNAPSHOT, PUBLISH, WAIT = range(4)


def reader_seed(size, calls, region=b"", layout_byte=0):
    """`calls`: (kind, offset, length, timeout ms); `region`: its bytes."""
    head = struct.pack("<HBB", size - 64, layout_byte, len(calls))
    for kind, offset, length, ms in calls:
        head += struct.pack("<BHHB", kind, offset, length, ms)
    return head + region


def record(seq, owner, payload=b""):
    return struct.pack("<II", seq, owner) + payload


CONTROL = struct.pack("<I", 0xDEADCAFE) + bytes(60)
READER_SEEDS = {
    "publish-then-snapshot": reader_seed(4096, [(PUBLISH, 64, 16, 1), (SNAPSHOT, 64, 16, 1)], CONTROL),
    "odd-sequence-owner-0": reader_seed(
        4096, [(SNAPSHOT, 64, 8, 2), (RO_SNAPSHOT, 64, 8, 2), (PUBLISH, 64, 8, 2)],
        CONTROL + record(3, 0, bytes(8))),
    "odd-sequence-dead-owner": reader_seed(
        4096, [(SNAPSHOT, 64, 8, 1), (PUBLISH, 64, 8, 1)],
        CONTROL + record(5, 0x7FFFFFFE, bytes(8))),
    "odd-sequence-owner-1": reader_seed(
        4096, [(RO_SNAPSHOT, 64, 8, 5), (PUBLISH, 64, 8, 5)], CONTROL + record(7, 1, bytes(8))),
    "waiters-max-wait": reader_seed(
        4096, [(WAIT, 0, 1, 3), (WAIT, 64, 0, 1)],
        struct.pack("<II", 0xDEADCAFE, 0xFFFFFFFF) + bytes(56)),
    "record-at-the-end": reader_seed(128, [(SNAPSHOT, 120, 0, 1), (PUBLISH, 112, 8, 1)], CONTROL),
    "no-layout": reader_seed(4096, [(SNAPSHOT, 64, 8, 1), (WAIT, 0, 1, 1)], CONTROL, 240),
    "misaligned": reader_seed(4096, [(SNAPSHOT, 65, 8, 1), (WAIT, 2, 0, 1), (PUBLISH, 0, 4, 1)]),
}

# socket_wire: the connection byte, then ops (see fuzz_targets/socket_wire.rs).
UNTRUSTED, RAW_HANDSHAKE, V1, V0, FD_MODE_NONE, ATTACH, INCOMING = 1, 2, 4, 8, 16, 32, 64
MESSAGE, RAW, FDS = 0, 1, 2
TRANSACT, REPLY, DEC_STRONG = 0, 4, 8  # op bits 2-3
LIE, KEEP_PARCEL_SIZE = 16, 32  # op bits 4, 5
ROOT = struct.pack("<II", 3, 1)  # RpcWireAddress: CREATED | FOR_SERVER, the session's first node
ZERO = bytes(8)
GET_ROOT, GET_MAX_THREADS, GET_SESSION_ID = 0, 1, 2
DUMP = 0x5F444D50
W_MEMFD, W_PIPE_R, W_PIPE_W, W_SOCKET, W_DEV_NULL = range(5)
DESCRIPTOR = "vendor.enea.buffer.IEneaBuffer"


def transact(addr, code, data=b"", table=(), op=TRANSACT, flags=0):
    """An RpcWireTransaction body: the harness fills in parcelDataSize
    unless the op keeps it (then it is `data`'s length here)."""
    body = addr + struct.pack("<IIQI", code, flags, 0, len(data)) + bytes(12) + data
    body += b"".join(struct.pack("<I", p) for p in table)
    return bytes([MESSAGE | op]) + struct.pack("<H", len(body)) + body


def call(code, data=b""):
    return transact(ROOT, code, string16(DESCRIPTOR) + data)


def fds(*kinds):
    return bytes([FDS | (len(kinds) - 1) << 2]) + bytes(kinds)


def raw(data):
    return bytes([RAW]) + struct.pack("<H", len(data)) + data


GET_ROOT_MSG = transact(ZERO, GET_ROOT)
TOKEN_RPC = string16(DESCRIPTOR)
NATIVE_FD = struct.pack("<ii", 2, 0)  # TYPE_NATIVE_FILE_DESCRIPTOR, ancillary index 0
WIRE_SEEDS = {
    "root-getBufferSize": bytes([0]) + GET_ROOT_MSG + call(2),
    "root-getBuffer": bytes([0]) + GET_ROOT_MSG + call(1),
    "root-getRegion-v1": bytes([V1]) + GET_ROOT_MSG + call(4),
    "root-specials": bytes([0]) + transact(ZERO, GET_MAX_THREADS) + transact(ZERO, GET_SESSION_ID),
    # rsbinder's RPC dispatch reads the token before every code, the dump's too.
    "root-dump-memfd": bytes([0]) + GET_ROOT_MSG + fds(W_MEMFD)
    + transact(ROOT, DUMP, TOKEN_RPC + NATIVE_FD + struct.pack("<i", 1) + string16("-a"),
               [len(TOKEN_RPC)], TRANSACT | KEEP_PARCEL_SIZE),
    "root-fds-pipe-socket": bytes([0]) + GET_ROOT_MSG + fds(W_PIPE_R, W_SOCKET, W_DEV_NULL) + call(3),
    "untrusted-getBuffer-fds": bytes([UNTRUSTED]) + GET_ROOT_MSG + fds(W_MEMFD, W_PIPE_W) + call(1),
    "untrusted-getReadOnlyRegion": bytes([UNTRUSTED]) + GET_ROOT_MSG + call(5),
    "v0-getBufferSize": bytes([V0]) + GET_ROOT_MSG + call(2),
    "fd-mode-none-dec-strong": bytes([FD_MODE_NONE]) + GET_ROOT_MSG
    + bytes([MESSAGE | DEC_STRONG]) + struct.pack("<H", 16) + ROOT + struct.pack("<II", 1, 0),
    "lying-body-size": bytes([0]) + bytes([MESSAGE | TRANSACT | LIE]) + struct.pack("<IH", 1 << 20, 40) + bytes(40),
    "raw-handshake": bytes([RAW_HANDSHAKE])
    + raw(struct.pack("<IBB8sH", 2, 0, 1, bytes(8), 0) + b"cci\0" + bytes(4)) + GET_ROOT_MSG,
    "attach-unknown-session": bytes([ATTACH]) + bytes(range(32)) + GET_ROOT_MSG,
    "incoming-new-session": bytes([INCOMING]),
}

TARGETS = {
    "service_transactions": SEEDS,
    "client_verify": VERIFY_SEEDS,
    "snapshot_reader": READER_SEEDS,
    "socket_wire": WIRE_SEEDS,
}

if __name__ == "__main__":
    for target, seeds in TARGETS.items():
        out = CORPUS / target
        out.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (out / name).write_bytes(data)
        print(f"{len(seeds)} seeds in {out}")
