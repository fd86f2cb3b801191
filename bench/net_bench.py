#!/usr/bin/env python3
"""The network benchmark: frames through pvmm's netif backend between the
bench-net guest and a host process on a socket link, against a plain copy
loop between two host threads over the same kind of link, in the same run.

    net_bench.py --pvmm P --guest bench-net-64 --host-tool net_host --dir DIR
                 [--frames 50000] [--baseline-frames 500000] [--rounds 3]

The link is what `--net socket,connect=PATH` speaks: a Unix SOCK_SEQPACKET
socket, one Ethernet frame per message.  net_host listens on it and counts
what pvmm sends (guest transmit), and sends frames for the guest to
receive, no more than 192 beyond what the guest's credit frames say it took
(its receive ring holds 256, so none is dropped).

Phases: tx-60 and tx-1514 (the guest sends --frames frames of 60 and 1514
bytes), rx-60 and rx-1514 (the host sends them).  For each it prints
packets and bytes per second (transmit: frames the host received over the
time from the first to the end frame; receive: frames the guest got over
its own first-to-end time), and CPU time per packet: pvmm's threads that
are not vCPUs (the backend thread, the main loop; /proc/PID/task/*/stat
sampled when the guest prints the phase's begin/ready and end lines), the
vCPU thread (the guest's emulated code and its hypercalls), and the host
tool.  The baseline, `net_host pair`, runs --rounds times before and after
the guest, interleaved; its best round is shown, with its sender's CPU per
packet next to the backend's for transmit (pvmm sends on the socket) and
its receiver's for receive.  Nothing is judged: the exit status is non-zero
only when something did not run.
"""
import argparse
import os
import re
import subprocess
import sys
import threading

TICK_NS = 1e9 / os.sysconf("SC_CLK_TCK")
PHASES = {"tx-60": 60, "tx-1514": 1514, "rx-60": 60, "rx-1514": 1514}
WINDOW = 192


def stat_cpu_ns(path):
    """utime + stime of a /proc stat file, in ns."""
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_NS


def proc_cpu_ns(pid):
    """pvmm's live threads' CPU time: (vCPU threads, the others), in ns."""
    vcpu = other = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                comm = f.read().strip()
            ns = stat_cpu_ns("/proc/%d/task/%s/stat" % (pid, tid))
        except OSError:
            continue    # the thread has just exited
        if comm.startswith("vcpu"):
            vcpu += ns
        else:
            other += ns
    return vcpu, other


def parse_kv(text):
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", text)}


def baseline(a, size):
    path = os.path.join(a.dir, "net-bench-pair.sock")
    out = subprocess.run([a.host_tool, "pair", path, str(a.baseline_frames), str(size)],
                         check=True, capture_output=True, text=True).stdout
    r = parse_kv(out)
    if r.get("frames") != a.baseline_frames:
        raise RuntimeError("net_host pair printed %r" % out)
    return r


