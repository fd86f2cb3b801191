#!/usr/bin/env python3
"""Runs pvmm on a guest and checks what it printed and how it exited.

Used by meson for every integration test.  Skips (exit 77) only when
/dev/kvm does not exist, and says so.
"""
import argparse
import os
import re
import subprocess
import sys


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--pvmm", required=True)
    p.add_argument("--status", type=int, required=True,
                   help="the exit status pvmm must return")
    p.add_argument("--expect", action="append", default=[],
                   help="a regular expression the output must match")
    p.add_argument("--reject", action="append", default=[],
                   help="a regular expression the output must not match")
    p.add_argument("--stdin", default=None, help="text fed to pvmm's stdin")
    p.add_argument("--timeout", type=int, default=120)
    p.add_argument("args", nargs=argparse.REMAINDER,
                   help="pvmm's arguments, after --")
    a = p.parse_args()
    args = a.args[1:] if a.args[:1] == ["--"] else a.args

    if not os.path.exists("/dev/kvm"):
        print("SKIP: /dev/kvm does not exist on this host; pvmm cannot run guests")
        return 77

    cmd = [a.pvmm] + args
    print("$ " + " ".join(cmd))
    try:
        r = subprocess.run(cmd, input=(a.stdin or "").encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=a.timeout)
    except subprocess.TimeoutExpired as e:
        sys.stdout.write((e.stdout or b"").decode(errors="replace"))
        print(f"FAIL: pvmm did not finish within {a.timeout} s")
        return 1
    out = r.stdout.decode(errors="replace")
    sys.stdout.write(out)
    ok = True
    if r.returncode != a.status:
        print(f"FAIL: exit status {r.returncode}, expected {a.status}")
        ok = False
    for pattern in a.expect:
        if not re.search(pattern, out, re.MULTILINE):
            print(f"FAIL: output lacks /{pattern}/")
            ok = False
    for pattern in a.reject:
        if re.search(pattern, out, re.MULTILINE):
            print(f"FAIL: output has /{pattern}/")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
