"""HTTP/1.1 Upgrade through podproxy: a WebSocket client and server (RFC 6455 on raw sockets,
upstreams/websocket.py) on either side. A route with `upgrade_types: [websocket]` turns the
exchange into a byte tunnel after the 101 (echo, backpressure, half-close in both directions,
resets, idle timeout); a route without it forwards the request as plain HTTP; a refused upgrade
is an ordinary response."""

import os
import socket
import struct
import time

import pytest

from harness import (bootstrap, cluster, http_get, http_listener, read_to_clean_eof, route,
                     rss_bytes, wait_until)
from upstreams.websocket import (OP_BINARY, OP_CLOSE, OP_TEXT, FrameReader, WebSocketClient,
                                 accept_key, encode_frame, read_head)

MIB = 1024 * 1024


def ws_config(upstream, **route_action):
    routes = [route("/plain", "backend", "5s", name="plain"),
              route("/", "backend", "5s", name="ws", upgrade_types=["websocket"], **route_action)]
    return bootstrap([http_listener("ingress", routes=routes)], [cluster("backend", [upstream])])


def read_until_eof(sock, timeout=5):
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def open_fds(proxy):
    return len(os.listdir(f"/proc/{proxy.pid}/fd"))


def assert_tunnel_released(proxy, fds_before, pooled=0):
    """The tunnel's stream and both its connections are gone (stats and the process's fds).
    `pooled`: idle keep-alive upstream connections that ordinary requests left in the pool."""
    gauges = {"listener.ingress.downstream_cx_active": 0, "http.ingress.downstream_rq_active": 0,
              "cluster.backend.upstream_cx_active": pooled,
              "cluster.backend.upstream_rq_active": 0}
    wait_until(lambda: all(proxy.stats()[g] == n for g, n in gauges.items()), timeout=5,
               message=f"{gauges}")
    # The last stats request's own connection may still be closing: allow for nothing more.
    wait_until(lambda: open_fds(proxy) <= fds_before + pooled, timeout=5,
               message=f"the proxy's descriptors back to {fds_before} + {pooled}")


def test_websocket_echo_through_the_proxy(make_proxy, ws_upstream):
    proxy = make_proxy(ws_config(ws_upstream))
    client = WebSocketClient(proxy.port("ingress"), "/echo")
    assert client.accepted(), (client.status, client.headers)
    # What the upstream saw: the offer, forwarded with its hop-by-hop companion.
    _, seen = ws_upstream.requests[-1]
    assert seen["upgrade"] == "websocket"
    assert seen["connection"].lower() == "upgrade"
    assert seen["sec-websocket-version"] == "13"

    messages = [b"hello", b"x" * 200, bytes(range(256)) * 400]  # 100 KiB: 64-bit length form
    for m in messages:
        client.send(m, OP_BINARY if len(m) > 1000 else OP_TEXT)
    for m in messages:
        opcode, payload, masked = client.recv_frame()
        assert payload == m and not masked
    client.send(struct.pack("!H", 1000), OP_CLOSE)
    opcode, payload, _ = client.recv_frame()
    assert opcode == OP_CLOSE
    # The upstream closed after the close handshake: the proxy closes the client too.
    assert read_until_eof(client.sock) == b""
    client.close()
    assert proxy.stop() == 0


def test_bytes_sent_with_the_handshake_are_not_lost(make_proxy, ws_upstream):
    proxy = make_proxy(ws_config(ws_upstream))
    sock = socket.create_connection(("127.0.0.1", proxy.port("ingress")), timeout=5)
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    # Handshake and a first frame in one write: the frame waits behind the request.
    sock.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: " + key.encode() + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
                 + encode_frame(OP_TEXT, b"early", mask=True))
    head, rest = read_head(lambda: sock.recv(65536))
    assert head.startswith("HTTP/1.1 101 ")
    assert f"\r\nsec-websocket-accept: {accept_key(key)}\r\n" in head + "\r\n"
    frames = FrameReader(lambda: sock.recv(65536))
    frames.feed(rest)
    assert frames.read_frame()[1] == b"early"
    sock.close()


def read_stream_slowly(client, proxy_pid, peak):
    """Reads a /stream/N tunnel to its close frame as a slow reader (a pause every 2 MiB), checking
    every byte of the pattern; returns (bytes received, the proxy's peak RSS, at least `peak`)."""
    received = 0
    expected = bytes(range(256)) * 256
    for _ in range(100_000):  # frames; a 20 MiB stream comes in far fewer
        frame = client.recv_frame()
        assert frame is not None, f"the tunnel ended after {received} bytes"
        opcode, payload, _ = frame
        if opcode == OP_CLOSE:
            return received, peak
        assert payload == expected[:len(payload)]
        received += len(payload)
        if received % (2 * MIB) == 0:
            peak = max(peak, rss_bytes(proxy_pid))
            time.sleep(0.02)
    raise AssertionError(f"no close frame after {received} bytes")


