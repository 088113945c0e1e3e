"""CONNECT termination: a route matching CONNECT (`match: {connect_matcher: {}}`) with
`upgrade_types: [CONNECT]` answers 200 once a plain TCP connection to a host of its cluster is up,
then tunnels raw bytes both ways (half-close, backpressure, idle timeout), for HTTP/1.1 (curl's
proxytunnel, raw sockets) and HTTP/2 (python3-h2: `:method CONNECT` with `:authority` only)."""

import os
import socket
import subprocess
import time

from harness import (RawConnection, bootstrap, cluster, http_listener, read_to_clean_eof, route,
                     rss_bytes,
                     unused_port, wait_until)
from harness.backpressure import echo_with_a_stalled_reader
from harness.h2client import H2Client, H2Stream
from upstreams.websocket import WebSocketUpstream, read_head

NO_ERROR = 0x0
MIB = 1024 * 1024


def connect_route(cluster_name="tcp", name="connect", **action):
    return {"name": name, "match": {"connect_matcher": {}},
            "route": {"cluster": cluster_name, "upgrade_types": ["CONNECT"], **action}}


def connect_config(tcp_endpoint, http_upstream=None, routes=None, **action):
    clusters = [cluster("tcp", [tcp_endpoint])]
    if routes is None:
        routes = [connect_route(**action)]
        if http_upstream is not None:
            routes.append(route("/", "web", "5s", name="web"))
    if http_upstream is not None:
        clusters.append(cluster("web", [http_upstream]))
    return bootstrap([http_listener("ingress", routes=routes)], clusters)


def open_tunnel(port, authority="upstream.test:443", extra=b""):
    """Sends an HTTP/1.1 CONNECT; returns (connection, status line + fields, bytes after)."""
    conn = RawConnection(port, timeout=5)
    conn.send(b"CONNECT " + authority.encode() + b" HTTP/1.1\r\nHost: " + authority.encode()
              + b"\r\n\r\n" + extra)
    head, rest = read_head(lambda: conn.sock.recv(65536))
    return conn, head, rest


def read_exactly(sock, n, buf=b"", timeout=5):
    sock.settimeout(timeout)
    while len(buf) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf


def h2_connect(client, authority="upstream.test:443"):
    """Opens an HTTP/2 CONNECT stream (RFC 9113 8.5: :method and :authority only)."""
    # python3-h2 4.1 insists on :path for every request; RFC 9113 8.5 forbids it here.
    client.conn.config.validate_outbound_headers = False
    sid = client.conn.get_next_available_stream_id()
    client.conn.send_headers(sid, [(":method", "CONNECT"), (":authority", authority)])
    client.flush()
    client.streams[sid] = H2Stream(sid)
    return sid


def cluster_cx(proxy, name="tcp"):
    """The cluster's upstream connection counters (admin /stats), which tunnels count in."""
    stats = proxy.stats()
    return {k: stats[f"cluster.{name}.upstream_cx_{k}"]
            for k in ("total", "active", "destroy_local", "destroy_remote", "connect_fail")}


def access_log(proxy, **fields):
    return [e for e in proxy.find_logs(method="CONNECT", **fields) if "msg" not in e]


