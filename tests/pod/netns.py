"""A Pod made of Linux network namespaces: `client` -- `pod` -- `server`, joined by veth pairs.

    client ns                      pod ns                          server ns
    10.200.1.1/30  <-- veth -->   10.200.1.2/30 | 10.200.2.1/30  <-- veth -->  10.200.2.2/30
    fd00:200:1::1/64              fd00:200:1::2 | fd00:200:2::1                fd00:200:2::2/64

The pod does not forward packets (ip_forward stays 0 in a new namespace), so the client and the
server can reach each other only through a process in the pod. Every address exists only inside
these namespaces; nothing leaves them. Names are unique per run (pp-<pid>-<role>), and
everything is removed by close(), which also runs at interpreter exit.
"""

import atexit
import json
import os
import re
import signal
import subprocess
import threading
import time

CLIENT_IP, POD_CLIENT_SIDE_IP = "10.200.1.1", "10.200.1.2"
POD_SERVER_SIDE_IP, SERVER_IP = "10.200.2.1", "10.200.2.2"
CLIENT_IP6, POD_CLIENT_SIDE_IP6 = "fd00:200:1::1", "fd00:200:1::2"
POD_SERVER_SIDE_IP6, SERVER_IP6 = "fd00:200:2::1", "fd00:200:2::2"

# Ports of the test topology.
APP_PORT = 8080  # the app's HTTP port in the pod (captured inbound)
APP_EXCLUDED_PORT = 9091  # the app's port excluded from inbound capture (-d)
APP_POD_IP_ONLY_PORT = 8083  # the app listening on the pod IP only (inbound target original)
APP_LOCALHOST_ONLY_PORT = 8084  # the app listening on 127.0.0.1 only (inbound target loopback)
SERVER_HTTP_PORT = 8081  # HTTP echo in the server namespace (outbound passthrough)
SERVER_DECLARED_HTTP_PORT = 8082  # HTTP echo on a port declared TCP (tcp_ports)
SERVER_EXCLUDED_PORT = 9090  # HTTP echo on a port excluded from outbound capture (-o)
SERVER_BANNER_PORT = 2525  # server-first protocol on an undeclared port (detection timeout)
SERVER_DECLARED_BANNER_PORT = 5432  # server-first protocol on a declared TCP port
VIP, VIP6, VIP_PORT = "10.96.0.10", "fd00:96::10", 80  # Service addresses that exist nowhere
DECLARED_TCP_PORTS = [SERVER_DECLARED_BANNER_PORT, SERVER_DECLARED_HTTP_PORT]

PREFIX = "pp-"


class SetupError(Exception):
    """The machine cannot build the Pod (no root, no CAP_NET_ADMIN, no iptables nat...)."""


def run(cmd, timeout=10.0, check=True, input=None):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input,
                       stdin=None if input is not None else subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise subprocess.CalledProcessError(r.returncode, cmd, r.stdout, r.stderr)
    return r


def remove_stale_namespaces():
    """Removes namespaces named pp-<pid>-* whose creating process is gone (a run that was
    SIGKILLed could not clean up). Namespaces of live processes are left alone."""
    r = run(["ip", "netns", "list"], check=False)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(PREFIX + r"(\d+)-[a-z0-9]+", name)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            run(["ip", "netns", "del", name], check=False)


def probe():
    """Raises SetupError with the reason when namespaces, veths or iptables nat are unusable."""
    if os.geteuid() != 0:
        raise SetupError("needs root (ip netns, iptables): run as root or with sudo")
    for tool in ("ip", "iptables", "setpriv", "curl"):
        if run(["sh", "-c", f"command -v {tool}"], check=False).returncode != 0:
            raise SetupError(f"'{tool}' is not installed (apt-get install iproute2 iptables "
                             "util-linux curl)")
    name = f"{PREFIX}{os.getpid()}-probe"
    r = run(["ip", "netns", "add", name], check=False)
    if r.returncode != 0:
        raise SetupError(f"'ip netns add' failed (no CAP_SYS_ADMIN/CAP_NET_ADMIN?): "
                         f"{r.stderr.strip()}")
    try:
        r = run(["ip", "netns", "exec", name, "iptables", "-t", "nat", "-S"], check=False)
        if r.returncode != 0:
            raise SetupError(f"iptables nat table unusable in a namespace: {r.stderr.strip()}")
        r = run(["ip", "netns", "exec", name, "ip", "link", "add", "t0", "type", "veth", "peer",
                 "name", "t1"], check=False)
        if r.returncode != 0:
            raise SetupError(f"cannot create veth pairs: {r.stderr.strip()}")
    finally:
        run(["ip", "netns", "del", name], check=False)


def ipv6_available(ns):
    """IPv6 in the namespace and a working ip6tables nat table."""
    if not os.path.exists("/proc/net/if_inet6"):
        return False
    r = run(["ip", "netns", "exec", ns, "ip6tables", "-t", "nat", "-S"], check=False)
    return r.returncode == 0


