#!/usr/bin/env python3
"""Network tests: runs the netfront guest under pvmm with each kind of
--net and plays the host's part.

    run_net_test.py user   --pvmm P --guest G [--fatal KIND] [--split]
    run_net_test.py tap    --pvmm P --guest G [--tap-fd]
    run_net_test.py socket --pvmm P --guest G [--guest2 G2]

user    user-mode networking (libslirp).  A UDP peer on 127.0.0.1 answers
        "echo:" + what it got (the guest reaches it through the gateway's
        address 10.0.2.2); hostfwd=tcp and hostfwd=udp rules on ports picked
        now lead to the guest's ports 8080 and 5353: when the guest says it
        listens, this script connects (TCP), sends a line and reads the
        answer until the guest closes, and sends a datagram and waits for
        its answer.  --fatal ends the guest's run with a request netback
        treats as fatal (the guest then reconnects).
tap     needs root or unprivileged user namespaces (a user then runs the test
        in a user and network namespace of its own), iproute2's `ip` and
        `ping` (fails, never skips, without them): a network namespace with
        a tap device in it (10.99.0.1/24),
        pvmm run inside it on that tap, the guest at 10.99.0.2 answers
        `ping -c 3 -W 2` from the namespace, then a UDP datagram from a
        socket there.  pvmm opens the tap by name (--net tap=NAME, with
        IFF_VNET_HDR: the host's checksum offload reaches the backend), or
        with --tap-fd this script opens it without IFF_VNET_HDR and passes
        the descriptor (--net tap,fd=N, as a manager does).  Nothing changes
        outside the namespace, which is deleted in every path.
socket  two pvmm guests on --net socket,listen=PATH and socket,connect=PATH,
        10.98.0.1 and 10.98.0.2, each pinging the other three times.

The verdict: every pvmm exits 0 with "guest-checks: N ok, 0 failed" and no
FAIL line, and everything the host side expected came.  Timeouts only stop
a run that hangs; nothing is judged on time.
"""
import argparse
import fcntl
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

CHECKS = re.compile(r"^guest-checks: [0-9]+ ok, 0 failed$", re.MULTILINE)
FAIL = re.compile(r"^FAIL", re.MULTILINE)
RUN_TIMEOUT = 240           # seconds a pvmm may run before it is called hung
GUEST_TCP_PORT = 8080
GUEST_UDP_PORT = 5353


class Guest:
    """A pvmm process whose output is collected line by line (and echoed
    with a prefix) by a thread; lines can be waited for."""

    def __init__(self, name, cmd, pass_fds=()):
        self.name = name
        print("$ " + " ".join(cmd), flush=True)
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, pass_fds=pass_fds)
        self.lines = []
        self.cond = threading.Condition()
        self.done = False
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for raw in self.p.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            sys.stdout.write("[%s] %s\n" % (self.name, line))
            sys.stdout.flush()
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.done = True
            self.cond.notify_all()

    def wait_line(self, pattern, timeout):
        """The first line matching pattern, or None if pvmm ended or the
        time ran out first."""
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    m = rx.search(line)
                    if m:
                        return m
                left = end - time.monotonic()
                if self.done or left <= 0:
                    return None
                self.cond.wait(left)

    def finish(self, timeout=RUN_TIMEOUT):
        """Waits for the exit: the status, or None after killing a hung
        pvmm."""
        try:
            status = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            status = None
        self.t.join(10)
        return status

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()

    def output(self):
        with self.cond:
            return "\n".join(self.lines)


class Verdict:
    def __init__(self):
        self.problems = []
        self.lock = threading.Lock()

    def fail(self, msg):
        with self.lock:
            self.problems.append(msg)
        print("FAIL: " + msg, flush=True)

    def ok(self, msg):
        print("ok - " + msg, flush=True)

    def expect(self, cond, msg):
        if cond:
            self.ok(msg)
        else:
            self.fail(msg)
        return cond

    def guest_passed(self, g, status):
        if status is None:
            self.fail("%s did not finish within %d s" % (g.name, RUN_TIMEOUT))
            return
        out = g.output()
        self.expect(status == 0, "%s exited with status %s (want 0)" % (g.name, status))
        self.expect(CHECKS.search(out) is not None,
                    "%s printed 'guest-checks: N ok, 0 failed'" % g.name)
        self.expect(FAIL.search(out) is None, "%s printed no FAIL line" % g.name)


