#!/usr/bin/env python3
"""Inflates permessage-deflate messages with Python's zlib (an independent
implementation) and checks each against the digest of what was compressed.

Usage: inflate_check.py WINDOW_BITS TAKEOVER   (TAKEOVER: 1 keeps one
context for the whole stream, 0 starts afresh per message, as
client_no_context_takeover promises).

Reads records from stdin until EOF, each: compressed length (u32 LE),
original length (u32 LE), SHA-256 of the original (32 bytes), then the
compressed message as sent on the wire (RFC 7692 §7.2.1: the sync-flush
tail 00 00 FF FF cut off). The inflater's window is 2^WINDOW_BITS, so a
compressor that reached further back than it agreed to fails here.
Prints "ok N" and exits 0, or prints the first failing record and exits 1."""
import hashlib
import struct
import sys
import zlib

TAIL = b"\x00\x00\xff\xff"


def read_exact(f, n):
    buf = f.read(n)
    if len(buf) != n:
        raise EOFError
    return buf


def main():
    bits, takeover = int(sys.argv[1]), sys.argv[2] == "1"
    inp = sys.stdin.buffer
    d = zlib.decompressobj(-bits)
    count = 0
    while True:
        head = inp.read(40)
        if not head:
            break
        zlen, olen = struct.unpack("<II", head[:8])
        digest = head[8:40]
        data = read_exact(inp, zlen)
        if not takeover:
            d = zlib.decompressobj(-bits)
        try:
            out = d.decompress(data + TAIL)
            if d.unconsumed_tail or d.eof:
                raise zlib.error("the message is not one sync-flushed stream piece")
        except zlib.error as e:
            print(f"record {count}: {olen} bytes: does not inflate: {e}", flush=True)
            return 1
        if len(out) != olen or hashlib.sha256(out).digest() != digest:
            print(f"record {count}: {olen} bytes: inflates to {len(out)} different bytes", flush=True)
            return 1
        count += 1
    print(f"ok {count}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
