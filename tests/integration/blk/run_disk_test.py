#!/usr/bin/env python3
"""Runs a disk test: makes the disk images, runs pvmm through
../run_guest.py (whose options it passes on), then checks the images the
guest wrote byte for byte (make_disk.py says what they must hold).

    run_disk_test.py [--image KIND:PATH:ARG]... [--verify KIND:PATH:SECTORS]...
                     RUN_GUEST_OPTIONS... -- PVMM_ARGS...

--image pattern:PATH:SECTORS  an image in its initial pattern
--image grub:PATH:DIR         an ext2 image of DIR plus /big.bin (256 KiB
                              of the guest pattern); the output must then
                              show big.bin's SHA-256, as grub.cfg prints it
--verify blkfront|safety|unchanged:PATH:SECTORS
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_disk  # noqa: E402

RUN_GUEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "run_guest.py")


def make_grub_disk(path, src):
    """Returns the SHA-256 of the /big.bin put on the disk."""
    big = make_disk.pattern(0, 512)
    with tempfile.TemporaryDirectory() as tmp:
        tree = os.path.join(tmp, "tree")
        shutil.copytree(src, tree)
        with open(os.path.join(tree, "big.bin"), "wb") as f:
            f.write(big)
        make_disk.make_ext2(path, tree)
    return hashlib.sha256(big).hexdigest()


def main(argv):
    images, verifies, rest = [], [], []
    i = 0
    while i < len(argv):
        if argv[i] == "--":
            rest += argv[i:]
            break
        if argv[i] in ("--image", "--verify") and i + 1 < len(argv):
            kind, path, arg = argv[i + 1].split(":", 2)
            (images if argv[i] == "--image" else verifies).append((kind, path, arg))
            i += 2
            continue
        rest.append(argv[i])
        i += 1

    if not os.path.exists("/dev/kvm"):
        print("SKIP: /dev/kvm does not exist on this host; pvmm cannot run guests")
        return 77
    for kind, path, arg in images:
        if kind == "pattern":
            make_disk.make_pattern(path, int(arg))
        elif kind == "grub":
            digest = make_grub_disk(path, arg)
            rest = ["--expect", digest + " +\\(?[a-z0-9/,]*\\)?/big.bin"] + rest
        else:
            print("FAIL: unknown image kind %r" % kind)
            return 1

    sys.stdout.flush()
    status = subprocess.call([sys.executable, RUN_GUEST] + rest)
    if status == 77:
        return status
    ok = status == 0
    for kind, path, arg in verifies:
        problems = make_disk.verify(kind, path, int(arg))
        for p in problems:
            print("FAIL: " + p)
        if not problems:
            print("ok - %s holds exactly what it should (%s)" % (path, kind))
        ok = ok and not problems
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
