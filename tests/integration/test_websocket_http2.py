"""WebSocket over HTTP/2 (RFC 8441): an h2c client (python3-h2) opens an extended CONNECT
(`:protocol websocket`) on a route with `upgrade_types: [websocket]`; podproxy forwards it to the
HTTP/1.1 WebSocket upstream (upstreams/websocket.py, which insists on an RFC 6455 key) as an
Upgrade, answers 200 for its 101, and carries DATA frames as the tunnel's bytes both ways, with
half-close (END_STREAM <-> FIN), resets and backpressure."""

import struct
import time

import h2.settings

from harness import bootstrap, cluster, http_listener, route, wait_until
from harness.h2client import H2Client
from upstreams.websocket import OP_BINARY, OP_CLOSE, OP_TEXT, FrameReader, encode_frame

MIB = 1024 * 1024
NO_ERROR, CANCEL = 0x0, 0x8


def ws_config(upstream, **route_action):
    routes = [route("/plain", "backend", "5s", name="plain"),
              route("/", "backend", "5s", name="ws", upgrade_types=["websocket"], **route_action)]
    return bootstrap([http_listener("ingress", routes=routes)], [cluster("backend", [upstream])])


def open_websocket(client, path, extra=()):
    """Sends the RFC 8441 request once the server's SETTINGS allowed it; returns the stream id."""
    assert client.wait(lambda: client.conn.remote_settings.enable_connect_protocol == 1), \
        "the server did not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL"
    return client.request(path, method="CONNECT", end_stream=False,
                          headers=[(":protocol", "websocket"), ("sec-websocket-version", "13"),
                                   *extra])


def open_accepted_websocket(client, path, extra=()):
    """open_websocket, then waits for the answer and checks it is RFC 8441's: 200 and none of
    RFC 6455's Upgrade machinery (no accept: the key was the proxy's, not the client's).
    Returns the stream id."""
    sid = open_websocket(client, path, extra)
    assert client.wait(lambda: client.streams[sid].headers is not None)
    s = client.streams[sid]
    assert s.status == 200, s.headers
    assert "sec-websocket-accept" not in s.headers and "upgrade" not in s.headers
    return sid


class StreamFrames:
    """WebSocket frames out of one HTTP/2 stream's DATA."""

    def __init__(self, client, sid):
        self.client, self.sid, self.used = client, sid, 0
        self.reader = FrameReader(self._recv)

    def _recv(self):
        s = self.client.streams[self.sid]
        deadline = time.monotonic() + 5
        while len(s.data) == self.used:
            if s.ended or s.reset_code is not None or time.monotonic() > deadline:
                return b""
            self.client.read_some(0.1)
        data = bytes(s.data[self.used:])
        self.used = len(s.data)
        return data

    def read_frame(self):
        return self.reader.read_frame()


def send(client, sid, data, end_stream=False):
    client.send_body(sid, data, end_stream=end_stream)


def test_server_advertises_extended_connect(make_proxy, ws_upstream):
    proxy = make_proxy(ws_config(ws_upstream))
    with H2Client(proxy.port("ingress")) as c:
        assert c.wait(lambda: c.conn.remote_settings.enable_connect_protocol == 1)
        assert c.conn.remote_settings[h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL] == 1


