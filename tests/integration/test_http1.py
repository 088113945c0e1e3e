"""HTTP/1.1 behaviour of the HTTP listener, seen from both sides: what a real client (curl, raw
sockets) gets back, and what the echo upstream actually received."""

import hashlib
import os
import re
import socket

from harness import RawConnection, basic_config, curl_http, http_request, parse_response
from upstreams.http_echo import Response, pattern_bytes

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
MIB = 1024 * 1024


def config_for(upstream, **http_options):
    """basic_config with HTTP listener options (they sit directly under `http:`)."""
    config = basic_config(upstream)
    config["listeners"][0]["http"].update(http_options)
    return config


def get(path, host="example.test", extra=""):
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()


def names(headers):
    return {k.lower() for k, _ in headers}


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# -- connection reuse ------------------------------------------------------------------------

def test_keep_alive_serves_two_requests_on_one_connection(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))

    with RawConnection(proxy.port("ingress")) as conn:
        conn.send(get("/first"))
        first = conn.read_response()
        conn.send(get("/second"))
        second = conn.read_response()
        assert not conn.closed

    assert first is not None and second is not None
    assert (first.status, second.status) == (200, 200)
    assert first.json()["path"] == "/first"
    assert second.json()["path"] == "/second"
    assert first.header("connection") is None  # keep-alive is HTTP/1.1's default: not announced
    # The upstream saw both on one (pooled) connection, one after the other.
    first_up, second_up = http_upstream.requests
    assert first_up.conn_id == second_up.conn_id
    assert (first_up.index, second_up.index) == (1, 2)
    assert http_upstream.connections_accepted == 1


def test_pipelined_requests_are_answered_in_order(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))

    with RawConnection(proxy.port("ingress")) as conn:
        conn.send(get("/p1") + get("/delay/200") + get("/p3?x=3"))
        responses = [conn.read_response(timeout=5) for _ in range(3)]

    assert all(r is not None for r in responses), responses
    assert [r.status for r in responses] == [200, 200, 200]
    assert [r.json()["path"] for r in responses] == ["/p1", "/delay/200", "/p3"]
    assert responses[2].json()["query"] == "x=3"
    assert [r.path for r in http_upstream.requests] == ["/p1", "/delay/200", "/p3"]


# -- bodies ----------------------------------------------------------------------------------

def test_chunked_request_body_reaches_the_upstream_intact(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))
    body = os.urandom(100_000)
    pieces = [body[:1], body[1:40_000], body[40_000:40_001], body[40_001:]]
    chunked = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"

    with RawConnection(proxy.port("ingress")) as conn:
        conn.send(b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        conn.send(chunked)
        response = conn.read_response()

    assert response is not None and response.status == 200
    assert response.json()["body_length"] == len(body)
    assert response.json()["body_sha256"] == sha256(body)
    assert http_upstream.last_request.body == body
    # Chunked in, chunked out: the proxy did not invent a length.
    assert http_upstream.last_request.header("content-length") is None
    assert http_upstream.last_request.header("transfer-encoding") == "chunked"


def test_chunked_request_with_trailers_completes(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))

    with RawConnection(proxy.port("ingress")) as conn:
        conn.send(b"POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\n0\r\nx-checksum: abc\r\n\r\n")
        response = conn.read_response()

    assert response is not None and response.status == 200
    assert http_upstream.last_request.body == b"hello"


def test_chunked_request_body_from_curl(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))
    body = os.urandom(300_000)

    r = curl_http(proxy.url("ingress", "/curl-chunked"), method="POST", data=body,
                  headers={"Transfer-Encoding": "chunked"})

    assert r.status == 200, r.reason
    assert r.json()["body_sha256"] == sha256(body)
    assert http_upstream.last_request.body == body


def test_chunked_response_reaches_curl_intact(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))

    r = curl_http(proxy.url("ingress", "/chunked/100000"))

    assert r.status == 200, r.reason
    assert r.body == pattern_bytes(100_000)
    assert r.header("transfer-encoding") == "chunked"
    assert http_upstream.last_request.path == "/chunked/100000"