def test_slow_reader_keeps_proxy_memory_bounded(make_proxy, ws_upstream):
    total = 20 * MIB
    proxy = make_proxy(ws_config(ws_upstream))
    baseline = rss_bytes(proxy.pid)
    client = WebSocketClient(proxy.port("ingress"), f"/stream/{total}", rcvbuf=64 * 1024)
    assert client.accepted()
    # Not reading at all: the upstream must be stopped by backpressure, not buffered by us.
    time.sleep(2)
    # Kernel socket buffers on the way hold several MiB; the rest must wait in the upstream.
    stalled_at = sum(ws_upstream.streamed.values())
    assert stalled_at < total - 4 * MIB, stalled_at
    peak = rss_bytes(proxy.pid)
    print(f"stalled after {stalled_at / MIB:.1f} MiB, RSS +{(peak - baseline) / MIB:.1f} MiB")
    received, peak = read_stream_slowly(client, proxy.pid, peak)
    assert received == total
    print(f"peak RSS +{(peak - baseline) / MIB:.1f} MiB")
    growth = peak - baseline
    assert growth < 8 * MIB, f"proxy RSS grew by {growth / MIB:.1f} MiB for a {total // MIB} MiB tunnel"
    client.close()


def test_client_half_close_reaches_the_upstream_and_the_answer_still_arrives(make_proxy,
                                                                           ws_upstream):
    proxy = make_proxy(ws_config(ws_upstream))
    fds_before = open_fds(proxy)
    client = WebSocketClient(proxy.port("ingress"), "/until-eof")
    assert client.accepted()
    sent = 0
    for n in (10, 1000, 70000):
        frame = encode_frame(OP_BINARY, b"a" * n, mask=True)
        client.sock.sendall(frame)
        sent += len(frame)
    client.sock.shutdown(socket.SHUT_WR)
    assert ws_upstream.eof_seen.wait(5), "the client's FIN did not reach the upstream"
    answer = client.frames.read_frame()
    assert answer == (OP_TEXT, b"got 71010", False)
    # The upstream's FIN after its answer ends the tunnel: a clean EOF, then both connections go.
    assert read_to_clean_eof(client.sock) == b""
    assert_tunnel_released(proxy, fds_before)
    client.close()
    # One stream, completed once, with the tunnel's bytes counted both ways.
    [line] = wait_until(lambda: proxy.access_logs(path="/until-eof"), timeout=5)
    assert line["response_code"] == 101
    assert line["bytes_received"] == sent
    assert line["bytes_sent"] == len(encode_frame(OP_TEXT, b"got 71010", mask=False))


def test_upstream_half_close_lets_the_client_send_its_last_bytes(make_proxy, ws_upstream):
    # The server says "bye" and shuts down its write side, then waits for the client's last
    # words: the client must see EOF while its own direction stays open, as through a TCP proxy.
    proxy = make_proxy(ws_config(ws_upstream))
    fds_before = open_fds(proxy)
    client = WebSocketClient(proxy.port("ingress"), "/bye-then-read")
    assert client.accepted()
    assert client.rest + read_to_clean_eof(client.sock) == b"bye"
    # Half-closed, not closed: what the client writes after reading EOF still gets through.
    time.sleep(0.2)  # a client that takes its time after the EOF
    client.sock.sendall(b"last ")
    client.sock.sendall(b"words")
    assert ws_upstream.after_bye.empty(), "the upstream saw the end before the client's FIN"
    client.sock.shutdown(socket.SHUT_WR)
    assert ws_upstream.after_bye.get(timeout=5) == (b"last words", True)
    # Both directions ended: the proxy lets go of the stream and both connections.
    assert_tunnel_released(proxy, fds_before)
    assert client.sock.recv(16) == b""
    client.close()
    [line] = wait_until(lambda: proxy.access_logs(path="/bye-then-read"), timeout=5)
    assert (line["response_code"], line["bytes_received"], line["bytes_sent"]) == (101, 10, 3)
    assert line["response_flags"] == "-"


@pytest.mark.parametrize("client_fin", ["with_the_handshake", "pipelined_behind_a_request",
                                        "right_after_the_101"])
