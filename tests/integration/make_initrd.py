#!/usr/bin/env python3
"""Writes the initrd the startinfo guests verify: a marker line, then
4096 bytes where byte i is i & 0xff."""
import sys

with open(sys.argv[1], "wb") as f:
    f.write(b"PVMM-INITRD-OK\n" + bytes(i & 0xff for i in range(4096)))
