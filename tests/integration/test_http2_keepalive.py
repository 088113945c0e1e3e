"""HTTP/2 connection keepalive (`http2.connection_keepalive`, on listeners and clusters): a PING
after `interval` without a byte from the peer, and the connection closed when nothing answers it
within `timeout`. A peer that answers keeps its connection; one that went silent (a vanished
host, a partition: no FIN, no RST) loses it, and its streams fail at once instead of waiting for
their route timeout."""

import time

import h2.events

from harness import bootstrap, cluster, http_get, http_listener, wait_until
from harness.h2client import H2Client
from upstreams.base import ThreadedServer
from upstreams.h2server import h2_server_connection

KEEPALIVE = {"connection_keepalive": {"interval": "200ms", "timeout": "300ms"}}
ROUTE_TIMEOUT = "30s"  # far beyond the keepalive: a 504 would mean it did nothing


class KeepaliveH2Upstream(ThreadedServer):
    """h2c server that counts the PINGs it receives. It answers GETs with their path and PINGs
    with their ACK, unless `silent_after_request`: then, once a request arrived, it sends
    nothing more on that connection (it keeps reading and counting), as a host that vanished."""

    def __init__(self, silent_after_request=False, **kwargs):
        super().__init__(**kwargs)
        self.silent_after_request = silent_after_request
        self.pings = 0
        self.requests = 0

    def handle_connection(self, sock, conn_id):
        conn = h2_server_connection(sock)
        silent = False
        while data := self.recv_some(sock):
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.PingReceived):
                    with self._lock:
                        self.pings += 1
                elif isinstance(event, h2.events.RequestReceived):
                    with self._lock:
                        self.requests += 1
                    if self.silent_after_request:
                        silent = True
                        continue
                    body = dict(event.headers)[":path"].encode()
                    conn.send_headers(event.stream_id, [(":status", "200"),
                                                        ("content-length", str(len(body)))])
                    conn.send_data(event.stream_id, body, end_stream=True)
            out = conn.data_to_send()  # PING ACKs and responses
            if out and not silent:
                self.send_all(sock, out)


def proxy_to(make_proxy, upstream):
    # One worker: one upstream pool, so "the same connection" and "a new one" are this pool's.
    return make_proxy(bootstrap([http_listener("ingress", "h2", timeout=ROUTE_TIMEOUT)],
                                [cluster("h2", [upstream], protocol="http2", http2=KEEPALIVE)],
                                concurrency=1))


def test_upstream_that_goes_silent_fails_its_streams_with_503_not_at_the_route_timeout(
        make_proxy):
    upstream = KeepaliveH2Upstream(silent_after_request=True).start()
    try:
        proxy = proxy_to(make_proxy, upstream)
        r = http_get(proxy.port("ingress"), "/hangs", timeout=20)
        assert r.status == 503
        assert b"upstream_keepalive_timeout" in r.body
        assert upstream.requests == 1
        assert upstream.pings >= 1  # the PING that went unanswered
        assert proxy.metric("podproxy_upstream_http2_errors_total",
                      'cluster="h2",reason="keepalive_timeout"') == 1
        # The dead connection is gone: the next request gets a new one.
        http_get(proxy.port("ingress"), "/again", timeout=20)
        assert upstream.connections_accepted == 2
    finally:
        upstream.stop()


def test_upstream_that_answers_pings_keeps_its_idle_connection(make_proxy):
    upstream = KeepaliveH2Upstream().start()
    try:
        proxy = proxy_to(make_proxy, upstream)
        port = proxy.port("ingress")
        assert http_get(port, "/first").body == b"/first"
        # Idle for several intervals: PINGs go out and come back answered.
        deadline = time.monotonic() + 10
        while upstream.pings < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert upstream.pings >= 3
        assert http_get(port, "/second").body == b"/second"
        assert upstream.connections_accepted == 1
        assert proxy.metric("podproxy_upstream_http2_errors_total",
                      'cluster="h2",reason="keepalive_timeout"') == 0
    finally:
        upstream.stop()


def test_client_that_goes_silent_loses_its_connection_and_one_that_answers_keeps_it(
        make_proxy, http_upstream):
    listener = http_listener("ingress", "backend", options={"http2": KEEPALIVE},
                             timeout=ROUTE_TIMEOUT)
    proxy = make_proxy(bootstrap([listener], [cluster("backend", [http_upstream])]))
    port = proxy.port("ingress")
    with H2Client(port) as silent, H2Client(port) as live:
        silent.request("/delay/10000")  # in flight when the client goes silent
        deadline = time.monotonic() + 10
        while not silent.closed and time.monotonic() < deadline:
            silent.read_some(0.05, answer=False)  # reads, never answers
            live.read_some(0.05)  # answers every PING
        assert silent.closed
        assert silent.pings >= 1
        assert not live.closed
        assert live.pings >= 1
        sid = live.request("/still-here")
        assert live.wait_stream(sid, timeout=10).status == 200
    assert proxy.metric("podproxy_downstream_http2_errors_total",
                  'listener="ingress",reason="keepalive_timeout"') == 1
    # The request in flight ended with the connection, as a downstream connection termination.
    [line] = wait_until(lambda: proxy.access_logs(path="/delay/10000"), timeout=5)
    assert "DC" in line["response_flags"]