def test_both_sides_half_closing_at_once_end_the_tunnel(make_proxy, ws_upstream, client_fin):
    proxy = make_proxy(ws_config(ws_upstream))
    fds_before = open_fds(proxy)
    sock = socket.create_connection(("127.0.0.1", proxy.port("ingress")), timeout=5)
    handshake = (b"GET /bye-then-read HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 b"Sec-WebSocket-Version: 13\r\n\r\n")
    if client_fin == "with_the_handshake":
        # Its bytes and FIN wait behind the request while the upstream sends its own FIN.
        sock.sendall(handshake + b"last words")
        sock.shutdown(socket.SHUT_WR)
        head, rest = read_head(lambda: sock.recv(65536))
    elif client_fin == "pipelined_behind_a_request":
        # All of it waits behind an ordinary request: the FIN is read before the Upgrade is, and
        # must still reach the upstream after the bytes in front of it.
        first_request = b"GET /plain/first HTTP/1.1\r\nHost: a\r\n\r\n"
        sock.sendall(first_request + handshake + b"last words")
        sock.shutdown(socket.SHUT_WR)
        first, rest = read_head(lambda: sock.recv(65536))
        assert first.startswith("HTTP/1.1 200 ")
        assert rest.startswith(b"upgrade=none\n")
        head, rest = read_head(lambda: sock.recv(65536), rest[len(b"upgrade=none\n"):])
    else:
        sock.sendall(handshake)
        head, rest = read_head(lambda: sock.recv(65536))
        # Before reading the upstream's "bye": the two FINs cross in the proxy.
        sock.sendall(b"last words")
        sock.shutdown(socket.SHUT_WR)
    assert head.startswith("HTTP/1.1 101 ")
    assert rest + read_to_clean_eof(sock) == b"bye"
    assert ws_upstream.after_bye.get(timeout=5) == (b"last words", True)
    assert_tunnel_released(proxy, fds_before, pooled=int(client_fin.startswith("pipelined")))
    sock.close()
    assert len(wait_until(lambda: proxy.access_logs(path="/bye-then-read"), timeout=5)) == 1


@pytest.mark.parametrize("upstream_fin_first", [False, True])
def test_upstream_reset_closes_the_client_promptly(make_proxy, ws_upstream, upstream_fin_first):
    proxy = make_proxy(ws_config(ws_upstream))
    fds_before = open_fds(proxy)
    path = "/bye-then-reset" if upstream_fin_first else "/reset-after-101"
    client = WebSocketClient(proxy.port("ingress"), path)
    assert client.accepted()
    if upstream_fin_first:
        # Half-closed by the upstream first; it resets once the client's bytes arrive (the proxy
        # no longer reads it, so it learns of the reset from a failed write).
        assert client.rest + read_to_clean_eof(client.sock) == b"bye"
    start = time.monotonic()
    closed = False
    # The client keeps sending; the upstream's reset must reach it as a closed connection soon.
    while not closed and time.monotonic() - start < 5:
        try:
            client.sock.sendall(b"x" * 1000)
            client.sock.settimeout(0.05)
            # After the upstream's FIN, EOF is old news: only the reset says the tunnel is gone.
            closed = client.sock.recv(65536) == b"" and not upstream_fin_first
            if upstream_fin_first:
                time.sleep(0.05)
        except socket.timeout:
            pass
        except (ConnectionResetError, BrokenPipeError):
            closed = True
    elapsed = time.monotonic() - start
    assert closed, "the client connection outlived the upstream's reset"
    assert elapsed < 2, f"the client connection closed only after {elapsed:.1f}s"
    client.close()
    assert ws_upstream.resets == 1
    assert_tunnel_released(proxy, fds_before)
    [line] = wait_until(lambda: proxy.access_logs(path=path), timeout=5)
    assert "UR" in line["response_flags"], line
    # The proxy carries on: the next request, on a new connection, is served.
    assert http_get(proxy.port("ingress"), "/plain/after").status == 200


def test_client_half_close_before_the_101_is_passed_on_after_it(make_proxy, ws_upstream):
    proxy = make_proxy(ws_config(ws_upstream))
    sock = socket.create_connection(("127.0.0.1", proxy.port("ingress")), timeout=5)
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    sock.sendall(b"GET /until-eof HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key.encode() +
                 b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    sock.shutdown(socket.SHUT_WR)
    head, rest = read_head(lambda: sock.recv(65536))
    assert head.startswith("HTTP/1.1 101 ")
    assert ws_upstream.eof_seen.wait(5), "the FIN sent before the 101 was not passed on"
    frames = FrameReader(lambda: sock.recv(65536))
    frames.feed(rest)
    assert frames.read_frame()[1] == b"got 0"
    assert read_until_eof(sock) == b""
    sock.close()


def test_upstream_close_ends_the_tunnel(make_proxy, ws_upstream):
    proxy = make_proxy(ws_config(ws_upstream))
    client = WebSocketClient(proxy.port("ingress"), "/stream/1000")
    assert client.accepted()
    opcode, payload, _ = client.recv_frame()
    assert opcode == OP_BINARY and len(payload) == 1000
    assert client.recv_frame()[0] == OP_CLOSE
    assert read_until_eof(client.sock) == b""
    client.close()


def test_idle_timeout_closes_the_tunnel(make_proxy, ws_upstream):
    proxy = make_proxy(ws_config(ws_upstream, idle_timeout="600ms"))
    client = WebSocketClient(proxy.port("ingress"), "/echo")
    assert client.accepted()
    # Traffic keeps it open past the timeout...
    for _ in range(4):
        client.send(b"ping")
        assert client.recv_frame()[1] == b"ping"
        time.sleep(0.3)
    # ...silence ends it, on both sides.
    start = time.monotonic()
    assert read_until_eof(client.sock, timeout=5) == b""
    assert time.monotonic() - start < 3
    assert ws_upstream.closed_by_peer.wait(5)
    client.close()


def test_route_without_upgrade_types_forwards_plain_http(make_proxy, ws_upstream):
    proxy = make_proxy(ws_config(ws_upstream))
    client = WebSocketClient(proxy.port("ingress"), "/plain")
    assert client.status == 200
    assert client.rest.startswith(b"upgrade=none")
    _, seen = ws_upstream.requests[-1]
    assert "upgrade" not in seen
    assert "upgrade" not in seen.get("connection", "").lower()
    assert "sec-websocket-key" in seen  # ordinary end-to-end fields still go
    client.close()


def test_other_upgrade_protocols_are_not_forwarded(make_proxy, ws_upstream):
    proxy = make_proxy(ws_config(ws_upstream))
    sock = socket.create_connection(("127.0.0.1", proxy.port("ingress")), timeout=5)
    sock.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n")
    data = sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 200 ")
    assert data.endswith(b"upgrade=none\n")
    sock.close()


def test_websocket_gets_an_upstream_connection_of_its_own(make_proxy, ws_upstream):
    # The keep-alive connection an ordinary request left idle is not taken: after the 101 the
    # connection is the tunnel's alone, and it never goes back to the pool.
    proxy = make_proxy(ws_config(ws_upstream), concurrency=1)  # one worker: one pool
    assert http_get(proxy.port("ingress"), "/plain/first").status == 200
    wait_until(lambda: proxy.stats()["cluster.backend.upstream_cx_active"] == 1, timeout=5,
               message="the keep-alive connection in the pool")
    client = WebSocketClient(proxy.port("ingress"), "/echo")
    assert client.accepted(), (client.status, client.headers)
    client.send(b"own connection")
    assert client.recv_frame()[1] == b"own connection"
    assert ws_upstream.connections_accepted == 2
    stats = proxy.stats()
    assert stats["cluster.backend.upstream_cx_total"] == 2
    assert stats["cluster.backend.upstream_cx_active"] == 2
    client.close()
    # The tunnel's connection closes with it; the keep-alive one stays in the pool.
    wait_until(lambda: proxy.stats()["cluster.backend.upstream_cx_active"] == 1, timeout=5,
               message="the tunnel's upstream connection to close")
    assert ws_upstream.open_connections == 1
    assert ws_upstream.connections_accepted == 2


def test_upstream_refusing_the_upgrade_is_an_ordinary_response(make_proxy, ws_upstream):
    proxy = make_proxy(ws_config(ws_upstream))
    client = WebSocketClient(proxy.port("ingress"), "/refuse")
    assert client.status == 400
    assert client.headers["content-length"] == "18"
    body = client.rest
    while len(body) < 18:
        body += client.sock.recv(65536)
    assert body == b"no websocket here\n"
    # The client connection stays an HTTP/1.1 keep-alive connection.
    client.sock.sendall(b"GET /plain/after HTTP/1.1\r\nHost: a\r\n\r\n")
    data = client.sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"upgrade=none\n")
    # The connection that was offered the upgrade was not reused.
    assert wait_until(lambda: ws_upstream.connections_accepted == 2, timeout=2)
    client.close()