def free_port(kind):
    """A port nothing on 127.0.0.1 uses now (the kernel's choice)."""
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- user ----

def udp_echo_peer(sock, stop):
    """Answers each datagram with "echo:" and the datagram."""
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            data, addr = sock.recvfrom(65536)
        except socket.timeout:
            continue
        except OSError:
            return
        sock.sendto(b"echo:" + data, addr)


def tcp_exchange(port, v, results):
    """Connects through hostfwd, sends a line, reads the answer up to the
    guest's FIN, then closes."""
    line = b"hello from the host %d\n" % os.getpid()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as c:
            c.sendall(line)
            got = b""
            while True:
                chunk = c.recv(4096)
                if not chunk:
                    break
                got += chunk
    except OSError as e:
        v.fail("TCP through hostfwd to 127.0.0.1:%d: %s" % (port, e))
        return
    results["tcp"] = got
    v.expect(got == b"guest got: " + line,
             "TCP: the guest answered %r, then closed (got %r)" % (b"guest got: " + line, got))


def udp_fwd_exchange(port, v, results):
    """Sends a datagram through hostfwd=udp (again every 5 s: UDP may be
    lost) and waits for the guest's answer."""
    msg = b"pvmm-udp-fwd %d" % os.getpid()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        for _ in range(12):
            s.sendto(msg, ("127.0.0.1", port))
            try:
                data, _ = s.recvfrom(65536)
            except socket.timeout:
                continue
            results["udp-fwd"] = data
            v.expect(data == b"guest got: " + msg,
                     "UDP: the guest answered the datagram through hostfwd (got %r)" % data)
            return
    v.fail("UDP: no answer from the guest through hostfwd=udp 127.0.0.1:%d" % port)


def run_user(a, v):
    tcp_host = free_port(socket.SOCK_STREAM)
    udp_host = free_port(socket.SOCK_DGRAM)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer_port = peer.getsockname()[1]
    stop = threading.Event()
    threading.Thread(target=udp_echo_peer, args=(peer, stop), daemon=True).start()

    cmdline = "mode=user udp-port=%d tcp-port=%d udp-fwd-port=%d" % (
        peer_port, GUEST_TCP_PORT, GUEST_UDP_PORT)
    if a.fatal:
        cmdline += " fatal=" + a.fatal
    if a.split:
        cmdline += " split=1"
    net = "user,hostfwd=tcp::%d-:%d,hostfwd=udp::%d-:%d" % (tcp_host, GUEST_TCP_PORT,
                                                          udp_host, GUEST_UDP_PORT)
    g = Guest("pvmm", [a.pvmm, "run", a.guest, "--net", net, "--cmdline", cmdline,
                       "--log-level", "info"])
    results = {}
    try:
        if g.wait_line(r"^netfront: tcp listening on port %d" % GUEST_TCP_PORT, RUN_TIMEOUT):
            tcp_exchange(tcp_host, v, results)
        else:
            v.fail("the guest never said it listens on TCP port %d" % GUEST_TCP_PORT)
        if g.wait_line(r"^netfront: udp listening on port %d" % GUEST_UDP_PORT, RUN_TIMEOUT):
            udp_fwd_exchange(udp_host, v, results)
        else:
            v.fail("the guest never said it listens on UDP port %d" % GUEST_UDP_PORT)
        status = g.finish()
    finally:
        g.kill()
        stop.set()
        peer.close()
    v.guest_passed(g, status)
    out = g.output()
    v.expect(re.search(r"^ok - UDP to the host through the gateway's address", out, re.M),
             "the guest reached the UDP peer on 127.0.0.1:%d through 10.0.2.2" % peer_port)
    if a.fatal:
        v.expect(re.search(r"^ok - after reconnecting, an echo to the gateway works", out,
                           re.M), "the guest reconnected after the fatal request")
        v.expect(re.search(r"pvmm: warn: .*vif 0 queue 0: ", out),
                 "pvmm logged the fatal request")


# ---- tap ----

TUNSETIFF = 0x400454ca
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


# Set when the test runs in a user and network namespace of its own
# (`unshare --user --map-root-user --net`): there it may make taps without
# being root on the host, and its network is the namespace's.
USERNS_ENV = "PVMM_NET_TEST_IN_USERNS"