def test_websocket_echo_over_http2(make_proxy, ws_upstream):
    proxy = make_proxy(ws_config(ws_upstream))
    with H2Client(proxy.port("ingress")) as c:
        sid = open_accepted_websocket(c, "/echo", [("sec-websocket-protocol", "chat")])
        s = c.streams[sid]
        assert "content-length" not in s.headers
        # The upstream saw an RFC 6455 handshake: GET, the offer, and a key it could answer.
        target, seen = ws_upstream.requests[-1]
        assert target == "/echo"
        assert seen["upgrade"] == "websocket" and seen["connection"].lower() == "upgrade"
        assert len(seen["sec-websocket-key"]) == 24 and seen["sec-websocket-version"] == "13"
        assert seen["sec-websocket-protocol"] == "chat"
        assert "content-length" not in seen and "transfer-encoding" not in seen

        frames = StreamFrames(c, sid)
        messages = [b"hello", b"x" * 200, bytes(range(256)) * 400]  # 100 KiB: several windows
        for m in messages:
            send(c, sid, encode_frame(OP_BINARY if len(m) > 1000 else OP_TEXT, m, mask=True))
        for m in messages:
            opcode, payload, masked = frames.read_frame()
            assert payload == m and not masked
        send(c, sid, encode_frame(OP_CLOSE, struct.pack("!H", 1000), mask=True))
        assert frames.read_frame()[0] == OP_CLOSE
        # The upstream closed after the close handshake: END_STREAM, not a reset.
        assert c.wait(lambda: s.ended or s.reset_code is not None)
        assert s.ended and s.reset_code in (None, NO_ERROR)
    [line] = wait_until(lambda: [e for e in proxy.find_logs(path="/echo") if "msg" not in e],
                        timeout=5)
    assert line["response_code"] == 101 and line["protocol"] == "HTTP/2"


def test_client_end_stream_half_closes_the_upstream(make_proxy, ws_upstream):
    proxy = make_proxy(ws_config(ws_upstream))
    with H2Client(proxy.port("ingress")) as c:
        sid = open_accepted_websocket(c, "/until-eof")
        frames = [encode_frame(OP_BINARY, b"a" * n, mask=True) for n in (10, 1000, 70000)]
        for f in frames[:-1]:
            send(c, sid, f)
        send(c, sid, frames[-1], end_stream=True)
        assert ws_upstream.eof_seen.wait(5), "END_STREAM did not reach the upstream as a FIN"
        # Our side is closed, the upstream's is not: its answer still arrives, then its end.
        assert StreamFrames(c, sid).read_frame() == (OP_TEXT, b"got 71010", False)
        s = c.streams[sid]
        assert c.wait(lambda: s.ended or s.reset_code is not None)
        assert s.ended and s.reset_code is None


def test_upstream_fin_leaves_the_client_side_open(make_proxy, ws_upstream):
    proxy = make_proxy(ws_config(ws_upstream))
    with H2Client(proxy.port("ingress")) as c:
        sid = open_websocket(c, "/bye-then-read")
        s = c.streams[sid]
        # "bye" and the upstream's FIN: END_STREAM towards us, but no RST_STREAM.
        assert c.wait(lambda: s.ended or s.reset_code is not None)
        assert bytes(s.data) == b"bye" and s.ended
        time.sleep(0.2)
        c.read_some(0.1)
        assert s.reset_code is None, "the proxy cut the client's half of the tunnel"
        send(c, sid, b"last ")
        send(c, sid, b"words", end_stream=True)
        assert ws_upstream.after_bye.get(timeout=5) == (b"last words", True)
    wait_until(lambda: [e for e in proxy.find_logs(path="/bye-then-read") if "msg" not in e],
               timeout=5)


def test_bytes_sent_before_the_answer_wait_for_the_tunnel(make_proxy, ws_upstream):
    proxy = make_proxy(ws_config(ws_upstream))
    with H2Client(proxy.port("ingress")) as c:
        sid = open_websocket(c, "/echo")
        send(c, sid, encode_frame(OP_TEXT, b"early", mask=True))  # before the 200 arrives
        assert StreamFrames(c, sid).read_frame()[1] == b"early"
        assert c.streams[sid].status == 200


def test_refused_upgrade_is_an_ordinary_response(make_proxy, ws_upstream):
    proxy = make_proxy(ws_config(ws_upstream))
    with H2Client(proxy.port("ingress")) as c:
        sid = open_websocket(c, "/refuse")
        s = c.wait_stream(sid)
        assert s.status == 400 and bytes(s.data) == b"no websocket here\n"


