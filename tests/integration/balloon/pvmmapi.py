"""Running pvmm with its management API, for the integration tests.

Talks HTTP over the Unix socket with the standard library only.  Used by
the tests in this folder; none of them mocks pvmm.
"""
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a Unix socket."""

    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def request(sock_path, method, endpoint, body=None, timeout=30):
    """One API request; returns (status, headers dict, parsed JSON or None)."""
    conn = UnixHTTPConnection(sock_path, timeout)
    data = None if body is None else (body if isinstance(body, (bytes, str)) else json.dumps(body))
    headers = {"Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, "/api/v1/" + endpoint, body=data, headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    parsed = json.loads(raw) if raw else None
    return resp.status, dict(resp.getheaders()), parsed


def raw_exchange(sock_path, data, timeout=10, shutdown_write=False):
    """Sends raw bytes; returns what the server answered before closing."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    if data:
        s.sendall(data)
    if shutdown_write:
        s.shutdown(socket.SHUT_WR)
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        out += chunk
    s.close()
    return out


def status_of(response):
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", response)
    return int(m.group(1)) if m else None


class Pvmm:
    """A pvmm process whose console and log are collected."""

    def __init__(self, pvmm, args, sock=None, log_level="info"):
        self.dir = tempfile.mkdtemp(prefix="pvmm-test-")
        self.sock = sock or os.path.join(self.dir, "api.sock")
        cmd = [pvmm] + args
        if "--api-socket" not in args and "--config" not in args:
            cmd += ["--api-socket", self.sock]
        if "--log-level" not in args:
            cmd += ["--log-level", log_level]
        print("$ " + " ".join(cmd), flush=True)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.out = ""

    def pump(self, wait=0.1):
        ready, _, _ = select.select([self.proc.stdout], [], [], wait)
        if ready:
            chunk = self.proc.stdout.read()
            if chunk:
                text = chunk.decode(errors="replace")
                self.out += text

    def wait_for(self, pattern, timeout=120, start=0):
        """Waits until the output from offset start matches; returns the match."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.out[start:], re.MULTILINE)
            if m:
                return m
            if self.proc.poll() is not None:
                self.pump(0)
                m = re.search(pattern, self.out[start:], re.MULTILINE)
                if m:
                    return m
                raise AssertionError(f"pvmm exited ({self.proc.returncode}) before /{pattern}/")
            if time.monotonic() > deadline:
                raise AssertionError(f"no /{pattern}/ within {timeout} s")
            self.pump()

    def wait_socket(self, timeout=30):
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.pump(0)
                raise AssertionError("the API socket did not appear")
            self.pump(0.05)

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def wait_exit(self, timeout=60):
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"pvmm did not exit within {timeout} s")
            self.pump()
        self.pump(0)
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def close(self):
        """Stops pvmm if it still runs and prints what it wrote."""
        self.kill()
        self.pump(0)
        print("---- pvmm output ----\n" + self.out + "---- end ----", flush=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.stdout.close()


def skip_without_kvm():
    if not os.path.exists("/dev/kvm"):
        print("SKIP: /dev/kvm does not exist on this host; pvmm cannot run guests")
        raise SystemExit(77)