def test_chunked_response_is_chunked_on_the_wire_to_a_raw_client(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))

    with RawConnection(proxy.port("ingress")) as conn:
        conn.send(get("/chunked/40000"))
        head = conn.read_until(b"\r\n\r\n")
        assert head is not None
        assert b"transfer-encoding: chunked\r\n" in head.lower()
        assert b"content-length" not in head.lower()
        # The rest is chunk framing ending in the last-chunk: parse it ourselves.
        body_bytes = conn.read_until(b"\r\n0\r\n\r\n", timeout=5)
        assert body_bytes is not None
        parsed = parse_response(head + body_bytes)
        assert parsed is not None
        response, used = parsed
        assert used == len(head) + len(body_bytes)
        assert response.body == pattern_bytes(40_000)
        first_line = body_bytes.split(b"\r\n", 1)[0]
        assert re.fullmatch(rb"[0-9a-f]+", first_line), first_line
        # The connection stays usable after a chunked response.
        conn.send(get("/after"))
        after = conn.read_response()
        assert after is not None and after.json()["path"] == "/after"


def test_content_length_request_and_response(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))
    body = b"x" * 12345

    posted = http_request(proxy.port("ingress"), "POST", "/cl", body=body,
                          headers={"Content-Type": "application/octet-stream"})
    fetched = http_request(proxy.port("ingress"), "GET", "/bytes/5000")

    assert posted.status == 200
    upstream_post = http_upstream.requests[0]
    assert upstream_post.header("content-length") == "12345"
    assert upstream_post.header("transfer-encoding") is None
    assert upstream_post.body == body
    assert fetched.status == 200
    assert fetched.header("content-length") == "5000"
    assert fetched.header("transfer-encoding") is None
    assert fetched.body == pattern_bytes(5000)


def test_expect_100_continue_is_answered_before_the_body(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))
    body = b"payload-after-continue"

    with RawConnection(proxy.port("ingress")) as conn:
        conn.send(b"POST /expect HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        interim = conn.read_until(b"\r\n\r\n", timeout=3)
        assert interim is not None, "no 100 Continue before the body was sent"
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n")
        conn.send(body)
        response = conn.read_response()

    assert response is not None and response.status == 200
    up = http_upstream.last_request
    assert up.body == body
    assert up.header("expect") is None
    assert up.header("content-length") == str(len(body))


def test_expect_100_continue_from_curl(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))
    body = os.urandom(2 * 1024 * 1024)  # curl sends Expect: 100-continue for large bodies

    r = curl_http(proxy.url("ingress", "/curl-expect"), method="POST", data=body,
                  headers={"Expect": "100-continue"}, extra_args=["--expect100-timeout", "10"])

    assert r.status == 200, r.reason
    assert http_upstream.last_request.body == body
    assert http_upstream.last_request.header("expect") is None


def test_large_post_body_is_forwarded_intact(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))
    body = os.urandom(5 * MIB)

    r = http_request(proxy.port("ingress"), "POST", "/big", body=body, timeout=20)

    assert r.status == 200
    assert r.json()["body_length"] == len(body)
    assert r.json()["body_sha256"] == sha256(body)


def test_large_post_on_a_reused_upstream_connection(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))
    body = os.urandom(5 * MIB)

    with RawConnection(proxy.port("ingress"), timeout=20) as conn:
        conn.send(get("/warm"))
        assert conn.read_response().status == 200
        conn.send(b"PUT /big HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body))
        conn.send(body)
        response = conn.read_response(timeout=20)

    assert response is not None and response.status == 200
    assert response.json()["body_sha256"] == sha256(body)
    assert [r.conn_id for r in http_upstream.requests] == [1, 1]


def test_large_response_body_is_delivered_intact(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))
    n = 5 * MIB

    fixed = curl_http(proxy.url("ingress", f"/bytes/{n}"))
    chunked = curl_http(proxy.url("ingress", f"/chunked/{n}"))

    assert fixed.status == 200, fixed.reason
    assert fixed.header("content-length") == str(n)
    assert sha256(fixed.body) == sha256(pattern_bytes(n))
    assert chunked.status == 200, chunked.reason
    assert sha256(chunked.body) == sha256(pattern_bytes(n))


