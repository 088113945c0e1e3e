"""The admin API's acting endpoints answer only loopback peers, even when the admin listener is
bound beyond loopback. Two namespaces joined by a veth:

    proxy ns                                        peer ns
    10.202.1.1/30     <-- veth -->                  10.202.1.2/30
    fd00:202:1::1/64                                fd00:202:1::2/64
    podproxy, admin on 0.0.0.0:15000 (or [::]:15000)

From the peer, reading (GET /stats, /ready, /logging) answers 200, while POST /quitquitquit,
/drain_listeners and /logging?level=debug answer 403 "forbidden: loopback only" and change
nothing: the process keeps running, stays ready and keeps its log level. The proxy's own veth
address is refused too (the check is on the peer address, not on the namespace). From
127.0.0.1 (::1) inside the proxy's namespace the same requests act: the level changes, the
listeners drain (/ready turns 503) and /quitquitquit ends the process with status 0.
"""

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

import netns
from podtest import url
from sidecar import podproxy_binary

PROXY_IP, PEER_IP = "10.202.1.1", "10.202.1.2"
PROXY_IP6, PEER_IP6 = "fd00:202:1::1", "fd00:202:1::2"
ADMIN_PORT = 15000
FORBIDDEN = "forbidden: loopback only\n"
ACTIONS = ["/quitquitquit", "/drain_listeners", "/logging?level=debug"]


class AdminPair(netns.Namespaces):
    """The proxy's namespace and a peer namespace, joined by one veth pair."""

    def __init__(self):
        super().__init__()
        self.proxy_ns, self.peer_ns = f"{self.base}-admproxy", f"{self.base}-admpeer"
        self.ipv6 = False

    def _create(self):
        self.add_namespaces(self.proxy_ns, self.peer_ns)
        self.ipv6 = netns.ipv6_available(self.proxy_ns)
        self.ip(self.proxy_ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
                "netns", self.peer_ns)
        for ns, ip4, ip6 in ((self.proxy_ns, PROXY_IP, PROXY_IP6),
                             (self.peer_ns, PEER_IP, PEER_IP6)):
            self.ip(ns, "addr", "add", f"{ip4}/30", "dev", "eth0")
            if self.ipv6:
                self.ip(ns, "-6", "addr", "add", f"{ip6}/64", "dev", "eth0", "nodad")
            self.ip(ns, "link", "set", "eth0", "up")


@pytest.fixture(scope="module")
def pair(privileges):
    netns.remove_stale_namespaces()
    p = AdminPair()
    workdir = Path(tempfile.mkdtemp(prefix="podproxy-admin-test-"))
    try:
        p.create()
        p.workdir = workdir
        yield p
    finally:
        p.close()
        shutil.rmtree(workdir, ignore_errors=True)


def request(pair, ns, host, path, method="GET", timeout=5):
    """curl inside a namespace -> (HTTP status or 0, body text, curl's error)."""
    r = pair.exec(ns, "curl", "-sS", "--max-time", str(timeout), "-X", method, "-o", "-",
                  "-w", "\n%{http_code}", url(host, ADMIN_PORT, path), check=False,
                  timeout=timeout + 5)
    body, _, code = r.stdout.rpartition("\n")
    return (int(code) if code.strip().isdigit() else 0), body, r.stderr.strip()


# (admin bind host, the proxy's address as the peer dials it, loopback address)
FAMILIES = {
    "ipv4": ("0.0.0.0", PROXY_IP, "127.0.0.1"),
    "ipv6": ("::", PROXY_IP6, "::1"),
}


