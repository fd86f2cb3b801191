#!/usr/bin/env python3
"""Disk images for the blkif tests, and what they must hold afterwards.

An image of N sectors starts with every sector s holding b"pvmmINIT", s as
a little-endian 64-bit number, then 0xa5 bytes.  The blkfront guest
(tests/guests/blkfront.c) writes its pattern into fixed regions: the
64-bit little-endian word at disk byte offset off (a multiple of 8) is
(off * PATTERN_MUL) ^ PATTERN_XOR, modulo 2^64 -- the same constants as
tests/guests/lib/blkfront.h.

    make_disk.py pattern PATH SECTORS     the initial image
    make_disk.py ext2 PATH DIR            an 8 MiB ext2 image of DIR (mke2fs -d)
"""
import os
import shutil
import struct
import subprocess
import sys

SECTOR = 512
PATTERN_MUL = 0x9E3779B97F4A7C15
PATTERN_XOR = 0x6B6C62206D6D7670
MASK = (1 << 64) - 1
FILL = b"\xa5" * (SECTOR - 16)


def init_sector(s):
    return b"pvmmINIT" + struct.pack("<Q", s) + FILL


def init_image(sectors):
    return b"".join(init_sector(s) for s in range(sectors))


def pattern(sector, count):
    """The guest's pattern for count sectors starting at sector."""
    off = sector * SECTOR
    words = [((off + 8 * i) * PATTERN_MUL & MASK) ^ PATTERN_XOR
             for i in range(count * SECTOR // 8)]
    return struct.pack("<%dQ" % len(words), *words)


def blkfront_layout(n):
    """(first sector, count, kind) written by blkfront's mode=test; kind is
    'pattern' or 'zero'.  See the R*_SECTOR macros in blkfront.c."""
    r3 = n // 4
    return [
        (0, 11 * 8, "pattern"),             # R1: 11 whole pages
        (n // 2, 64, "pattern"),            # R2: 64 single-sector requests
        (n // 2 + 200, 3, "pattern"),       # R5: part of a page
        (r3, 128, "pattern"),               # R3: 64 pages, indirect ...
        (r3 + 128, 128, "zero"),            # ... with a discarded range
        (r3 + 256, 256, "pattern"),
        (n - 1, 1, "pattern"),              # R4: the last sector
    ]


def expected_blkfront(n):
    img = bytearray(init_image(n))
    for first, count, kind in blkfront_layout(n):
        data = pattern(first, count) if kind == "pattern" else bytes(count * SECTOR)
        img[first * SECTOR:(first + count) * SECTOR] = data
    return img


def describe(data, sector):
    """What a sector of an image looks like, for error messages."""
    if data == init_sector(sector):
        return "the initial contents"
    if data == pattern(sector, 1):
        return "the guest's pattern"
    if data == bytes(SECTOR):
        return "zeros"
    return "something else (%s...)" % data[:16].hex()


def compare(path, want, allowed=None):
    """Compares the image at path with want byte for byte; allowed maps a
    sector to other acceptable contents.  Returns a list of problems."""
    got = open(path, "rb").read()
    if len(got) != len(want):
        return ["%s is %d bytes, expected %d" % (path, len(got), len(want))]
    if got == want:
        return []
    problems = []
    for s in range(len(want) // SECTOR):
        a, b = s * SECTOR, (s + 1) * SECTOR
        if got[a:b] == want[a:b]:
            continue
        if allowed and any(got[a:b] == alt for alt in allowed.get(s, ())):
            continue
        byte = next(i for i in range(a, b) if got[i] != want[i])
        problems.append("%s: sector %d (first difference at byte %d) holds %s, expected %s"
                        % (path, s, byte, describe(got[a:b], s), describe(want[a:b], s)))
        if len(problems) == 10:
            problems.append("(further differences not listed)")
            break
    return problems


def verify(kind, path, n):
    """Problems found in the image at path after the guest ran."""
    if kind == "blkfront":
        return compare(path, expected_blkfront(n))
    if kind == "unchanged":
        return compare(path, init_image(n))
    if kind == "safety":
        # Region A (1 MiB at sector 0) was written and flushed before the
        # kill: all of it must be there.  Region B (256 KiB at n/2) was
        # being rewritten: each sector is old or new.  Nothing else moved.
        want = bytearray(init_image(n))
        want[0:2048 * SECTOR] = pattern(0, 2048)
        b = n // 2
        allowed = {s: (pattern(s, 1),) for s in range(b, b + 512)}
        with open(path, "rb") as f:
            f.seek(b * SECTOR)
            region_b = f.read(512 * SECTOR)
        new = sum(region_b[i * SECTOR:(i + 1) * SECTOR] == pattern(b + i, 1) for i in range(512))
        print("region B: %d of 512 sectors rewritten when pvmm was killed" % new)
        return compare(path, want, allowed)
    return ["unknown verification %r" % kind]


def make_pattern(path, n):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(init_image(n))
    os.replace(tmp, path)


def make_ext2(path, src):
    mke2fs = shutil.which("mke2fs") or "/usr/sbin/mke2fs"
    if not os.path.exists(mke2fs):
        sys.exit("make_disk.py: mke2fs not found: install Debian's e2fsprogs")
    if os.path.exists(path):
        os.unlink(path)
    subprocess.run([mke2fs, "-q", "-t", "ext2", "-d", src, "-F", path, "8M"], check=True)


def main(argv):
    if len(argv) == 4 and argv[1] == "pattern":
        make_pattern(argv[2], int(argv[3]))
    elif len(argv) == 4 and argv[1] == "ext2":
        make_ext2(argv[2], argv[3])
    else:
        sys.exit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