class NsProcess:
    """A process started inside a namespace; its output lines are collected by a thread.
    Killed by PID, never by name."""

    def __init__(self, name, cmd):
        self.name = name
        self.cmd = cmd
        self.lines = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        threading.Thread(target=self._read, daemon=True, name=f"{name}-output").start()

    def _read(self):
        for raw in self.proc.stdout:
            with self._cond:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc.poll() is None

    def logs(self, start=0):
        """Output lines that parse as JSON objects, from line `start` on."""
        out = []
        with self._cond:
            lines = list(self.lines[start:])
        for line in lines:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                out.append(obj)
        return out

    def wait_for_log(self, pred, timeout=5.0, start=0):
        """Waits (bounded) for a JSON line matching pred; returns it or None."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[start:]:
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(obj, dict) and pred(obj):
                        return obj
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._pending()):
                    return None
                self._cond.wait(min(left, 0.1))

    def _pending(self):
        return self.proc.stdout is not None and not self.proc.stdout.closed

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Signals the process (by PID) and waits; SIGKILL when it does not exit in time."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            except ProcessLookupError:
                pass
        return self.proc.returncode

    def tail(self, n=60, width=400):
        """The last n output lines, each cut at `width` characters."""
        with self._cond:
            lines = self.lines[-n:]
        return "\n".join(line if len(line) <= width else line[:width] + " [...]"
                         for line in lines)


class Namespaces:
    """Network namespaces (named pp-<pid>-<role>) and the processes started in them; close()
    (also at interpreter exit) stops the processes and removes the namespaces. A subclass builds
    its topology in _create()."""

    def __init__(self):
        self.base = f"{PREFIX}{os.getpid()}"
        self.namespaces = []
        self.processes = []
        self._closed = False
        atexit.register(self.close)

    def create(self):
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def _create(self):
        raise NotImplementedError

    def add_namespaces(self, *names):
        for ns in names:
            run(["ip", "netns", "add", ns])
            self.namespaces.append(ns)
            self.ip(ns, "link", "set", "lo", "up")

    def ip(self, ns, *args):
        return run(["ip", "-n", ns, *args])

    def exec(self, ns, *cmd, timeout=10.0, check=True, input=None):
        return run(["ip", "netns", "exec", ns, *[str(c) for c in cmd]], timeout=timeout,
                   check=check, input=input)

    def spawn(self, name, ns, *cmd, uid=None):
        """Starts a long-running process in a namespace, optionally as uid:gid `uid`."""
        prefix = ["ip", "netns", "exec", ns]
        if uid is not None:
            prefix += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        p = NsProcess(name, prefix + [str(c) for c in cmd])
        self.processes.append(p)
        return p

    def close(self):
        if self._closed:
            return
        self._closed = True
        for p in reversed(self.processes):
            try:
                p.stop(signal.SIGTERM, timeout=5)
            except Exception:  # noqa: BLE001 - keep cleaning up
                pass
        for ns in reversed(self.namespaces):
            run(["ip", "netns", "del", ns], check=False)
        self.namespaces.clear()


class Pod(Namespaces):
    """Creates the three namespaces and links; exec() runs commands inside them."""

    def __init__(self):
        super().__init__()
        self.client, self.pod, self.server = (f"{self.base}-client", f"{self.base}-pod",
                                              f"{self.base}-server")
        self.ipv6 = False

    def _create(self):
        self.add_namespaces(self.client, self.pod, self.server)
        self.ipv6 = ipv6_available(self.pod)
        # Both ends are created inside the namespaces, so the link names never exist in the
        # host namespace and concurrent runs cannot collide.
        self.ip(self.pod, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
                "netns", self.client)
        self.ip(self.pod, "link", "add", "eth1", "type", "veth", "peer", "name", "eth0",
                "netns", self.server)
        self._addr(self.client, "eth0", CLIENT_IP, 30, CLIENT_IP6)
        self._addr(self.pod, "eth0", POD_CLIENT_SIDE_IP, 30, POD_CLIENT_SIDE_IP6)
        self._addr(self.pod, "eth1", POD_SERVER_SIDE_IP, 30, POD_SERVER_SIDE_IP6)
        self._addr(self.server, "eth0", SERVER_IP, 30, SERVER_IP6)
        # The client and server reach everything through the pod; the pod's default route points
        # at the server side, so Service VIPs that exist nowhere still have a route (a connect to
        # them is redirected by iptables before any packet leaves).
        self.ip(self.client, "route", "add", "default", "via", POD_CLIENT_SIDE_IP)
        self.ip(self.server, "route", "add", "default", "via", POD_SERVER_SIDE_IP)
        self.ip(self.pod, "route", "add", "default", "via", SERVER_IP)
        if self.ipv6:
            self.ip(self.client, "-6", "route", "add", "default", "via", POD_CLIENT_SIDE_IP6)
            self.ip(self.server, "-6", "route", "add", "default", "via", POD_SERVER_SIDE_IP6)
            self.ip(self.pod, "-6", "route", "add", "default", "via", SERVER_IP6)

    def _addr(self, ns, dev, ip4, prefix4, ip6):
        self.ip(ns, "addr", "add", f"{ip4}/{prefix4}", "dev", dev)
        if self.ipv6:
            # nodad: the address is usable at once (no 1-2 s of duplicate address detection).
            self.ip(ns, "-6", "addr", "add", f"{ip6}/64", "dev", dev, "nodad")
        self.ip(ns, "link", "set", dev, "up")

    def nat_counters(self, family=4):
        """{(chain, rule text): packets} for the pod's nat table. nat rules see only the first
        packet of each connection, so packets == connections."""
        tool = "iptables-save" if family == 4 else "ip6tables-save"
        out = self.exec(self.pod, tool, "-c", "-t", "nat").stdout
        counters = {}
        for line in out.splitlines():
            m = re.match(r"\[(\d+):\d+\] -A (\S+) (.*)$", line)
            if m:
                counters[(m.group(2), m.group(3))] = int(m.group(1))
        return counters
