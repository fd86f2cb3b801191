#!/usr/bin/env python3
"""The management API: every endpoint, and bad requests that must get an
HTTP error (or be dropped after the time limit) without disturbing the
guest.  The balloon guest runs throughout; at the end it must still
follow memory/target and pass every one of its checks.

  endpoints: ping, info, pause/resume, resize, power-button; reboot and
             vmm.shutdown in their own pvmm; fd=N; socket files in use.
  bad:       malformed HTTP and JSON, limits, methods, idle and many
             clients.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pvmmapi import (Pvmm, raw_exchange, request, skip_without_kvm,  # noqa: E402
                     status_of)

MIB = 1 << 20
PROLOGUE = b"Host: localhost\r\n"


def expect(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok - " + what, flush=True)


def expect_status(got, want, what):
    expect(got == want, f"{what}: {want}" + ("" if got == want else f" (got {got})"))


def start(pvmm, guest, extra=()):
    p = Pvmm(pvmm, ["run", guest, "--memory", "256M"] + list(extra))
    p.wait_for(r"balloon: ready")
    return p


def test_endpoints(p):
    status, _, body = request(p.sock, "GET", "vmm.ping")
    expect_status(status, 200, "GET vmm.ping")
    expect(body["pid"] == p.proc.pid and body["version"], "vmm.ping names pvmm's version and pid")

    status, headers, info = request(p.sock, "GET", "vm.info")
    expect_status(status, 200, "GET vm.info")
    expect(headers.get("Content-Type") == "application/json", "vm.info is JSON")
    expect(info["state"] == "Running", "vm.info state Running")
    cfg = info["config"]
    expect(cfg["payload"]["kernel"].endswith("balloon-64") and cfg["memory"]["size"] == 256 * MIB
           and cfg["cpus"]["boot_vcpus"] == 1, "vm.info config: kernel, memory, cpus")
    tid = info["vcpus"][0]["tid"]
    with open(f"/proc/{p.proc.pid}/task/{tid}/comm") as f:
        expect(f.read().strip() == "vcpu0", "vm.info's vCPU thread id is the thread named vcpu0")

    expect_status(request(p.sock, "PUT", "vm.pause")[0], 204, "PUT vm.pause")
    expect(request(p.sock, "GET", "vm.info")[2]["state"] == "Paused", "vm.info state Paused")
    expect_status(request(p.sock, "PUT", "vm.pause")[0], 405, "vm.pause when paused")
    expect_status(request(p.sock, "PUT", "vm.shutdown")[0], 405, "vm.shutdown when paused")
    # Paused: the guest does not act on a new target until resumed.
    mark = len(p.out)
    expect_status(request(p.sock, "PUT", "vm.resize", {"desired_ram": 192 * MIB})[0], 204,
                  "vm.resize while paused")
    time.sleep(1.5)
    p.pump()
    expect("released" not in p.out[mark:], "a paused guest does not run")
    expect_status(request(p.sock, "PUT", "vm.resume")[0], 204, "PUT vm.resume")
    p.wait_for(r"balloon: target 196608 KiB: released 16384 pages", start=mark)
    expect(True, "the resumed guest follows the target set while paused")
    expect_status(request(p.sock, "PUT", "vm.resume")[0], 405, "vm.resume when running")

    mark = len(p.out)
    expect_status(request(p.sock, "PUT", "vm.resize", {"desired_balloon": 0})[0], 204,
                  "vm.resize desired_balloon 0")
    p.wait_for(r"repopulated 16384 pages", start=mark)
    expect_status(request(p.sock, "PUT", "vm.resize", {"desired_vcpus": 1})[0], 204,
                  "vm.resize to the vCPUs it has")


def test_bad_json(p):
    cases = [
        ({"desired_ram": 1}, "a target below 4 MiB"),
        ({"desired_ram": 512 * MIB}, "a target above the RAM"),
        ({"desired_ram": 128 * MIB + 1}, "a target that is not whole pages"),
        ({"desired_ram": -1}, "a negative target"),
        ({"desired_ram": "128M"}, "a string for a number"),
        ({"desired_ram": 128 * MIB, "desired_balloon": 0}, "both desired_ram and desired_balloon"),
        ({"desired_vcpus": 2}, "more vCPUs"),
        ({}, "nothing to resize"),
        ({"desired_memory": 1}, "an unknown field"),
        ([1, 2], "an array"),
        ('{"desired_ram": ', "truncated JSON"),
        ('{"desired_ram": 134217728} x', "data after the JSON"),
        ("{'desired_ram': 1}", "single quotes"),
        ("[" * 64 + "]" * 64, "nesting deeper than 16"),
        ("\x00", "a NUL byte"),
    ]
    for body, what in cases:
        status, _, reply = request(p.sock, "PUT", "vm.resize", body)
        expect(status == 400 and reply and reply.get("error"),
               f"vm.resize with {what}: 400 with an error message" +
               ("" if status == 400 else f" (got {status})"))
    expect(request(p.sock, "GET", "vm.info")[2]["balloon"]["target"] == 256 * MIB,
           "none of them changed the target")


def test_bad_http(p):
    s = p.sock

    def req(text):
        return status_of(raw_exchange(s, text))

    expect_status(req(b"PUT /api/v1/vm.resize HTTP/1.1\r\n" + PROLOGUE + b"\r\n"), 411,
                  "a body endpoint without Content-Length")
    expect_status(req(b"PUT /api/v1/vm.resize HTTP/1.1\r\n" + PROLOGUE +
                      b"Content-Length: 70000\r\n\r\n"), 413, "a body over 64 KiB")
    expect_status(req(b"GET /api/v1/" + b"a" * 2000 + b" HTTP/1.1\r\n\r\n"), 414,
                  "a 2000-byte path")
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(40))
    expect_status(req(b"GET /api/v1/vmm.ping HTTP/1.1\r\n" + many + b"\r\n"), 431,
                  "40 header lines")
    expect_status(req(b"GET /api/v1/vmm.ping HTTP/1.1\r\nX-Big: " + b"v" * 9000 + b"\r\n\r\n"),
                  431, "a 9000-byte header")
    expect_status(req(b"GET /api/v1/vmm.ping HTTP/2.0\r\n\r\n"), 505, "HTTP/2.0")
    expect_status(req(b"hello\r\n\r\n"), 400, "a line that is not a request")
    expect_status(req(b"GET  /api/v1/vmm.ping HTTP/1.1\r\n\r\n"), 400, "two spaces")
    expect_status(req(b"GET /api/v1/vmm.ping HTTP/1.1\r\n folded\r\n\r\n"), 400,
                  "a folded header line")
    expect_status(req(b"GET /api/v1/vmm.ping HTTP/1.1\r\nContent-Length: 1x\r\n\r\n"), 400,
                  "a Content-Length that is not a number")
    expect_status(req(b"GET /api/v1/vmm.ping HTTP/1.1\r\nContent-Length: 1\r\n"
                      b"Content-Length: 2\r\n\r\nab"), 400, "two different Content-Lengths")
    expect_status(req(b"PUT /api/v1/vm.resize HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"0\r\n\r\n"), 501, "chunked Transfer-Encoding")
    expect_status(req(b"PUT /api/v1/vm.pause HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"), 400,
                  "a body for vm.pause")
    expect_status(req(b"GET /api/v1/vm.nothing HTTP/1.1\r\n\r\n"), 404, "an unknown endpoint")
    expect_status(req(b"GET /index.html HTTP/1.1\r\n\r\n"), 404, "a path outside /api/v1")
    expect_status(req(b"PUT /api/v1/vm.create HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"), 501,
                  "a Cloud Hypervisor endpoint pvmm does not have")
    resp = raw_exchange(s, b"POST /api/v1/vm.info HTTP/1.1\r\n\r\n")
    expect(status_of(resp) == 405 and b"\r\nAllow: GET\r\n" in resp, "POST vm.info: 405, Allow: GET")
    resp = raw_exchange(s, b"GET /api/v1/vm.pause HTTP/1.1\r\n\r\n")
    expect(status_of(resp) == 405 and b"\r\nAllow: PUT\r\n" in resp, "GET vm.pause: 405, Allow: PUT")
    expect_status(req(b"GET /api/v1/vmm.ping HTTP/1.0\r\n\r\n"), 200, "HTTP/1.0 is served")

    # Expect: 100-continue, as curl sends for larger bodies.
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(10)
    c.connect(s)
    body = json.dumps({"desired_vcpus": 1}).encode()
    c.sendall(b"PUT /api/v1/vm.resize HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n"
              % len(body))
    expect(c.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), "Expect: 100-continue is answered")
    c.sendall(body)
    expect_status(status_of(c.recv(4096)), 204, "... and the body then served")
    c.close()

    # A client that says nothing is dropped after the time limit.
    t = time.monotonic()
    resp = raw_exchange(s, b"", timeout=20)
    took = time.monotonic() - t
    expect(status_of(resp) == 408 and 4 <= took <= 10,
           f"a silent client gets 408 after the time limit ({took:.1f} s)")
    resp = raw_exchange(s, b"GET /api/v1/vmm.ping HTTP/1.1\r\n", timeout=20)
    expect_status(status_of(resp), 408, "half a request")

    # Many clients at once: the first API_MAX_CLIENTS wait their turn, the
    # rest are told 503 at once; none of it blocks the main loop.
    idle = []
    for _ in range(8):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(s)
        idle.append(c)
    time.sleep(0.3)
    t = time.monotonic()
    resp = raw_exchange(s, b"GET /api/v1/vmm.ping HTTP/1.1\r\n\r\n")
    took = time.monotonic() - t
    # "At once": well before the idle ones time out.
    expect(status_of(resp) == 503 and took < 3,
           f"a ninth client is told 503 at once ({status_of(resp)} after {took:.2f} s: {resp[:60]!r})")
    for c in idle:
        c.close()
    time.sleep(0.3)
    expect_status(request(s, "GET", "vmm.ping")[0], 200, "served again once they left")

    # A client that leaves before finishing its request.
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(s)
    c.sendall(b"PUT /api/v1/vm.resize HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
    c.close()
    expect_status(request(s, "GET", "vmm.ping")[0], 200, "served after a client left half-way")
    t = time.monotonic()
    n = 300
    ok = sum(request(s, "GET", "vm.info")[0] == 200 for _ in range(n))
    took = time.monotonic() - t
    expect(ok == n, f"{n} vm.info in a row all answered ({n / took:.0f}/s)")


def test_guest_undisturbed(p):
    mark = len(p.out)
    expect_status(request(p.sock, "PUT", "vm.resize", {"desired_ram": 128 * MIB})[0], 204,
                  "after all that, vm.resize")
    p.wait_for(r"released 32768 pages", start=mark)
    expect(True, "the guest still follows memory/target")
    expect_status(request(p.sock, "PUT", "vm.power-button")[0], 204, "PUT vm.power-button")
    code = p.wait_exit()
    expect(code == 0, f"the guest powered off (exit status {code})")
    expect("guest-checks:" in p.out and ", 0 failed" in p.out, "every guest check passed")
    expect(not os.path.exists(p.sock), "pvmm removed its socket")


def test_reboot(pvmm, guest):
    p = start(pvmm, guest)
    try:
        expect_status(request(p.sock, "PUT", "vm.reboot")[0], 204, "PUT vm.reboot")
        p.wait_for(r"balloon: control/shutdown says reboot")
        code = p.wait_exit()
        expect(code == 10, f"the guest rebooted: exit status 10 (got {code})")
    finally:
        p.close()


def test_vmm_shutdown(pvmm, guest):
    p = start(pvmm, guest)
    try:
        expect_status(request(p.sock, "PUT", "vmm.shutdown")[0], 204, "PUT vmm.shutdown")
        code = p.wait_exit()
        expect(code == 20, f"pvmm stopped: exit status 20 (got {code})")
    finally:
        p.close()


def test_fd(pvmm, guest):
    """--api-socket fd=N: a listening socket handed over, as libvirt does."""
    p = None
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path = f"/tmp/pvmm-api-fd-{os.getpid()}.sock"
    try:
        lsock.bind(path)
        lsock.listen(4)
        fd = lsock.fileno()
        cmd = [pvmm, "run", guest, "--memory", "64M", "--api-socket", f"fd={fd}",
               "--log-level", "info"]
        print("$ " + " ".join(cmd), flush=True)
        proc = subprocess.Popen(cmd, pass_fds=[fd], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.PIPE)
        lsock.close()
        time.sleep(1)
        status, _, body = request(path, "GET", "vmm.ping")
        expect(status == 200 and body["pid"] == proc.pid, "fd=N: the handed-over socket is served")
        expect_status(request(path, "PUT", "vmm.shutdown")[0], 204, "fd=N: vmm.shutdown")
        out = proc.communicate(timeout=60)[0].decode(errors="replace")
        print(out)
        expect(proc.returncode == 20, "fd=N: pvmm stopped")
    finally:
        if os.path.exists(path):
            os.unlink(path)
        if p:
            p.close()


def test_socket_files(pvmm, guest):
    d = f"/tmp/pvmm-api-files-{os.getpid()}"
    os.makedirs(d, exist_ok=True)
    try:
        regular = os.path.join(d, "file")
        open(regular, "w").close()
        r = subprocess.run([pvmm, "run", guest, "--api-socket", regular], capture_output=True,
                           text=True, timeout=60, stdin=subprocess.DEVNULL)
        expect(r.returncode == 3 and regular in r.stderr,
               f"a regular file as the socket: exit 3 naming it ({r.returncode}: {r.stderr.strip()})")
        expect(os.path.exists(regular), "... and the file is left alone")

        stale = os.path.join(d, "stale.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(stale)
        s.close()
        p = Pvmm(pvmm, ["run", guest, "--memory", "64M", "--api-socket", stale], sock=stale)
        try:
            p.wait_socket()
            time.sleep(0.5)
            expect_status(request(stale, "GET", "vmm.ping")[0], 200, "a stale socket file is replaced")
            r = subprocess.run([pvmm, "run", guest, "--api-socket", stale], capture_output=True,
                               text=True, timeout=60, stdin=subprocess.DEVNULL)
            expect(r.returncode == 3 and "in use" in r.stderr,
                   f"a live socket: exit 3, in use ({r.returncode}: {r.stderr.strip()})")
            expect_status(request(stale, "GET", "vmm.ping")[0], 200, "... and the live one still answers")
            mode = os.stat(stale).st_mode & 0o777
            expect(mode & 0o077 == 0, f"the socket is for its owner only ({oct(mode)})")
            request(stale, "PUT", "vmm.shutdown")
            p.wait_exit()
        finally:
            p.close()
    finally:
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pvmm", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("part", choices=["endpoints", "bad"])
    a = ap.parse_args()
    skip_without_kvm()
    try:
        if a.part == "endpoints":
            p = start(a.pvmm, a.guest)
            try:
                test_endpoints(p)
                test_guest_undisturbed(p)
            finally:
                p.close()
            test_reboot(a.pvmm, a.guest)
            test_vmm_shutdown(a.pvmm, a.guest)
            test_fd(a.pvmm, a.guest)
            test_socket_files(a.pvmm, a.guest)
        else:
            p = start(a.pvmm, a.guest)
            try:
                test_bad_json(p)
                test_bad_http(p)
                test_guest_undisturbed(p)
            finally:
                p.close()
    except AssertionError as e:
        print(f"FAIL: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