def test_route_without_the_upgrade_type_answers_403(make_proxy, ws_upstream):
    proxy = make_proxy(ws_config(ws_upstream))
    with H2Client(proxy.port("ingress")) as c:
        sid = open_websocket(c, "/plain/x")
        s = c.wait_stream(sid)
        assert s.status == 403, s.headers
        assert b"not enabled" in bytes(s.data)
    # Nothing went upstream, and the refusal was counted.
    assert ws_upstream.requests == []
    assert proxy.stats()["http.ingress.router.upgrade_rejected"] == 1


def test_wrong_accept_from_the_upstream_is_a_502(make_proxy, ws_upstream):
    proxy = make_proxy(ws_config(ws_upstream))
    with H2Client(proxy.port("ingress")) as c:
        sid = open_websocket(c, "/wrong-accept")
        s = c.wait_stream(sid)
        assert s.status == 502, s.headers
        assert b"sec-websocket-accept" in bytes(s.data)


def test_upstream_reset_resets_the_stream(make_proxy, ws_upstream):
    proxy = make_proxy(ws_config(ws_upstream))
    with H2Client(proxy.port("ingress")) as c:
        sid = open_websocket(c, "/reset-after-101")
        assert c.wait(lambda: c.streams[sid].headers is not None)
        send(c, sid, b"anything")
        s = c.streams[sid]
        assert c.wait(lambda: s.reset_code is not None or s.ended)
        assert s.reset_code not in (None, NO_ERROR), "an upstream reset must not look like an end"
        # The connection and its other streams are unaffected.
        other = c.request("/plain/after")
        assert c.wait_stream(other).status == 200


def test_client_reset_closes_the_upstream(make_proxy, ws_upstream):
    proxy = make_proxy(ws_config(ws_upstream))
    with H2Client(proxy.port("ingress")) as c:
        sid = open_websocket(c, "/echo")
        assert c.wait(lambda: c.streams[sid].headers is not None)
        c.reset(sid, CANCEL)
        assert ws_upstream.closed_by_peer.wait(5), "the upstream connection stayed open"


def test_idle_timeout_ends_the_tunnel(make_proxy, ws_upstream):
    proxy = make_proxy(ws_config(ws_upstream, idle_timeout="500ms"))
    with H2Client(proxy.port("ingress")) as c:
        sid = open_websocket(c, "/echo")
        s = c.streams[sid]
        start = time.monotonic()
        assert c.wait(lambda: s.ended or s.reset_code is not None, timeout=5)
        assert s.status == 200 and s.ended
        assert 0.4 < time.monotonic() - start < 3
        assert ws_upstream.closed_by_peer.wait(5)


def test_slow_http2_reader_holds_the_upstream_back(make_proxy, ws_upstream):
    total = 16 * MIB
    proxy = make_proxy(ws_config(ws_upstream))
    with H2Client(proxy.port("ingress"), auto_ack=False, timeout=30) as c:
        sid = open_websocket(c, f"/stream/{total}")
        # Never acknowledging: the stream's window closes, and the upstream must stop.
        end = time.monotonic() + 2
        while time.monotonic() < end:
            c.read_some(0.1)
        stalled_at = sum(ws_upstream.streamed.values())
        assert stalled_at < total - 4 * MIB, stalled_at
        s = c.streams[sid]
        acked = 0
        deadline = time.monotonic() + 60
        while not s.ended and s.reset_code is None and time.monotonic() < deadline:
            if len(s.data) > acked:
                c.ack(sid, len(s.data) - acked)
                acked = len(s.data)
            c.read_some(0.05)
        assert s.ended, "the stream did not finish once the client read again"
    frames = FrameReader(iter([bytes(s.data), b""]).__next__)
    got = 0
    while (frame := frames.read_frame()) is not None and frame[0] != OP_CLOSE:
        got += len(frame[1])
    assert got == total