def test_curl_proxytunnel_reaches_the_cluster(make_proxy, http_upstream):
    # curl tunnels an HTTP request through our CONNECT: the bytes go to the cluster's host,
    # whatever the CONNECT named (termination, not forward proxying).
    proxy = make_proxy(connect_config(http_upstream))
    out = subprocess.run(["curl", "-sS", "-v", "-p", "-x", f"http://127.0.0.1:{proxy.port('ingress')}",
                          "--max-time", "10", "http://anything.test:8080/echo"],
                         capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    assert "HTTP/1.1 200 Connection Established" in out.stderr
    assert '"method": "GET"' in out.stdout or '"method":"GET"' in out.stdout, out.stdout
    [line] = wait_until(lambda: access_log(proxy), timeout=5)
    assert line["response_code"] == 200 and line["authority"] == "anything.test:8080"
    assert line["upstream_cluster"] == "tcp" and line["route_name"] == "connect"
    assert line["bytes_received"] > 0 and line["bytes_sent"] > 0


def test_http1_tunnel_carries_bytes_and_the_client_half_close(make_proxy, tcp_upstream):
    proxy = make_proxy(connect_config(tcp_upstream))
    conn, head, rest = open_tunnel(proxy.port("ingress"))
    assert head.startswith("HTTP/1.1 200 "), head
    assert "content-length" not in head.lower() and "transfer-encoding" not in head.lower()
    # The tunnel's connection is the cluster's, as a pooled one would be.
    assert cluster_cx(proxy) == {"total": 1, "active": 1, "destroy_local": 0,
                                 "destroy_remote": 0, "connect_fail": 0}
    payload = bytes(range(256)) * 1024  # 256 KiB
    conn.send(payload)
    assert read_exactly(conn.sock, len(payload), rest) == payload
    # Our FIN reaches the echo upstream, which finishes and sends its own: a clean EOF.
    conn.send(b"last")
    conn.shutdown_write()
    assert read_to_clean_eof(conn.sock) == b"last"
    assert wait_until(lambda: tcp_upstream.half_closes == 1, timeout=5)
    assert tcp_upstream.received() == payload + b"last"
    conn.sock.close()
    [line] = wait_until(lambda: access_log(proxy), timeout=5)
    assert line["response_code"] == 200 and line["response_flags"] == "-"
    assert line["bytes_received"] == len(payload) + 4
    assert line["bytes_sent"] == len(payload) + 4
    # Both ends finished, then we closed it.
    assert wait_until(lambda: cluster_cx(proxy)["active"] == 0, timeout=5)
    assert cluster_cx(proxy) == {"total": 1, "active": 0, "destroy_local": 1,
                                 "destroy_remote": 0, "connect_fail": 0}


def test_bytes_sent_with_the_connect_are_not_lost(make_proxy, tcp_upstream):
    proxy = make_proxy(connect_config(tcp_upstream))
    conn, head, rest = open_tunnel(proxy.port("ingress"), extra=b"early bytes")
    assert head.startswith("HTTP/1.1 200 ")
    assert read_exactly(conn.sock, 11, rest) == b"early bytes"
    conn.sock.close()


def test_upstream_half_close_keeps_the_client_direction_open(make_proxy):
    # The WebSocket upstream, spoken to through the tunnel: it says "bye", shuts down its write
    # side and then reads the client's last bytes until the client's FIN.
    ws = WebSocketUpstream().start()
    try:
        proxy = make_proxy(connect_config(ws))
        conn, head, rest = open_tunnel(proxy.port("ingress"))
        assert head.startswith("HTTP/1.1 200 ")
        conn.send(b"GET /bye-then-read HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        ws_head, ws_rest = read_head(lambda: conn.sock.recv(65536), rest)
        assert ws_head.startswith("HTTP/1.1 101 ")
        assert ws_rest + read_to_clean_eof(conn.sock) == b"bye"
        time.sleep(0.2)
        conn.send(b"last words")
        conn.shutdown_write()
        assert ws.after_bye.get(timeout=5) == (b"last words", True)
        conn.sock.close()
    finally:
        ws.stop()


def test_refused_upstream_is_a_503_with_the_reason(make_proxy):
    proxy = make_proxy(connect_config(f"127.0.0.1:{unused_port()}"))
    conn, head, rest = open_tunnel(proxy.port("ingress"))
    assert head.startswith("HTTP/1.1 503 "), head
    assert "connection: close" in head.lower()
    body = rest + conn.read_until_close(5)
    assert b"upstream connect error" in body and b"refused" in body, body
    [line] = wait_until(lambda: access_log(proxy), timeout=5)
    assert line["response_code"] == 503 and line["response_flags"] == "UF"
    assert cluster_cx(proxy) == {"total": 1, "active": 0, "destroy_local": 0,
                                 "destroy_remote": 0, "connect_fail": 1}


def test_tunnels_count_against_the_clusters_max_connections(make_proxy, tcp_upstream):
    config = connect_config(tcp_upstream)
    config["clusters"][0]["circuit_breakers"] = {"max_connections": 1}
    proxy = make_proxy(config)
    first, head, _ = open_tunnel(proxy.port("ingress"))
    assert head.startswith("HTTP/1.1 200 "), head
    # The first tunnel holds the cluster's only connection: the second is refused, not queued.
    second, head, rest = open_tunnel(proxy.port("ingress"))
    assert head.startswith("HTTP/1.1 503 "), head
    assert b"upstream overflow" in rest + second.read_until_close(5)
    # Once the first tunnel is gone, its slot is free again.
    first.sock.close()
    assert wait_until(lambda: open_tunnel(proxy.port("ingress"))[1].startswith("HTTP/1.1 200 "),
                      timeout=5)
    refused = wait_until(lambda: access_log(proxy, response_code=503), timeout=5)
    assert refused and {line["response_flags"] for line in refused} == {"UO"}


def test_slow_reader_holds_the_writer_back(make_proxy, tcp_upstream):
    # The echo upstream sends back what the client writes, and the client reads none of it:
    # the proxy must stop reading the upstream, the upstream then stops reading, and the
    # client's writes stall, with the proxy holding little of the difference.
    proxy = make_proxy(connect_config(tcp_upstream, idle_timeout="60s"), concurrency=1)
    conn, head, rest = open_tunnel(proxy.port("ingress"))
    assert head.startswith("HTTP/1.1 200 ") and rest == b""
    baseline = rss_bytes(proxy.pid)
    total = 64 * MIB
    payload = os.urandom(total)
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    stalled_at, echoed, peak = echo_with_a_stalled_reader(conn.sock, proxy.pid, payload)
    conn.sock.close()
    assert stalled_at < total - 8 * MIB, f"{stalled_at} of {total} bytes accepted, nobody reading"
    assert echoed == payload
    growth = peak - baseline
    assert growth < 16 * MIB, f"proxy RSS grew by {growth / MIB:.1f} MiB"


def test_connect_matching_no_connect_route_is_a_404(make_proxy, tcp_upstream, http_upstream):
    # Prefix routes never match a CONNECT (it has no path).
    config = connect_config(tcp_upstream, http_upstream, routes=[route("/", "web", "5s")])
    proxy = make_proxy(config)
    conn, head, _ = open_tunnel(proxy.port("ingress"))
    assert head.startswith("HTTP/1.1 404 "), head
    conn.sock.close()
    assert tcp_upstream.connections_accepted == 0


def test_connect_route_without_the_upgrade_type_is_a_403(make_proxy, tcp_upstream):
    routes = [{"name": "c", "match": {"connect_matcher": {}}, "route": {"cluster": "tcp"}}]
    proxy = make_proxy(connect_config(tcp_upstream, routes=routes))
    conn, head, _ = open_tunnel(proxy.port("ingress"))
    assert head.startswith("HTTP/1.1 403 "), head
    conn.sock.close()
    assert tcp_upstream.connections_accepted == 0
    assert proxy.stats()["http.ingress.router.upgrade_rejected"] == 1


def test_ordinary_requests_do_not_match_the_connect_route(make_proxy, tcp_upstream, http_upstream):
    proxy = make_proxy(connect_config(tcp_upstream, http_upstream))
    conn = RawConnection(proxy.port("ingress"))
    conn.send(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
    assert conn.read_response().status == 200
    assert tcp_upstream.connections_accepted == 0


def test_idle_timeout_ends_the_tunnel(make_proxy, tcp_upstream):
    proxy = make_proxy(connect_config(tcp_upstream, idle_timeout="500ms"))
    conn, head, rest = open_tunnel(proxy.port("ingress"))
    assert head.startswith("HTTP/1.1 200 ")
    start = time.monotonic()
    assert read_to_clean_eof(conn.sock, timeout=5) == rest
    assert 0.4 < time.monotonic() - start < 3
    conn.sock.close()


def test_http2_connect_tunnel(make_proxy, tcp_upstream):
    proxy = make_proxy(connect_config(tcp_upstream))
    with H2Client(proxy.port("ingress")) as c:
        sid = h2_connect(c)
        s = c.streams[sid]
        assert c.wait(lambda: s.headers is not None)
        assert s.status == 200 and "content-length" not in s.headers
        payload = bytes(range(256)) * 512  # 128 KiB: beyond one window
        c.send_body(sid, payload, end_stream=False)
        assert c.wait(lambda: len(s.data) >= len(payload), timeout=10)
        assert bytes(s.data) == payload
        # END_STREAM is the FIN: the echo upstream ends too, and the stream ends cleanly.
        c.send_body(sid, b"end", end_stream=True)
        assert c.wait(lambda: s.ended or s.reset_code is not None, timeout=5)
        assert s.ended and s.reset_code is None and bytes(s.data) == payload + b"end"
        assert tcp_upstream.half_closes == 1
        # The connection still serves other streams.
        other = c.request("/x")
        assert c.wait_stream(other).status == 404  # no ordinary route here
    [line] = wait_until(lambda: access_log(proxy), timeout=5)
    assert line["protocol"] == "HTTP/2" and line["response_code"] == 200


def test_http2_connect_refused_upstream_is_a_503(make_proxy):
    proxy = make_proxy(connect_config(f"127.0.0.1:{unused_port()}"))
    with H2Client(proxy.port("ingress")) as c:
        sid = h2_connect(c)
        s = c.wait_stream(sid)
        assert s.status == 503 and b"upstream connect error" in bytes(s.data)


def test_http2_client_reset_closes_the_upstream(make_proxy, tcp_upstream):
    proxy = make_proxy(connect_config(tcp_upstream))
    with H2Client(proxy.port("ingress")) as c:
        sid = h2_connect(c)
        assert c.wait(lambda: c.streams[sid].headers is not None)
        c.send_body(sid, b"ping", end_stream=False)
        assert c.wait(lambda: bytes(c.streams[sid].data) == b"ping")
        c.reset(sid, 0x8)
        # The upstream connection goes: the echo server sees its end.
        assert wait_until(lambda: tcp_upstream.connections_closed == 1, timeout=5)
