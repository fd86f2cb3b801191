#!/usr/bin/env python3
"""Balloon and management-API benchmarks (not part of the pass/fail suite).

  reclaim     the balloon guest gives 256 MiB back (decrease_reservation in
              batches of 512 frames, timed by the guest with its pvclock);
              baseline: madvise(MADV_DONTNEED) of 256 MiB of touched
              anonymous memory in this process.
  repopulate  the guest takes the 256 MiB again (populate_physmap, same
              timing); baseline: this process faulting 256 MiB of fresh
              anonymous memory in, which is what the host pays when the
              guest later touches its repopulated frames.
  vm.info     API round trips (connect, request, answer, close), as pvmm
              ctl makes them; baseline: the same exchange with a plain
              Unix-socket echo server in this process.

Prints the numbers and their ratios to the baselines measured in the same
run; judges nothing.
"""
import argparse
import mmap
import os
import shutil
import socket
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "tests", "integration", "balloon"))
from pvmmapi import Pvmm, UnixHTTPConnection, request  # noqa: E402

MIB = 1 << 20
SWING = 256 * MIB
PAGE = 4096


def baseline_madvise():
    """(seconds to MADV_DONTNEED SWING of touched memory, seconds to fault it in)."""
    m = mmap.mmap(-1, SWING, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    view = memoryview(m)
    t = time.perf_counter()
    for off in range(0, SWING, PAGE):
        view[off] = 1
    fault = time.perf_counter() - t
    t = time.perf_counter()
    m.madvise(mmap.MADV_DONTNEED)
    release = time.perf_counter() - t
    view.release()
    m.close()
    return release, fault


def swing(pvmm, guest):
    p = Pvmm(pvmm, ["run", guest, "--memory", str(2 * SWING // MIB) + "M"], log_level="warn")
    try:
        m = p.wait_for(r"balloon: ready, region (\d+) pages")
        if int(m.group(1)) * PAGE < SWING:
            raise SystemExit("the guest's region is smaller than the swing")
        mark = len(p.out)
        request(p.sock, "PUT", "vm.resize", {"desired_ram": SWING})
        m = p.wait_for(r"released (\d+) pages, reservation \d+ pages \((\d+) ns\)", start=mark)
        assert int(m.group(1)) * PAGE == SWING
        reclaim = int(m.group(2)) / 1e9
        mark = len(p.out)
        request(p.sock, "PUT", "vm.resize", {"desired_balloon": 0})
        m = p.wait_for(r"repopulated (\d+) pages, reservation \d+ pages \((\d+) ns\)", start=mark)
        repopulate = int(m.group(2)) / 1e9
        lat = api_latency(p.sock)
        request(p.sock, "PUT", "vmm.shutdown")
        p.wait_exit()
        return reclaim, repopulate, lat
    finally:
        p.kill()
        shutil.rmtree(p.dir, ignore_errors=True)


def api_latency(sock, n=1000):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        conn = UnixHTTPConnection(sock)
        conn.request("GET", "/api/v1/vm.info")
        resp = conn.getresponse()
        resp.read()
        conn.close()
        out.append(time.perf_counter() - t)
    return out


def echo_latency(n=1000):
    """The same exchange against a plain echo-style Unix socket server."""
    path = f"/tmp/pvmm-bench-echo-{os.getpid()}.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(16)
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"

    def serve():
        for _ in range(n):
            c, _ = srv.accept()
            data = b""
            while b"\r\n\r\n" not in data:
                data += c.recv(4096)
            c.sendall(reply)
            c.close()

    th = threading.Thread(target=serve)
    th.start()
    try:
        return api_latency(path, n)
    finally:
        th.join()
        srv.close()
        os.unlink(path)


def us(v):
    return f"{v * 1e6:8.1f} us"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pvmm", required=True)
    ap.add_argument("--guest", required=True)
    a = ap.parse_args()
    if not os.path.exists("/dev/kvm"):
        print("SKIP: no /dev/kvm")
        return 77
    base_release, base_fault = baseline_madvise()
    reclaim, repopulate, lat = swing(a.pvmm, a.guest)
    echo = echo_latency()
    mib = SWING / MIB
    print(f"balloon swing of {mib:.0f} MiB (guest-timed hypercalls, 512 frames each):")
    print(f"  reclaim     {mib / reclaim:9.0f} MiB/s  baseline madvise(DONTNEED) {mib / base_release:9.0f} MiB/s"
          f"  ratio {base_release / reclaim:.2f}")
    print(f"  repopulate  {mib / repopulate:9.0f} MiB/s  baseline page faults      {mib / base_fault:9.0f} MiB/s"
          f"  ratio {base_fault / repopulate:.2f}")
    print(f"vm.info round trip over {len(lat)} requests (connect, GET, answer, close):")
    print(f"  pvmm    mean {us(statistics.mean(lat))}  p50 {us(statistics.median(lat))}"
          f"  p99 {us(sorted(lat)[int(len(lat) * 0.99)])}")
    print(f"  echo    mean {us(statistics.mean(echo))}  p50 {us(statistics.median(echo))}"
          f"  p99 {us(sorted(echo)[int(len(echo) * 0.99)])}")
    print(f"  ratio (p50) {statistics.median(lat) / statistics.median(echo):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
