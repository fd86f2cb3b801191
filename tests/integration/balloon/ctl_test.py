#!/usr/bin/env python3
"""pvmm ctl against a running pvmm: every command, for people and with
--json, and the errors (usage 2, refused or unreachable 1)."""
import argparse
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pvmmapi import Pvmm, skip_without_kvm  # noqa: E402

MIB = 1 << 20


def expect(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok - " + what, flush=True)


def ctl(pvmm, *args):
    r = subprocess.run([pvmm, "ctl"] + list(args), capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    print(f"$ pvmm ctl {' '.join(args)} -> {r.returncode}\n{r.stdout}{r.stderr}", end="", flush=True)
    return r


def run(pvmm, guest):
    p = Pvmm(pvmm, ["run", guest, "--memory", "256M"])
    try:
        p.wait_for(r"balloon: ready")
        s = p.sock
        r = ctl(pvmm, s, "ping")
        expect(r.returncode == 0 and re.match(rf"pvmm \S+, pid {p.proc.pid}$", r.stdout.strip()),
               "ping: version and pid")
        r = ctl(pvmm, s, "info")
        expect(r.returncode == 0 and re.search(r"^state: +Running$", r.stdout, re.M) and
               re.search(r"^memory: +256 MiB$", r.stdout, re.M) and
               re.search(r"^vcpus: +1 \(thread ids: \d+\)$", r.stdout, re.M),
               "info: state, memory, vCPU threads")
        r = ctl(pvmm, s, "info", "--json")
        info = json.loads(r.stdout)
        expect(r.returncode == 0 and info["config"]["memory"]["size"] == 256 * MIB and
               info["state"] == "Running", "info --json is vm.info")
        r = ctl(pvmm, s, "--json", "ping")
        expect(r.returncode == 0 and json.loads(r.stdout)["pid"] == p.proc.pid,
               "--json may come first")

        r = ctl(pvmm, s, "pause")
        expect(r.returncode == 0 and r.stdout.strip() == "paused", "pause")
        r = ctl(pvmm, s, "pause")
        expect(r.returncode == 1 and "405" in r.stderr and "already paused" in r.stderr,
               "pause twice: exit 1 with the API's reason")
        r = ctl(pvmm, s, "info")
        expect(re.search(r"^state: +Paused$", r.stdout, re.M), "info says Paused")
        r = ctl(pvmm, s, "resume", "--json")
        expect(r.returncode == 0 and json.loads(r.stdout) == {}, "resume --json: {}")

        mark = len(p.out)
        r = ctl(pvmm, s, "balloon", "128M")
        expect(r.returncode == 0 and re.search(r"^target: +128 MiB$", r.stdout, re.M),
               "balloon 128M")
        p.wait_for(r"released 32768 pages", start=mark)
        r = ctl(pvmm, s, "info")
        expect(re.search(r"^target: +128 MiB$", r.stdout, re.M) and
               re.search(r"^reclaimed: +128 MiB$", r.stdout, re.M) and
               re.search(r"^current: +128 MiB$", r.stdout, re.M),
               "info: target, current and reclaimed after the guest followed")
        r = ctl(pvmm, s, "balloon", "1G")
        expect(r.returncode == 1 and "400" in r.stderr, "balloon above the RAM: exit 1, 400")
        mark = len(p.out)
        r = ctl(pvmm, s, "balloon", "256M")
        p.wait_for(r"repopulated 32768 pages", start=mark)

        for args, why in [((s,), "no command"), ((s, "frob"), "an unknown command"),
                          ((s, "balloon"), "balloon without a size"),
                          ((s, "balloon", "12X"), "balloon with a bad size"),
                          ((s, "pause", "now"), "an argument too many"),
                          ((s, "info", "--yaml"), "an unknown option")]:
            r = ctl(pvmm, *args)
            expect(r.returncode == 2 and r.stderr.startswith("pvmm ctl:") or
                   r.returncode == 2 and r.stderr.startswith("usage:"),
                   f"{why}: exit 2 with a message")
        r = ctl(pvmm, "/nonexistent/pvmm.sock", "ping")
        expect(r.returncode == 1 and "/nonexistent/pvmm.sock" in r.stderr,
               "an absent socket: exit 1 naming it")

        r = ctl(pvmm, s, "shutdown")
        expect(r.returncode == 0 and "power off" in r.stdout, "shutdown")
        code = p.wait_exit()
        expect(code == 0, f"the guest powered off ({code})")
        expect(re.search(r"guest-checks: \d+ ok, 0 failed", p.out), "every guest check passed")
    finally:
        p.close()

    p = Pvmm(pvmm, ["run", guest, "--memory", "64M"])
    try:
        p.wait_for(r"balloon: ready")
        r = ctl(pvmm, p.sock, "reboot")
        expect(r.returncode == 0, "reboot")
        expect(p.wait_exit() == 10, "the guest rebooted (exit 10)")
    finally:
        p.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pvmm", required=True)
    ap.add_argument("--guest", required=True)
    a = ap.parse_args()
    skip_without_kvm()
    try:
        run(a.pvmm, a.guest)
    except AssertionError as e:
        print(f"FAIL: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
