"""WebSocket towards an HTTP/2 upstream (RFC 8441 extended CONNECT), as between two meshed
sidecars: an HTTP/1.1 Upgrade, or an HTTP/2 client's own extended CONNECT, goes to a `protocol:
http2` (or `auto`, ALPN h2) cluster as `:method CONNECT` + `:protocol websocket`, and the
upstream's 200 opens the tunnel (a 101 with the right Sec-WebSocket-Accept for HTTP/1.1 clients).
The upstream is upstreams/h2_websocket.py."""

import time

import pytest

from harness import bootstrap, cluster, http_listener, route, rss_bytes, wait_until
from harness.h2client import H2Client
from harness.tls import Certs
from test_websocket import read_stream_slowly
from test_websocket_http2 import StreamFrames, open_accepted_websocket, open_websocket, send
from upstreams.h2_websocket import H2WebSocketUpstream
from upstreams.websocket import OP_CLOSE, OP_TEXT, WebSocketClient, accept_key, encode_frame

MIB = 1024 * 1024
REFUSAL = b"upstream does not accept extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL)"


@pytest.fixture
def make_h2_ws_upstream():
    started = []

    def make(**kwargs):
        server = H2WebSocketUpstream(**kwargs).start()
        started.append(server)
        return server
    yield make
    for server in started:
        server.stop()


def ws_config(upstream, protocol="http2", timeout="5s", **cluster_extra):
    routes = [route("/", "backend", timeout, name="ws", upgrade_types=["websocket"])]
    return bootstrap([http_listener("ingress", routes=routes)],
                     [cluster("backend", [upstream], protocol=protocol, **cluster_extra)])


def refusal_body(client):
    """The body of a non-101 answer (Content-Length framed)."""
    body = client.rest
    while len(body) < int(client.headers["content-length"]):
        chunk = client.sock.recv(4096)
        assert chunk, "closed before the body ended"
        body += chunk
    return body


def assert_extended_connect(seen, path):
    """What RFC 8441 4 and 5 say the HTTP/2 request looks like."""
    assert seen[":method"] == "CONNECT"
    assert seen[":protocol"] == "websocket"
    assert seen[":scheme"] == "http"
    assert seen[":path"] == path
    assert seen[":authority"]
    assert "sec-websocket-key" not in seen and "upgrade" not in seen and "connection" not in seen
    assert seen.get("sec-websocket-version") == "13"


def test_http1_websocket_through_an_http2_upstream(make_proxy, make_h2_ws_upstream):
    upstream = make_h2_ws_upstream()
    proxy = make_proxy(ws_config(upstream))
    client = WebSocketClient(proxy.port("ingress"), "/echo")
    # The upstream's 200 is the client's 101, with the accept for the client's own key.
    assert client.status == 101, (client.status, client.headers)
    assert client.headers["upgrade"].lower() == "websocket"
    assert client.headers["connection"].lower() == "upgrade"
    assert client.headers["sec-websocket-accept"] == accept_key(client.key)
    assert client.accepted()
    assert_extended_connect(upstream.requests[-1], "/echo")
    assert upstream.requests[-1][":authority"] == "ws.local"
    for i in range(3):
        client.send(f"hello {i}".encode())
        assert client.recv_frame() == (OP_TEXT, f"hello {i}".encode(), False)
    big = bytes(range(256)) * 1024
    client.send(big, opcode=0x2)
    assert client.recv_frame() == (0x2, big, False)
    client.send(b"\x03\xe8", opcode=OP_CLOSE)
    assert client.recv_frame()[0] == OP_CLOSE
    # The client's FIN is the stream's END_STREAM, which the upstream answers with its own.
    client.sock.shutdown(1)
    client.sock.settimeout(5)
    assert client.sock.recv(100) == b""
    client.close()
    wait_until(lambda: proxy.access_logs(path="/echo"), timeout=5, message="the access log line")
    entry = proxy.access_logs(path="/echo")[-1]
    assert entry["response_code"] == 101
    assert upstream.client_end_streams == 1
    wait_until(lambda: proxy.stats()["http.ingress.downstream_rq_active"] == 0, timeout=5,
               message="the tunnel to end")
    assert proxy.stats()["cluster.backend.upstream_rq_active"] == 0