def guest_run(a):
    path = os.path.join(a.dir, "net-bench.sock")
    if os.path.exists(path):
        os.unlink(path)
    host = subprocess.Popen([a.host_tool, "serve", path], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1)
    host_lines = []

    def read_host():
        for line in host.stdout:
            sys.stdout.write("  host| " + line)
            host_lines.append(line)
    t = threading.Thread(target=read_host, daemon=True)
    t.start()
    while not os.path.exists(path) and host.poll() is None:
        threading.Event().wait(0.02)
    cmd = [a.pvmm, "run", a.guest, "--net", "socket,connect=" + path,
           "--cmdline", "frames=%d" % a.frames]
    print("$ " + " ".join(cmd), flush=True)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         bufsize=1)
    begin, guest = {}, {}
    try:
        for line in p.stdout:
            sys.stdout.write("  | " + line)
            m = re.match(r"bench-net: (begin|ready) (\S+)", line)
            if m:
                name = m.group(2)
                begin[name] = proc_cpu_ns(p.pid)
                if m.group(1) == "ready":
                    host.stdin.write("send %s %d %d %d\n" % (name, a.frames, PHASES[name],
                                                            WINDOW))
                    host.stdin.flush()
                continue
            m = re.match(r"bench-net: end (\S+) (.*)", line)
            if m and m.group(1) in begin:
                name = m.group(1)
                vcpu, other = proc_cpu_ns(p.pid)
                r = parse_kv(m.group(2))
                r["vcpu_ns"] = vcpu - begin[name][0]
                r["other_ns"] = other - begin[name][1]
                guest[name] = r
        status = p.wait()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        try:
            host.stdin.write("quit\n")
            host.stdin.close()
        except OSError:
            pass
        try:
            host.wait(10)
        except subprocess.TimeoutExpired:
            host.kill()
            host.wait()
        t.join(5)
    hostr = {}
    for line in host_lines:
        m = re.match(r"host-(rx|tx) (\S+) (.*)", line)
        if m:
            hostr[m.group(2)] = parse_kv(m.group(3))
    return status, guest, hostr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pvmm", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--host-tool", required=True)
    ap.add_argument("--dir", required=True, help="where the sockets go")
    ap.add_argument("--frames", type=int, default=50000, help="frames per guest phase")
    ap.add_argument("--baseline-frames", type=int, default=500000)
    ap.add_argument("--rounds", type=int, default=3, help="baseline rounds on each side")
    a = ap.parse_args()
    if not os.path.exists("/dev/kvm"):
        print("SKIP: /dev/kvm does not exist on this host")
        return 77

    base = {60: [], 1514: []}
    for _ in range(a.rounds):
        for size in base:
            base[size].append(baseline(a, size))
    status, guest, hostr = guest_run(a)
    for _ in range(a.rounds):
        for size in base:
            base[size].append(baseline(a, size))
    best = {size: min(rs, key=lambda r: r["ns"]) for size, rs in base.items()}
    spread = {size: max(r["ns"] for r in rs) / min(r["ns"] for r in rs)
              for size, rs in base.items()}

    print()
    print("net: %d frames per guest phase over a Unix SOCK_SEQPACKET link; baseline: %d "
          "frames between two host threads on the same kind of link, best of %d rounds"
          % (a.frames, a.baseline_frames, 2 * a.rounds))
    print("CPU per packet in us: pvmm's non-vCPU threads (backend), its vCPU thread, the host "
          "tool; the baseline's sender (tx) or receiver (rx)")
    print("%-8s %10s %9s %10s %9s %6s %8s %8s %8s %8s" % (
        "phase", "guest pps", "MB/s", "base pps", "MB/s", "ratio", "backend", "vcpu",
        "host", "base"))
    ok = status == 0
    for name, size in PHASES.items():
        g, b = guest.get(name), best[size]
        if g is None:
            print("%-8s (did not run)" % name)
            ok = False
            continue
        if name.startswith("tx"):
            h = hostr.get(name, {})
            frames, nbytes, ns = h.get("frames", 0), h.get("bytes", 0), h.get("ns", 0)
            base_cpu = b["tx_cpu_ns"]
            lost = g["frames"] - frames
        else:
            h = hostr.get(name, {})
            frames, nbytes, ns = g["frames"], g["bytes"], g["ns"]
            base_cpu = b["rx_cpu_ns"]
            lost = a.frames - frames
        if not frames or not ns:
            print("%-8s (no frames arrived)" % name)
            ok = False
            continue
        pps, bps = frames / (ns / 1e9), nbytes / (ns / 1e9)
        bpps, bbps = b["frames"] / (b["ns"] / 1e9), b["bytes"] / (b["ns"] / 1e9)
        print("%-8s %10.0f %9.1f %10.0f %9.1f %5.1f%% %8.2f %8.2f %8.2f %8.2f%s" % (
            name, pps, bps / 1e6, bpps, bbps / 1e6, 100 * pps / bpps,
            g["other_ns"] / frames / 1e3, g["vcpu_ns"] / frames / 1e3,
            h.get("cpu_ns", 0) / frames / 1e3, base_cpu / b["frames"] / 1e3,
            "  (%d not delivered%s)" % (lost, ", %d NETIF_RSP_DROPPED" % g["dropped"]
                                         if g.get("dropped") else "") if lost else ""))
    print("noise: the baseline's slowest round over its fastest: %s" % ", ".join(
        "%d bytes %.2fx" % (s, spread[s]) for s in sorted(spread)))
    if not ok:
        print("FAIL: pvmm exited with %d; phases that ran: %s" % (status, ", ".join(guest)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
