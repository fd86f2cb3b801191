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
    """Runs cmd; returns (exit status or None on time-out, output, seconds
    from the last signal sent to the exit or None, regexes that never
    matched so no signal was sent for them)."""
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
    # One signal per --signal-after, in order, each once its regex matches
    # the output that follows the previous one's match.
    pending = list(a.signal_after)
    searched_from = 0
    signalled_at = None
    os.set_blocking(p.stdout.fileno(), False)
    while True:
        ready, _, _ = select.select([p.stdout], [], [], 0.2)
        if ready:
            chunk = p.stdout.read()
            if chunk:
                out += chunk
        while pending and p.poll() is None:
            m = re.compile(pending[0], re.MULTILINE).search(
                out.decode(errors="replace"), searched_from)
            if not m:
                break
            p.send_signal(getattr(signal, "SIG" + a.signal))
            signalled_at = time.monotonic()
            searched_from = m.end()
            pending.pop(0)
        if p.poll() is not None:
            exited = time.monotonic()
            rest = p.stdout.read()
            out += rest or b""
            if p.stdin:
                p.stdin.close()
            took = exited - signalled_at if signalled_at is not None else None
            return p.returncode, out.decode(errors="replace"), took, pending
        if time.monotonic() > deadline:
            p.kill()
            p.wait()
            return None, out.decode(errors="replace"), None, pending


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
    p.add_argument("--signal-after", metavar="REGEX", action="append", default=[],
                   help="send --signal once the output matches REGEX; given again, "
                        "send another once the output after that match matches "
                        "the next REGEX (each must match, in order)")
    p.add_argument("--signal", default="TERM")
    p.add_argument("--exit-within", metavar="SECONDS", type=float,
                   help="pvmm must exit within SECONDS of the last signal")
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
    status, out, took, unmatched = run(cmd, a)
    if status is None:
        sys.stdout.write(out)
        print(f"FAIL: pvmm did not finish within {a.timeout} s")
        return 1
    sys.stdout.write(out)
    ok = True
    for pattern in unmatched:
        print(f"FAIL: pvmm exited before its output matched /{pattern}/: "
              f"SIG{a.signal} not sent")
        ok = False
    if a.exit_within is not None and took is not None:
        print(f"pvmm exited {took:.2f} s after the last signal")
        if took > a.exit_within:
            print(f"FAIL: pvmm exited {took:.2f} s after the last signal, "
                  f"expected within {a.exit_within:g} s")
            ok = False
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