def need_root_and_ip(v):
    if os.geteuid() != 0:
        v.fail("the tap test needs root, or user namespaces (`unshare --user "
               "--map-root-user --net`); it runs as uid %d" % os.geteuid())
        return None
    ip = shutil.which("ip") or next((p for p in ("/usr/sbin/ip", "/sbin/ip")
                                     if os.path.exists(p)), None)
    if not ip:
        v.fail("the tap test needs iproute2's `ip` (Debian package iproute2)")
        return None
    if not shutil.which("ping"):
        v.fail("the tap test needs `ping` (Debian package iputils-ping)")
        return None
    return ip


def sh(cmd, v, what):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        v.fail("%s: `%s` exited %d: %s" % (what, " ".join(cmd), r.returncode,
                                            (r.stderr or r.stdout).strip()))
        return False
    return True


def tap_fd_child(argv):
    """Inside the namespace: opens the tap, then becomes pvmm with it."""
    tap, rest = argv[0], argv[1:]
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", tap.encode(), IFF_TAP | IFF_NO_PI))
    os.set_inheritable(fd, True)
    rest = [x.replace("@FD@", str(fd)) for x in rest]
    os.execv(rest[0], rest)


def udp_probe(addr, port):
    """Inside the namespace: a datagram to the guest (again every 5 s) and
    its answer."""
    msg = b"pvmm-tap-udp %d" % os.getpid()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        for _ in range(6):
            s.sendto(msg, (addr, int(port)))
            try:
                data, _ = s.recvfrom(65536)
            except socket.timeout:
                continue
            print("udp-probe: got %r" % data)
            return 0 if data == b"guest got: " + msg else 1
    print("udp-probe: no answer from %s:%s" % (addr, port))
    return 1


def remove_stale_namespaces(ip):
    """Namespaces an earlier run left when it was killed outright: ours are
    named after their test's process id."""
    r = subprocess.run([ip, "netns", "list"], capture_output=True, text=True)
    for m in re.finditer(r"^pvmm-test-(\d+)\b", r.stdout, re.M):
        if not os.path.exists("/proc/" + m.group(1)):
            subprocess.run([ip, "netns", "del", "pvmm-test-" + m.group(1)],
                           capture_output=True)


def run_tap(a, v):
    ip = need_root_and_ip(v)
    if not ip:
        return
    in_userns = bool(os.environ.get(USERNS_ENV))
    if not in_userns:
        remove_stale_namespaces(ip)
    ns = "pvmm-test-%d" % os.getpid()
    tap = "pvmmtap%d" % (os.getpid() % 10000)
    host_addr, guest_addr = "10.99.0.1", "10.99.0.2"
    g = None
    try:
        if in_userns:
            nsx = []    # this process's own network namespace
        elif not sh([ip, "netns", "add", ns], v, "making the namespace"):
            return
        else:
            nsx = [ip, "netns", "exec", ns]
        # A persistent tap: pvmm opens it by name, or (--tap-fd) the child
        # below opens it and hands pvmm the descriptor, as a manager would.
        ok = sh(nsx + [ip, "tuntap", "add", "dev", tap, "mode", "tap"], v, "making the tap")
        ok = ok and sh(nsx + [ip, "addr", "add", host_addr + "/24", "dev", tap], v,
                       "addressing the tap")
        ok = ok and sh(nsx + [ip, "link", "set", tap, "up"], v, "bringing the tap up")
        ok = ok and sh(nsx + [ip, "link", "set", "lo", "up"], v, "bringing lo up")
        if not ok:
            return
        cmdline = "mode=serve ip=%s/24 pings=3 udp-echo=%d" % (guest_addr, GUEST_UDP_PORT)
        pvmm = [a.pvmm, "run", a.guest, "--cmdline", cmdline, "--log-level", "info"]
        if a.tap_fd:
            cmd = nsx + [sys.executable, os.path.abspath(__file__), "tap-fd-child", tap] + \
                pvmm + ["--net", "tap,fd=@FD@"]
        else:
            cmd = nsx + pvmm + ["--net", "tap=" + tap]
        g = Guest("pvmm", cmd)
        if not g.wait_line(r"^netfront: ready at " + re.escape(guest_addr), RUN_TIMEOUT):
            v.fail("the guest never said it is ready")
            g.kill()
            v.guest_passed(g, g.finish())
            return
        ping = subprocess.run(nsx + ["ping", "-c", "3", "-W", "2", guest_addr],
                              capture_output=True, text=True)
        sys.stdout.write(ping.stdout + ping.stderr)
        v.expect(ping.returncode == 0 and re.search(r"\b3 received", ping.stdout),
                 "ping -c 3 from the namespace: 3 echo replies from the guest")
        probe = subprocess.run(nsx + [sys.executable, os.path.abspath(__file__), "udp-probe",
                                      guest_addr, str(GUEST_UDP_PORT)],
                               capture_output=True, text=True)
        sys.stdout.write(probe.stdout + probe.stderr)
        v.expect(probe.returncode == 0,
                 "UDP from the namespace to the guest's port %d, and its answer"
                 % GUEST_UDP_PORT)
        status = g.finish()
        v.guest_passed(g, status)
    finally:
        if g:
            g.kill()
        if not in_userns:
            subprocess.run([ip, "netns", "del", ns], capture_output=True)
            if os.path.exists("/run/netns/" + ns):
                v.fail("namespace %s was not deleted" % ns)


