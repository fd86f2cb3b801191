#!/usr/bin/env python3
"""The balloon, end to end: the balloon guest follows memory/target as the
management API changes it, and pvmm gives the memory back to the host.

  --swing: boot with all the memory, lower the target by half the RAM
    (vm.resize desired_ram), check that pvmm's resident memory (VmRSS)
    falls by at least 95% of what the guest released and that vm.info
    counts it, restore the target (desired_balloon 0), check that the guest
    found its repopulated frames zeroed and usable, and power it off with
    vm.shutdown.
  --boot-target: boot with --balloon-target and check the guest gave the
    difference back at once.
"""
import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pvmmapi import Pvmm, request, skip_without_kvm  # noqa: E402

MIB = 1 << 20
MEMORY = 256 * MIB


def info(p):
    status, _, body = request(p.sock, "GET", "vm.info")
    assert status == 200, status
    return body


def expect(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok - " + what, flush=True)


def swing(pvmm, guest):
    p = Pvmm(pvmm, ["run", guest, "--memory", str(MEMORY // MIB) + "M"])
    try:
        m = p.wait_for(r"balloon: ready, region (\d+) pages")
        region = int(m.group(1))
        rss_before = p.rss_kib()
        b = info(p)["balloon"]
        expect(b["current"] == MEMORY and b["target"] == MEMORY and b["reclaimed"] == 0,
               f"vm.info at boot: reservation and target are all the RAM ({b})")

        mark = len(p.out)
        status, _, _ = request(p.sock, "PUT", "vm.resize", {"desired_ram": MEMORY // 2})
        expect(status == 204, "vm.resize desired_ram = half the RAM: 204")
        m = p.wait_for(r"balloon: target (\d+) KiB: released (\d+) pages, reservation (\d+) pages",
                       start=mark)
        released = int(m.group(2)) * 4096
        expect(int(m.group(1)) == MEMORY // 2 // 1024, "the guest read the new memory/target")
        expect(released == min(region, MEMORY // 2 // 4096) * 4096,
               f"the guest released {released // MIB} MiB")
        rss_after = p.rss_kib()
        fell = (rss_before - rss_after) * 1024
        print(f"VmRSS {rss_before} KiB -> {rss_after} KiB: fell {fell // MIB} MiB "
              f"for {released // MIB} MiB released", flush=True)
        expect(fell >= 0.95 * released, "pvmm's resident memory fell by at least 95% of it")
        b = info(p)["balloon"]
        expect(b["current"] == MEMORY - released and b["target"] == MEMORY // 2 and
               b["reclaimed"] == released,
               f"vm.info counts it: current, target, reclaimed ({b})")
        expect(info(p)["memory_actual_size"] == MEMORY - released,
               "vm.info memory_actual_size is the reservation")
        p.wait_for(r"balloon: guest reached its target of \d+ KiB", start=mark)
        expect(True, "the log says the guest reached its target")

        mark = len(p.out)
        status, _, _ = request(p.sock, "PUT", "vm.resize", {"desired_balloon": 0})
        expect(status == 204, "vm.resize desired_balloon = 0: 204")
        m = p.wait_for(r"balloon: target (\d+) KiB: repopulated (\d+) pages", start=mark)
        expect(int(m.group(2)) * 4096 == released, "the guest took every frame back")
        b = info(p)["balloon"]
        expect(b["current"] == MEMORY and b["reclaimed"] == 0 and
               b["populated_total"] >= released,
               f"vm.info: back to all the RAM ({b})")
        expect("FAIL" not in p.out[mark:], "the guest found the frames zeroed and usable")

        status, _, _ = request(p.sock, "PUT", "vm.shutdown")
        expect(status == 204, "vm.shutdown: 204")
        code = p.wait_exit()
        expect(code == 0, f"the guest powered off (exit status {code})")
        expect(re.search(r"guest-checks: \d+ ok, 0 failed", p.out) is not None,
               "every guest check passed")
    finally:
        p.close()


def boot_target(pvmm, guest):
    target = 192 * MIB
    p = Pvmm(pvmm, ["run", guest, "--memory", str(MEMORY // MIB) + "M",
                    "--balloon-target", str(target // MIB) + "M"])
    try:
        m = p.wait_for(r"balloon: target (\d+) KiB: released (\d+) pages")
        expect(int(m.group(1)) == target // 1024, "memory/target at boot is --balloon-target")
        expect(int(m.group(2)) * 4096 == MEMORY - target, "the guest gave the difference back")
        b = info(p)["balloon"]
        expect(b["target"] == target and b["current"] == target,
               f"vm.info: target and reservation ({b})")
        cfg = info(p)["config"]
        expect(cfg["balloon"]["size"] == MEMORY - target,
               "vm.info config: balloon.size = memory.size - target")
        status, _, _ = request(p.sock, "PUT", "vm.shutdown")
        expect(status == 204, "vm.shutdown: 204")
        code = p.wait_exit()
        expect(code == 0, f"the guest powered off (exit status {code})")
    finally:
        p.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pvmm", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("mode", choices=["swing", "boot-target"])
    a = ap.parse_args()
    skip_without_kvm()
    try:
        (swing if a.mode == "swing" else boot_target)(a.pvmm, a.guest)
    except AssertionError as e:
        print(f"FAIL: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