@pytest.fixture(params=sorted(FAMILIES))
def proxy(request, pair):
    """podproxy in the proxy namespace with its admin API bound to the wildcard address."""
    family = request.param
    if family == "ipv6" and not pair.ipv6:
        pytest.skip("no IPv6 in the namespace: the IPv6 admin check is skipped")
    bind, proxy_ip, loopback = FAMILIES[family]
    config = {
        "admin": {"address": f"[{bind}]:{ADMIN_PORT}" if ":" in bind else f"{bind}:{ADMIN_PORT}"},
        "listeners": [{
            "name": "ingress",
            "address": "127.0.0.1:10000",
            "http": {"route_config": {"virtual_hosts": [{
                "name": "local", "domains": ["*"],
                "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "app"}}]}]}},
        }],
        "clusters": [{"name": "app", "endpoints": ["127.0.0.1:8080"]}],
    }
    path = pair.workdir / f"admin-{family}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    proc = pair.spawn(f"podproxy-{family}", pair.proxy_ns, podproxy_binary(), "-c", path,
                      "--concurrency", "1", "--log-level", "info")
    try:
        if not proc.wait_for_log(lambda e: e.get("msg") == "ready", timeout=10):
            raise AssertionError(f"podproxy not ready within 10 s (running: {proc.running()})"
                                 f"\n{proc.tail()}")
        proc.proxy_ip, proc.loopback = proxy_ip, loopback
        yield proc
    finally:
        proc.stop()
        print(f"\n--- podproxy ({family}) output ---\n{proc.tail(60)}")


def test_acting_endpoints_answer_loopback_only(pair, proxy):
    peer, own = pair.peer_ns, pair.proxy_ns

    # Reading works from the peer: the admin port is reachable beyond loopback.
    status, body, err = request(pair, peer, proxy.proxy_ip, "/stats")
    assert status == 200, f"GET /stats from the peer: {status} {body!r} {err}"
    assert "listener.ingress.downstream_cx_active: 0" in body.splitlines(), body[:400]
    assert request(pair, peer, proxy.proxy_ip, "/ready")[:2] == (200, "LIVE\n")
    assert request(pair, peer, proxy.proxy_ip, "/logging")[:2] == (200, "level: info\n")

    # Acting is refused from the peer's address, and from the proxy's own veth address.
    mark = len(proxy.lines)
    for ns in (peer, own):
        for path in ACTIONS:
            status, body, err = request(pair, ns, proxy.proxy_ip, path, method="POST")
            assert (status, body) == (403, FORBIDDEN), (
                f"POST {path} from {ns} to {proxy.proxy_ip}: {status} {body!r} {err}")

    # Nothing changed: still running, ready, at level info, no level change logged.
    time.sleep(0.3)  # a wrongly accepted /quitquitquit would have started the drain by now
    assert proxy.running(), f"podproxy exited after refused POSTs:\n{proxy.tail()}"
    assert request(pair, peer, proxy.proxy_ip, "/ready")[:2] == (200, "LIVE\n")
    assert request(pair, peer, proxy.proxy_ip, "/logging")[:2] == (200, "level: info\n")
    assert not [e for e in proxy.logs(mark) if e.get("msg") == "log level changed"]

    # From loopback in the proxy's namespace the same requests act.
    loop = proxy.loopback
    assert request(pair, own, loop, "/logging?level=debug", method="POST")[:2] == (
        200, "level: debug\n")
    assert request(pair, peer, proxy.proxy_ip, "/logging")[:2] == (200, "level: debug\n")
    assert proxy.wait_for_log(lambda e: e.get("msg") == "log level changed", timeout=5,
                              start=mark), f"no 'log level changed' line:\n{proxy.tail()}"
    assert request(pair, own, loop, "/drain_listeners", method="POST")[:2] == (200, "OK\n")
    status, body, _ = request(pair, peer, proxy.proxy_ip, "/ready")
    assert (status, body) == (503, "NOT READY\n"), "/ready after a loopback /drain_listeners"
    assert proxy.running(), "/drain_listeners must keep the process running"
    assert request(pair, own, loop, "/quitquitquit", method="POST")[:2] == (200, "OK\n")
    try:
        code = proxy.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"podproxy still runs 20 s after a loopback /quitquitquit:\n"
                             f"{proxy.tail()}") from None
    assert code == 0, f"exit status {code} after /quitquitquit:\n{proxy.tail()}"