# -- HTTP/1.0 and request targets ------------------------------------------------------------

def test_http10_request_is_answered_and_the_connection_closed(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))

    with RawConnection(proxy.port("ingress")) as conn:
        conn.send(b"GET /old HTTP/1.0\r\n\r\n")
        response = conn.read_response()
        closed = conn.wait_closed(timeout=3)

    assert response is not None
    assert response.status == 200
    assert response.json()["path"] == "/old"
    assert closed, "HTTP/1.0 without keep-alive must close after the response"
    # The upstream got an HTTP/1.1 request from the proxy.
    assert http_upstream.last_request.version == "HTTP/1.1"


def test_http10_keep_alive_is_honoured(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))

    with RawConnection(proxy.port("ingress")) as conn:
        conn.send(b"GET /ka1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        first = conn.read_response()
        assert first is not None and first.status == 200
        assert first.header("connection").lower() == "keep-alive"
        assert first.header("content-length") is not None
        conn.send(b"GET /ka2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        second = conn.read_response()

    assert second is not None and second.json()["path"] == "/ka2"
    assert http_upstream.request_count == 2
    # Connection is hop-by-hop: not forwarded.
    assert http_upstream.last_request.header("connection") is None


def test_http10_client_gets_chunked_upstream_body_delimited_by_close(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))

    with RawConnection(proxy.port("ingress")) as conn:
        conn.send(b"GET /chunked/20000 HTTP/1.0\r\n\r\n")
        data = conn.read_until_close(timeout=5)

    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"transfer-encoding" not in head.lower()  # an HTTP/1.0 client can't read chunks
    assert body == pattern_bytes(20000)


def test_absolute_form_target_sets_path_and_host(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))

    with RawConnection(proxy.port("ingress")) as conn:
        conn.send(b"GET http://origin.test:8080/p?q=1 HTTP/1.1\r\nHost: ignored.test\r\n\r\n")
        response = conn.read_response()

    assert response is not None and response.status == 200
    up = http_upstream.last_request
    assert up.target == "/p?q=1"
    assert up.header_values("host") == ["origin.test:8080"]


# -- headers the proxy edits -----------------------------------------------------------------

def test_hop_by_hop_request_headers_are_removed(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))

    with RawConnection(proxy.port("ingress")) as conn:
        conn.send(b"GET /hop HTTP/1.1\r\nHost: a\r\n"
                  b"Connection: keep-alive, X-Nominated\r\n"
                  b"Keep-Alive: timeout=5\r\n"
                  b"TE: gzip\r\n"
                  b"Upgrade: websocket\r\n"
                  b"Proxy-Connection: keep-alive\r\n"
                  b"X-Nominated: secret\r\n"
                  b"X-End-To-End: kept\r\n\r\n")
        response = conn.read_response()

    assert response is not None and response.status == 200
    seen = names(http_upstream.last_request.headers)
    for hop in ("connection", "keep-alive", "te", "upgrade", "proxy-connection", "x-nominated"):
        assert hop not in seen, f"{hop} reached the upstream"
    assert http_upstream.last_request.header("x-end-to-end") == "kept"


def test_hop_by_hop_response_headers_are_removed(make_proxy, http_upstream):
    http_upstream.route("/hop-response", lambda req, up: Response(200, b"ok", [
        ("Connection", "X-Upstream-Private"),
        ("Keep-Alive", "timeout=5"),
        ("Upgrade", "h2c"),
        ("Proxy-Connection", "keep-alive"),
        ("TE", "trailers"),
        ("X-Upstream-Private", "secret"),
        ("X-Response-Kept", "yes"),
    ]))
    proxy = make_proxy(basic_config(http_upstream))

    with RawConnection(proxy.port("ingress")) as conn:
        conn.send(get("/hop-response"))
        response = conn.read_response()
        assert response is not None
        # Still keep-alive: the upstream's Connection header did not leak into our framing.
        conn.send(get("/again"))
        again = conn.read_response()

    assert response.status == 200 and response.body == b"ok"
    seen = names(response.headers)
    for hop in ("connection", "keep-alive", "upgrade", "proxy-connection", "te",
                "x-upstream-private"):
        assert hop not in seen, f"{hop} reached the client"
    assert response.header("x-response-kept") == "yes"
    assert again is not None and again.json()["path"] == "/again"