def test_http2_extended_connect_through_an_http2_upstream(make_proxy, make_h2_ws_upstream):
    upstream = make_h2_ws_upstream()
    proxy = make_proxy(ws_config(upstream))
    with H2Client(proxy.port("ingress")) as c:
        sid = open_accepted_websocket(c, "/echo", [("sec-websocket-protocol", "chat")])
        s = c.streams[sid]
        seen = upstream.requests[-1]
        assert_extended_connect(seen, "/echo")
        assert seen["sec-websocket-protocol"] == "chat"
        frames = StreamFrames(c, sid)
        send(c, sid, encode_frame(OP_TEXT, b"over two h2 hops", mask=True))
        assert frames.read_frame() == (OP_TEXT, b"over two h2 hops", False)
        send(c, sid, b"", end_stream=True)
        assert c.wait(lambda: s.ended or s.reset_code is not None, timeout=5)
        assert s.ended and s.reset_code is None
    assert upstream.client_end_streams == 1


def test_upstream_without_extended_connect_gets_a_clear_local_reply(make_proxy,
                                                                   make_h2_ws_upstream):
    upstream = make_h2_ws_upstream(enable_connect_protocol=False)
    proxy = make_proxy(ws_config(upstream))
    start = time.monotonic()
    client = WebSocketClient(proxy.port("ingress"), "/echo", timeout=5)
    assert client.status == 502
    assert time.monotonic() - start < 3  # answered, not waited out
    assert REFUSAL in refusal_body(client)
    client.close()
    with H2Client(proxy.port("ingress")) as c:
        sid = open_websocket(c, "/echo")
        s = c.wait_stream(sid)
        assert s.status == 502 and REFUSAL in bytes(s.data)
    assert upstream.requests == []  # nothing was sent to it
    assert proxy.stats()["http.ingress.router.upgrade_upstream_unsupported"] == 2
    wait_until(lambda: len(proxy.access_logs(path="/echo")) == 2, timeout=5,
               message="two access log lines")
    for entry in proxy.access_logs(path="/echo"):
        assert entry["response_code"] == 502
        assert "UPE" in entry["response_flags"]
        assert entry["response_code_details"] == "upstream_extended_connect_unsupported"


def test_the_wait_for_the_upstreams_settings_is_bounded_by_the_route_timeout(
        make_proxy, make_h2_ws_upstream):
    # An upstream that never says whether it takes extended CONNECT: the request waits for its
    # SETTINGS no longer than the route timeout, and no CONNECT is sent meanwhile.
    upstream = make_h2_ws_upstream(withhold_settings=True)
    proxy = make_proxy(ws_config(upstream, timeout="1s"))
    start = time.monotonic()
    client = WebSocketClient(proxy.port("ingress"), "/echo", timeout=10)
    waited = time.monotonic() - start
    assert client.status == 504, (client.status, client.headers)
    assert 0.9 < waited < 5, waited
    client.close()
    # What reached it: the connection preface and control frames, never a HEADERS frame.
    received = bytes(upstream.received)
    assert received.startswith(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), received[:40]
    frame_types, at = [], 24
    while at + 9 <= len(received):
        length = int.from_bytes(received[at:at + 3], "big")
        frame_types.append(received[at + 3])
        at += 9 + length
    assert frame_types and frame_types[0] == 0x4, frame_types  # SETTINGS first
    assert 0x1 not in frame_types, frame_types  # no HEADERS: the CONNECT never went
    [entry] = wait_until(lambda: proxy.access_logs(path="/echo"), timeout=5,
                         message="the access log line")
    assert entry["response_code"] == 504 and "UT" in entry["response_flags"]


def test_refused_upgrade_is_an_ordinary_response(make_proxy, make_h2_ws_upstream):
    upstream = make_h2_ws_upstream()
    proxy = make_proxy(ws_config(upstream))
    client = WebSocketClient(proxy.port("ingress"), "/refuse", timeout=5)
    assert client.status == 403
    assert "upgrade" not in client.headers and "sec-websocket-accept" not in client.headers
    assert refusal_body(client) == b"no websocket here\n"
    client.close()
    with H2Client(proxy.port("ingress")) as c:
        sid = open_websocket(c, "/refuse")
        s = c.wait_stream(sid)
        assert s.status == 403 and bytes(s.data) == b"no websocket here\n"


