#!/usr/bin/env python3
"""Runs pvmm on a guest and checks what it printed and how it exited.

Used by meson for every integration test.  Skips (exit 77) only when
/dev/kvm does not exist, and says so.
"""
import argparse
import os
import re
import select
import signal
import subprocess
import sys
import time


def run(cmd, a):
    """Runs cmd; returns (exit status or None on time-out, output)."""
    if a.stdin_file is not None:
        # A file, not a pipe: pvmm cannot poll it and must still read it all.
        with open(a.stdin_file, "rb") as f:
            p = subprocess.Popen(cmd, stdin=f, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT)
    else:
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    if a.stdin is not None:
        p.stdin.write(a.stdin.encode())
        p.stdin.flush()
    # Keep stdin open while the guest runs: closing it is not a request
    # to stop, but a test that signals wants a live VM.
    out = b""
    deadline = time.monotonic() + a.timeout
    signalled = False
    os.set_blocking(p.stdout.fileno(), False)
    while True:
        ready, _, _ = select.select([p.stdout], [], [], 0.2)
        if ready:
            chunk = p.stdout.read()
            if chunk:
                out += chunk
        if (a.signal_after and not signalled and
                re.search(a.signal_after, out.decode(errors="replace"), re.MULTILINE)):
            p.send_signal(getattr(signal, "SIG" + a.signal))
            signalled = True
        if p.poll() is not None:
            rest = p.stdout.read()
            out += rest or b""
            if p.stdin:
                p.stdin.close()
            return p.returncode, out.decode(errors="replace")
        if time.monotonic() > deadline:
            p.kill()
            p.wait()
            return None, out.decode(errors="replace")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--pvmm", required=True)
    p.add_argument("--status", type=int, required=True,
                   help="the exit status pvmm must return")
    p.add_argument("--expect", action="append", default=[],
                   help="a regular expression the output must match")
    p.add_argument("--reject", action="append", default=[],
                   help="a regular expression the output must not match")
    stdin = p.add_mutually_exclusive_group()
    stdin.add_argument("--stdin", default=None,
                       help="text fed to pvmm's stdin through a pipe")
    stdin.add_argument("--stdin-file", metavar="PATH", default=None,
                       help="a file (or /dev/null) opened as pvmm's stdin")
    p.add_argument("--timeout", type=int, default=120)
    p.add_argument("--file", help="a file pvmm writes (e.g. --console file:)")
    p.add_argument("--file-expect", action="append", default=[],
                   help="a regular expression --file must match afterwards")
    p.add_argument("--signal-after", metavar="REGEX",
                   help="send --signal once the output matches REGEX")
    p.add_argument("--signal", default="TERM")
    p.add_argument("args", nargs=argparse.REMAINDER,
                   help="pvmm's arguments, after --")
    a = p.parse_args()
    args = a.args[1:] if a.args[:1] == ["--"] else a.args

    if not os.path.exists("/dev/kvm"):
        print("SKIP: /dev/kvm does not exist on this host; pvmm cannot run guests")
        return 77

    cmd = [a.pvmm] + args
    print("$ " + " ".join(cmd))
    if a.file and os.path.exists(a.file):
        os.unlink(a.file)
    status, out = run(cmd, a)
    if status is None:
        sys.stdout.write(out)
        print(f"FAIL: pvmm did not finish within {a.timeout} s")
        return 1
    sys.stdout.write(out)
    ok = True
    if status != a.status:
        print(f"FAIL: exit status {status}, expected {a.status}")
        ok = False
    if a.file:
        text = open(a.file, errors="replace").read() if os.path.exists(a.file) else ""
        for pattern in a.file_expect:
            if not re.search(pattern, text, re.MULTILINE):
                print(f"FAIL: {a.file} lacks /{pattern}/ (it holds {text!r})")
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