def test_x_forwarded_for_is_appended_and_proto_set(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))

    fresh = curl_http(proxy.url("ingress", "/xff1"))
    chained = curl_http(proxy.url("ingress", "/xff2"),
                        headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})

    assert fresh.status == 200 and chained.status == 200
    first, second = http_upstream.requests
    assert first.header_values("x-forwarded-for") == ["127.0.0.1"]
    assert first.header("x-forwarded-proto") == "http"
    assert second.header_values("x-forwarded-for") == ["203.0.113.9, 127.0.0.1"]
    # The client can't claim a scheme it did not use.
    assert second.header_values("x-forwarded-proto") == ["http"]


def test_x_request_id_is_generated_when_absent_and_kept_when_present(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))

    curl_http(proxy.url("ingress", "/id1"))
    curl_http(proxy.url("ingress", "/id2"))
    curl_http(proxy.url("ingress", "/id3"), headers={"X-Request-Id": "client-chosen-42"})

    generated = [r.header("x-request-id") for r in http_upstream.requests[:2]]
    assert all(UUID4.match(g or "") for g in generated), generated
    assert generated[0] != generated[1]
    assert http_upstream.requests[2].header_values("x-request-id") == ["client-chosen-42"]


def test_host_header_is_preserved(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))

    r = curl_http(proxy.url("ingress", "/host"), headers={"Host": "Service.Example:1234"})

    assert r.status == 200, r.reason
    assert http_upstream.last_request.header_values("host") == ["Service.Example:1234"]


# -- responses without a body ----------------------------------------------------------------

def test_head_response_has_no_body_and_keeps_the_connection_usable(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))

    with RawConnection(proxy.port("ingress")) as conn:
        conn.send(b"HEAD /bytes/1000 HTTP/1.1\r\nHost: a\r\n\r\n")
        head = conn.read_response(head_request=True)
        conn.send(get("/after-head"))
        after = conn.read_response()

    assert head is not None and head.status == 200
    assert head.header("content-length") == "1000"
    assert head.body == b""
    # Had a body followed the HEAD response, it would have been read as the next status line.
    assert after is not None and after.status == 200
    assert after.json()["path"] == "/after-head"
    assert http_upstream.requests[0].method == "HEAD"


def test_head_from_curl(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))

    r = curl_http(proxy.url("ingress", "/bytes/777"), extra_args=["--head"])

    assert r.status == 200, r.reason
    assert r.header("content-length") == "777"
    assert r.body == b""
    assert http_upstream.last_request.method == "HEAD"


def test_204_and_304_from_upstream_carry_no_body(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))

    with RawConnection(proxy.port("ingress")) as conn:
        conn.send(get("/status/204"))
        no_content = conn.read_response()
        conn.send(get("/status/304"))
        not_modified = conn.read_response()
        conn.send(get("/after"))
        after = conn.read_response()
        leftover = conn.buf

    assert no_content is not None and no_content.status == 204
    assert no_content.body == b""
    assert no_content.header("content-length") is None
    assert no_content.header("transfer-encoding") is None
    assert not_modified is not None and not_modified.status == 304
    assert not_modified.body == b""
    assert not_modified.header("transfer-encoding") is None
    assert after is not None and after.json()["path"] == "/after"
    assert leftover == b""
    assert [r.path for r in http_upstream.requests] == ["/status/204", "/status/304", "/after"]


def test_client_half_close_after_the_request_still_gets_the_response(make_proxy, http_upstream):
    """A client that half-closes after its request still gets the whole response."""
    proxy = make_proxy(basic_config(http_upstream))

    with socket.create_connection(("127.0.0.1", proxy.port("ingress")), timeout=5) as s:
        s.sendall(get("/half-close"))
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(65536):
            data += chunk

    parsed = parse_response(data, eof=True)
    assert parsed is not None
    assert parsed[0].status == 200
    assert parsed[0].json()["path"] == "/half-close"
