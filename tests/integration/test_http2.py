"""HTTP/2 downstream (h2c with prior knowledge) in front of the HTTP/1.1 echo upstream: real
clients (nghttp, h2load) and frame-level cases with python3-h2 (flow control, resets, floods,
drain)."""

import json
import re
import signal
import subprocess
import time

import pytest

from harness import basic_config, rss_bytes
from harness.h2client import H2Client

MIB = 1024 * 1024
ENHANCE_YOUR_CALM = 0xB
NO_ERROR = 0
REFUSED_STREAM = 0x7


def test_nghttp_h2c_request_reaches_the_http1_upstream(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))
    out = subprocess.run(["nghttp", "-H", "cookie: a=1", "-H", "cookie: b=2",
                          proxy.url("ingress", "/echo?x=1")],
                         capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    echo = json.loads(out.stdout)
    assert echo["method"] == "GET"
    assert echo["path"] == "/echo" and echo["query"] == "x=1"
    assert echo["version"] == "HTTP/1.1"
    headers = {k.lower(): v for k, v in echo["headers"]}
    assert headers["host"] == f"127.0.0.1:{proxy.port('ingress')}"
    assert headers["cookie"] == "a=1; b=2"  # RFC 9113 8.2.3: crumbs joined for HTTP/1
    assert headers["x-forwarded-proto"] == "http"
    assert not any(k.startswith(":") for k in headers)


def test_h2load_thousand_requests_over_ten_connections(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))
    out = subprocess.run(["h2load", "-n", "1000", "-c", "10", "-m", "10",
                          proxy.url("ingress", "/bytes/1000")],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    assert re.search(r"requests: 1000 total, 1000 started, 1000 done, 1000 succeeded",
                     out.stdout), out.stdout
    assert "status codes: 1000 2xx" in out.stdout


def test_request_body_and_response_body_cross_protocols(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))
    body = bytes(range(256)) * 1024  # 256 KiB: several windows' worth
    with H2Client(proxy.port("ingress")) as c:
        sid = c.request("/upload", method="POST", body=body,
                        headers=[("content-type", "application/octet-stream")])
        s = c.wait_stream(sid, timeout=10)
    assert s.status == 200
    echo = json.loads(bytes(s.data))
    assert echo["method"] == "POST"
    assert echo["body_length"] == len(body)
    import hashlib
    assert echo["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_many_streams_on_one_connection_are_multiplexed(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))
    with H2Client(proxy.port("ingress")) as c:
        slow = c.request("/delay/500")
        fast = [c.request(f"/fast/{i}") for i in range(20)]
        assert c.wait(lambda: all(c.streams[f].ended for f in fast), timeout=5)
        # Every fast one finished while the slow one was still waiting.
        assert not c.streams[slow].ended
        assert c.wait_stream(slow).status == 200
    assert all(c.streams[f].status == 200 for f in fast)


def test_slow_reader_holds_the_writer_back_instead_of_buffering(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream, timeout="60s"))
    size = 64 * MIB
    baseline = rss_bytes(proxy.pid)
    with H2Client(proxy.port("ingress"), window=65535, auto_ack=False, timeout=30) as c:
        sid = c.request(f"/bytes/{size}")
        c.wait(lambda: len(c.streams[sid].data) >= 65535, timeout=10)
        time.sleep(2.0)  # the upstream keeps trying to send meanwhile
        c.read_some(0.2)
        received = len(c.streams[sid].data)
        grown = rss_bytes(proxy.pid) - baseline
        # One stream window reached us; the proxy holds at most a few buffers more, nowhere
        # near the 64 MiB the upstream wants to send.
        assert received <= 2 * 65535
        assert grown < 24 * MIB, f"proxy grew by {grown} bytes"
        # Reading again lets everything through.
        c.auto_ack = True
        c.ack(sid, received)
        s = c.wait_stream(sid, timeout=60)
    assert s.ended and len(s.data) == size