# ---- socket ----

def run_socket(a, v):
    tmp = tempfile.mkdtemp(prefix="pvmm-net-")
    path = os.path.join(tmp, "link.sock")
    guests = []
    try:
        ga = Guest("listen", [a.pvmm, "run", a.guest, "--net", "socket,listen=" + path,
                              "--cmdline", "mode=peer ip=10.98.0.1/24 peer=10.98.0.2 pings=3",
                              "--log-level", "info"])
        guests.append(ga)
        # connect= needs the listener's socket when pvmm starts.
        end = time.monotonic() + 60
        while not os.path.exists(path) and ga.p.poll() is None and time.monotonic() < end:
            time.sleep(0.05)
        if not v.expect(os.path.exists(path), "the listening pvmm made %s" % path):
            return
        gb = Guest("connect", [a.pvmm, "run", a.guest2 or a.guest, "--net",
                               "socket,connect=" + path, "--cmdline",
                               "mode=peer ip=10.98.0.2/24 peer=10.98.0.1 pings=3",
                               "--log-level", "info"])
        guests.append(gb)
        for g in guests:
            v.guest_passed(g, g.finish())
        for g, other in ((ga, "10.98.0.2"), (gb, "10.98.0.1")):
            v.expect(re.search(r"^netfront: 3 of 3 echo requests to the peer answered",
                               g.output(), re.M),
                     "%s: its 3 echo requests to %s were answered" % (g.name, other))
    finally:
        for g in guests:
            g.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "tap-fd-child":
        tap_fd_child(sys.argv[2:])
        return 1
    if len(sys.argv) == 4 and sys.argv[1] == "udp-probe":
        return udp_probe(sys.argv[2], sys.argv[3])
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["user", "tap", "socket"])
    p.add_argument("--pvmm", required=True)
    p.add_argument("--guest", required=True)
    p.add_argument("--guest2", help="the connecting guest of the socket test")
    p.add_argument("--fatal", choices=["cross-page", "too-many-slots"])
    p.add_argument("--split", action="store_true", help="split event channels")
    p.add_argument("--tap-fd", action="store_true",
                   help="pass an open tap (--net tap,fd=N) instead of its name")
    a = p.parse_args()
    if not os.path.exists("/dev/kvm"):
        print("SKIP: /dev/kvm does not exist on this host; pvmm cannot run guests")
        return 77
    # Not root: the tap test runs in a user and network namespace of its own
    # (the namespace, its tap and everything in it go when it exits).
    unshare = shutil.which("unshare")
    if a.kind == "tap" and os.geteuid() != 0 and not os.environ.get(USERNS_ENV) and unshare:
        os.environ[USERNS_ENV] = "1"
        os.execv(unshare, [unshare, "--user", "--map-root-user", "--net",
                           sys.executable, os.path.abspath(__file__)] + sys.argv[1:])
    # meson's timeout sends SIGTERM: clean up as on any other exit.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("FAIL: terminated"))
    v = Verdict()
    {"user": run_user, "tap": run_tap, "socket": run_socket}[a.kind](a, v)
    if v.problems:
        print("FAIL: %d problem(s):\n  %s" % (len(v.problems), "\n  ".join(v.problems)))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
