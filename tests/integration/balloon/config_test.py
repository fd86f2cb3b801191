#!/usr/bin/env python3
"""pvmm run --config: vm.info's "config" fed back boots the same VM, the
command line overrides the file, and bad files are refused with exit
status 3 and a message naming the field."""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pvmmapi import Pvmm, request, skip_without_kvm  # noqa: E402

MIB = 1 << 20


def expect(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok - " + what, flush=True)


def config_of(p):
    status, _, info = request(p.sock, "GET", "vm.info")
    assert status == 200
    return info["config"]


def stop(p):
    request(p.sock, "PUT", "vm.shutdown")
    return p.wait_exit()


def round_trip(pvmm, guest, d):
    sock = os.path.join(d, "api.sock")
    args = ["run", guest, "--memory", "192M", "--cmdline", "balloon cfg=1",
            "--balloon-target", "160M", "--shutdown-timeout", "7", "--console", "stdio",
            "--api-socket", sock, "--log-level", "info"]
    p = Pvmm(pvmm, args, sock=sock)
    try:
        p.wait_for(r"released 8192 pages")
        first = config_of(p)
        expect(first == {
            "payload": {"kernel": guest, "cmdline": "balloon cfg=1"},
            "memory": {"size": 192 * MIB},
            "cpus": {"boot_vcpus": 1, "max_vcpus": 1},
            "console": {"mode": "Tty"},
            "balloon": {"size": 32 * MIB},
            "pvmm": {"api_socket": sock, "shutdown_timeout": 7, "log_level": "info"},
        }, f"vm.info config maps every option ({json.dumps(first)})")
        expect(stop(p) == 0, "the first VM powered off")
    finally:
        p.close()

    path = os.path.join(d, "vm.json")
    with open(path, "w") as f:
        json.dump(first, f)
    p = Pvmm(pvmm, ["run", "--config", path], sock=sock)
    try:
        p.wait_for(r"balloon: target 163840 KiB: released 8192 pages")
        expect(True, "the VM from --config follows the same balloon target")
        expect(config_of(p) == first, "its vm.info config is the same")
        expect(stop(p) == 0, "the second VM powered off")
    finally:
        p.close()

    sock2 = os.path.join(d, "other.sock")
    p = Pvmm(pvmm, ["run", "--config", path, "--memory", "128M", "--api-socket", sock2,
                    "--log-level", "debug"], sock=sock2)
    try:
        p.wait_for(r"balloon: ready")
        cfg = config_of(p)
        expect(cfg["memory"]["size"] == 128 * MIB and cfg["pvmm"]["api_socket"] == sock2 and
               cfg["pvmm"]["log_level"] == "debug" and cfg["payload"]["cmdline"] == "balloon cfg=1",
               "options on the command line override the file, the rest comes from it")
        expect(stop(p) == 0, "the third VM powered off")
    finally:
        p.close()


def bad_files(pvmm, guest, d):
    k = {"kernel": guest}
    cases = [
        ({"payload": k, "memroy": {"size": 1}}, r"memroy: unknown field"),
        ({"payload": dict(k, firmware="x")}, r"payload\.firmware: unknown field"),
        ({"payload": k, "memory": {"size": "256M"}}, r"memory\.size: must be a non-negative integer"),
        ({"payload": k, "memory": {"size": 1}}, r"memory\.size: 1 is out of range"),
        ({"payload": k, "memory": {"size": 256 * MIB, "shared": True}}, r"memory\.shared: unknown field"),
        ({"memory": {"size": 256 * MIB}}, r"payload\.kernel: missing"),
        ({"payload": k, "cpus": {"boot_vcpus": 1, "max_vcpus": 2}}, r"cpus\.max_vcpus"),
        ({"payload": k, "cpus": {"boot_vcpus": 0}}, r"cpus\.boot_vcpus: 0"),
        ({"payload": k, "console": {"mode": "Pty"}}, r"console\.mode: 'Pty'"),
        ({"payload": k, "console": {"mode": "File"}}, r"console\.file"),
        ({"payload": k, "balloon": {"size": 512 * MIB}}, r"balloon\.size"),
        ({"payload": k, "pvmm": {"log_level": "loud"}}, r"pvmm\.log_level: 'loud'"),
        ({"payload": k, "pvmm": {"shutdown_timeout": 99999}}, r"pvmm\.shutdown_timeout"),
        ({"payload": k, "disks": [{"readonly": True}]}, r"disks\[0\]\.path: missing"),
        ({"payload": k, "disks": [{"path": "x", "id": "xvda"}]}, r"disks\[0\]\.id"),
        ([], r"must be a JSON object"),
        ("{", r"malformed JSON"),
        ('{"payload": {"kernel": "a"}} {}', r"malformed JSON"),
    ]
    for i, (doc, pattern) in enumerate(cases):
        path = os.path.join(d, f"bad{i}.json")
        with open(path, "w") as f:
            f.write(doc if isinstance(doc, str) else json.dumps(doc))
        r = subprocess.run([pvmm, "run", "--config", path], capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        print(f"$ pvmm run --config {path} -> {r.returncode}: {r.stderr.strip()}", flush=True)
        lines = r.stderr.strip().splitlines()
        expect(r.returncode == 3 and len(lines) == 1 and re.search(pattern, lines[0]),
               f"bad config {i}: exit 3, one line matching /{pattern}/")
    r = subprocess.run([pvmm, "run", "--config", os.path.join(d, "absent.json")],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    expect(r.returncode == 3 and "absent.json" in r.stderr, "an absent file: exit 3 naming it")
    r = subprocess.run([pvmm, "run", "--config"], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    expect(r.returncode == 2, "--config without a value: exit 2")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pvmm", required=True)
    ap.add_argument("--guest", required=True)
    a = ap.parse_args()
    skip_without_kvm()
    with tempfile.TemporaryDirectory(prefix="pvmm-config-") as d:
        try:
            bad_files(a.pvmm, a.guest, d)
            round_trip(a.pvmm, os.path.abspath(a.guest), d)
        except AssertionError as e:
            print(f"FAIL: {e}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
