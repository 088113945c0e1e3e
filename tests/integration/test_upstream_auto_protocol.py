"""`protocol: auto` on a TLS cluster: the proxy offers h2 and http/1.1 by ALPN and speaks what
the upstream chose (the upstream echoes the protocol it spoke). Requests that arrive while the
first connection is still handshaking all succeed on the protocol the handshake chose, and the
worker remembers the host's protocol for the connections that follow."""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness import bootstrap, cluster, http_get, http_listener
from harness.tls import Certs
from upstreams.tls_alpn import TlsAlpnUpstream

CONCURRENT = 6


@pytest.fixture
def certs(tmp_path):
    c = Certs(tmp_path / "certs")
    c.make("backend", dns=["backend.local"])
    return c


def start_proxy(make_proxy, certs, upstream, **cluster_extra):
    # No alpn: protocol auto offers h2 and http/1.1 by default.
    tls = {"sni": "backend.local", "ca_file": certs.file("backend", "ca.pem")}
    config = bootstrap([http_listener("ingress", "backend", timeout="5s")],
                       [cluster("backend", [upstream.address], protocol="auto", tls=tls,
                                **cluster_extra)])
    return make_proxy(config, concurrency=1)  # one worker: one pool for the host


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    time.sleep(0.3)  # and nothing more arrives


def get_all(proxy, paths):
    with ThreadPoolExecutor(len(paths)) as pool:
        return list(pool.map(lambda p: http_get(proxy.port("ingress"), p), paths))


def test_auto_speaks_h2_when_alpn_chooses_it(make_proxy, certs):
    upstream = TlsAlpnUpstream(certs.file("backend", "cert.pem"), certs.file("backend", "key.pem"),
                               alpn=["h2", "http/1.1"], handshake_delay=0.5).start()
    try:
        proxy = start_proxy(make_proxy, certs, upstream)
        # All of these queue while the first connection is handshaking.
        responses = get_all(proxy, [f"/queued/{i}" for i in range(CONCURRENT)])
        for i, r in enumerate(responses):
            assert r.status == 200, r.body
            body = json.loads(r.body)
            assert body["protocol"] == "h2"
            assert body["path"] == f"/queued/{i}"
        # ... multiplexed on that one connection.
        assert upstream.negotiated == ["h2"]
        assert len({json.loads(r.body)["connection"] for r in responses}) == 1

        r = http_get(proxy.port("ingress"), "/later")
        assert r.status == 200
        assert json.loads(r.body)["protocol"] == "h2"
        assert upstream.connections_accepted == 1
    finally:
        upstream.stop()


def test_keepalive_runs_on_an_h2_connection_the_http1_side_opened(make_proxy, certs):
    # A host remembered as HTTP/1.1 whose next connection's ALPN says h2: the HTTP/1.1 side
    # opened it and hands it to the HTTP/2 side, which keeps it with the cluster's keepalive.
    upstream = TlsAlpnUpstream(certs.file("backend", "cert.pem"), certs.file("backend", "key.pem"),
                               alpn=["http/1.1"]).start()
    try:
        proxy = start_proxy(make_proxy, certs, upstream, http2={
            "connection_keepalive": {"interval": "200ms", "timeout": "2s"}})
        port = proxy.port("ingress")
        # Served over HTTP/1.1 on a connection the upstream then closes.
        assert json.loads(http_get(port, "/first/close").body)["protocol"] == "http/1.1"
        upstream.set_alpn(["h2", "http/1.1"])
        assert json.loads(http_get(port, "/second").body)["protocol"] == "h2"
        assert upstream.negotiated == ["http/1.1", "h2"]
        deadline = time.monotonic() + 10
        while upstream.pings < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert upstream.pings >= 2
    finally:
        upstream.stop()


def test_auto_speaks_http1_to_a_server_without_h2(make_proxy, certs):
    upstream = TlsAlpnUpstream(certs.file("backend", "cert.pem"), certs.file("backend", "key.pem"),
                               alpn=["http/1.1"], handshake_delay=0.5).start()
    try:
        proxy = start_proxy(make_proxy, certs, upstream)
        responses = get_all(proxy, [f"/queued/{i}" for i in range(CONCURRENT)])
        for i, r in enumerate(responses):
            assert r.status == 200, r.body
            body = json.loads(r.body)
            assert body["protocol"] == "http/1.1"
            assert body["path"] == f"/queued/{i}"
        # The first connection's handshake was kept: it served the queue while the connections
        # opened for the others were still handshaking.
        assert upstream.negotiated[0] == "http/1.1"
        assert {json.loads(r.body)["connection"] for r in responses} == {1}
        wait_until(lambda: len(upstream.negotiated) == upstream.connections_accepted)
        assert set(upstream.negotiated) == {"http/1.1"}
        accepted = upstream.connections_accepted

        # Remembered: later requests reuse the idle HTTP/1.1 connections.
        for i in range(3):
            r = http_get(proxy.port("ingress"), f"/later/{i}")
            assert r.status == 200
            assert json.loads(r.body)["protocol"] == "http/1.1"
        assert upstream.connections_accepted == accepted
    finally:
        upstream.stop()


def test_auto_handshake_outlasting_connect_timeout_fails_the_queued_requests(make_proxy, certs):
    # connect_timeout covers the TLS handshake too: a host that accepts but does not finish it
    # in time fails every request queued behind that connection instead of holding them.
    upstream = TlsAlpnUpstream(certs.file("backend", "cert.pem"), certs.file("backend", "key.pem"),
                               handshake_delay=2.0).start()
    try:
        tls = {"sni": "backend.local", "ca_file": certs.file("backend", "ca.pem")}
        config = bootstrap([http_listener("ingress", "backend", timeout="5s")],
                           [cluster("backend", [upstream.address], protocol="auto", tls=tls,
                                    connect_timeout="300ms")])
        proxy = make_proxy(config, concurrency=1)
        started = time.monotonic()
        responses = get_all(proxy, [f"/slow/{i}" for i in range(3)])
        elapsed = time.monotonic() - started
        for r in responses:
            assert r.status == 503, r.body
            assert b"tls_handshake_timeout" in r.body, r.body
        assert elapsed < 1.8  # well before the upstream would have answered the handshake
        assert upstream.negotiated == []
    finally:
        upstream.stop()


def test_auto_without_tls_is_http1(make_proxy, http_upstream):
    proxy = make_proxy(bootstrap([http_listener("ingress", "backend")],
                                 [cluster("backend", [http_upstream], protocol="auto")]))
    r = http_get(proxy.port("ingress"), "/plain")
    assert r.status == 200
    assert http_upstream.last_request.version == "HTTP/1.1"