def test_slow_reader_holds_the_http2_upstream_back(make_proxy, make_h2_ws_upstream):
    total = 16 * MIB
    upstream = make_h2_ws_upstream()
    proxy = make_proxy(ws_config(upstream))
    baseline = rss_bytes(proxy.pid)
    client = WebSocketClient(proxy.port("ingress"), f"/stream/{total}", rcvbuf=64 * 1024)
    assert client.accepted()
    # Not reading: the proxy's write buffer to the client fills, it stops returning the HTTP/2
    # window, and the upstream must stop at the window instead of being buffered by us.
    time.sleep(2)
    stalled_at = upstream.streamed
    assert stalled_at < total - 4 * MIB, stalled_at
    received, peak = read_stream_slowly(client, proxy.pid, rss_bytes(proxy.pid))
    assert received == total
    growth = peak - baseline
    print(f"stalled after {stalled_at / MIB:.1f} MiB, peak RSS +{growth / MIB:.1f} MiB")
    assert growth < 8 * MIB, f"RSS grew by {growth / MIB:.1f} MiB for a {total // MIB} MiB tunnel"
    client.close()


def test_auto_cluster_whose_alpn_picks_h2_carries_the_websocket(make_proxy, make_h2_ws_upstream,
                                                                 tmp_path):
    certs = Certs(tmp_path / "certs")
    certs.make("backend", dns=["backend.local"])
    upstream = make_h2_ws_upstream(tls=(certs.file("backend", "cert.pem"),
                                        certs.file("backend", "key.pem")))
    tls = {"sni": "backend.local", "ca_file": certs.file("backend", "ca.pem")}
    proxy = make_proxy(ws_config(upstream.address, protocol="auto", tls=tls), concurrency=1)
    client = WebSocketClient(proxy.port("ingress"), "/echo")
    assert client.accepted(), (client.status, client.headers)
    assert upstream.negotiated == ["h2"]
    assert_extended_connect(upstream.requests[-1], "/echo")
    client.send(b"via ALPN h2")
    assert client.recv_frame() == (OP_TEXT, b"via ALPN h2", False)
    client.close()
    # An HTTP/2 client's extended CONNECT: the router gave it an RFC 6455 key (the cluster may
    # speak HTTP/1.1), which the HTTP/2 request must not carry.
    with H2Client(proxy.port("ingress")) as c:
        sid = open_accepted_websocket(c, "/echo")
        assert_extended_connect(upstream.requests[-1], "/echo")
        frames = StreamFrames(c, sid)
        send(c, sid, encode_frame(OP_TEXT, b"again", mask=True))
        assert frames.read_frame() == (OP_TEXT, b"again", False)


@pytest.mark.parametrize("protocol", ["http2", "auto"])
def test_concurrent_websockets_share_one_upstream_connection(make_proxy, make_h2_ws_upstream,
                                                             tmp_path, protocol):
    # Towards HTTP/2 a tunnel is one stream among others: a second WebSocket, opened while the
    # first is up, goes on the same connection. On an `auto` cluster too: the pool, not the
    # router, knows that this host's connections speak h2.
    if protocol == "auto":
        certs = Certs(tmp_path / "certs")
        certs.make("backend", dns=["backend.local"])
        upstream = make_h2_ws_upstream(tls=(certs.file("backend", "cert.pem"),
                                            certs.file("backend", "key.pem")))
        tls = {"sni": "backend.local", "ca_file": certs.file("backend", "ca.pem")}
        config = ws_config(upstream.address, protocol="auto", tls=tls)
    else:
        upstream = make_h2_ws_upstream()
        config = ws_config(upstream)
    # One worker: both WebSockets meet the same pool.
    proxy = make_proxy(config, concurrency=1)
    first = WebSocketClient(proxy.port("ingress"), "/echo")
    assert first.accepted(), (first.status, first.headers)
    second = WebSocketClient(proxy.port("ingress"), "/echo")
    assert second.accepted(), (second.status, second.headers)
    for i, client in enumerate([first, second, first]):
        client.send(f"message {i}".encode())
        assert client.recv_frame() == (OP_TEXT, f"message {i}".encode(), False)
    assert len(upstream.requests) == 2
    for seen in upstream.requests:
        assert_extended_connect(seen, "/echo")
    assert upstream.connections_accepted == 1
    stats = proxy.stats()
    assert stats["cluster.backend.upstream_cx_total"] == 1
    assert stats["cluster.backend.upstream_rq_active"] == 2
    if protocol == "auto":
        assert upstream.negotiated == ["h2"]
    first.close()
    second.close()