def test_client_reset_ends_only_that_stream(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))
    with H2Client(proxy.port("ingress")) as c:
        doomed = c.request("/delay/1500")
        assert http_upstream.wait_for_requests(1)
        c.reset(doomed)
        sid = c.request("/after-reset")
        s = c.wait_stream(sid)
        assert s.status == 200
        assert c.goaway is None and not c.closed
    assert json.loads(bytes(s.data))["path"] == "/after-reset"


def test_rapid_reset_flood_gets_goaway_enhance_your_calm(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))
    with H2Client(proxy.port("ingress")) as c:
        for _ in range(400):
            if c.goaway is not None or c.closed:
                break
            sid = c.request("/delay/2000")
            c.reset(sid)
            c.read_some(0)
        c.wait(lambda: c.goaway is not None, timeout=5)
        assert c.goaway is not None and c.goaway[0] == ENHANCE_YOUR_CALM


def test_ping_flood_gets_goaway_enhance_your_calm(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))
    with H2Client(proxy.port("ingress")) as c:
        for i in range(5000):
            if c.goaway is not None or c.closed:
                break
            c.conn.ping(i.to_bytes(8, "big"))
            try:
                c.flush()
            except OSError:
                break
            if i % 100 == 0:
                c.read_some(0)
        c.wait(lambda: c.goaway is not None, timeout=5)
        assert c.goaway is not None and c.goaway[0] == ENHANCE_YOUR_CALM


def test_streams_past_the_listeners_max_concurrent_streams_are_refused(make_proxy,
                                                                       http_upstream):
    config = basic_config(http_upstream)
    config["listeners"][0]["http"]["http2"] = {"max_concurrent_streams": 2}
    proxy = make_proxy(config)
    with H2Client(proxy.port("ingress")) as c:
        # Sent before the proxy's SETTINGS is read, so the client does not hold itself back.
        sids = [c.request(f"/delay/300?n={i}") for i in range(3)]
        streams = [c.wait_stream(sid, timeout=10) for sid in sids]
        assert [s.status for s in streams[:2]] == [200, 200]
        assert streams[2].reset_code == REFUSED_STREAM and streams[2].headers is None
        assert c.goaway is None and not c.closed
        # The limit was advertised, and a stream within it works on the same connection.
        assert c.conn.remote_settings.max_concurrent_streams == 2
        assert c.wait_stream(c.request("/after")).status == 200
    assert http_upstream.request_count == 3


def test_oversized_header_list_resets_the_stream_not_the_connection(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))
    with H2Client(proxy.port("ingress")) as c:
        big = c.request("/big", headers=[("x-big", "b" * (70 * 1024))])
        s = c.wait_stream(big)
        assert s.reset_code is not None and s.headers is None
        ok = c.wait_stream(c.request("/small"))
        assert ok.status == 200
    assert http_upstream.request_count == 1


def test_drain_sends_goaway_and_finishes_streams_in_flight(make_proxy, http_upstream):
    # nghttp, not python3-h2: h2 treats any GOAWAY as the end and drops what follows it.
    proxy = make_proxy(basic_config(http_upstream))
    client = subprocess.Popen(["nghttp", "-v", proxy.url("ingress", "/delay/800")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, text=True)
    try:
        assert http_upstream.wait_for_requests(1)
        proxy.signal(signal.SIGTERM)
        out, _ = client.communicate(timeout=10)
    finally:
        client.kill()
    assert client.returncode == 0, out
    goaway = out.index("recv GOAWAY")
    status = out.index(":status: 200")
    assert goaway < status  # GOAWAY first, and the stream in flight still finished
    assert '"path": "/delay/800"' in out
    assert proxy.wait_exit(10) == 0


@pytest.mark.parametrize("path", ["/status/503", "/status/404"])
def test_upstream_statuses_pass_through(make_proxy, http_upstream, path):
    proxy = make_proxy(basic_config(http_upstream))
    with H2Client(proxy.port("ingress")) as c:
        s = c.wait_stream(c.request(path))
    assert s.status == int(path.rsplit("/", 1)[1])
