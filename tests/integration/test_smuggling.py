"""Request smuggling and malformed HTTP/1: every ambiguous or broken request gets a 400 (or the
stated status), the downstream connection is closed, and the upstream receives nothing of it."""

import pytest

from harness import RawConnection, basic_config, http_get

HEAD = b"POST /target HTTP/1.1\r\nHost: a\r\n"

# (id, bytes). Each must be refused with 400 before anything reaches the upstream.
MALFORMED = [
    ("content-length-and-transfer-encoding",
     HEAD + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("transfer-encoding-and-content-length",
     HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n"),
    ("two-differing-content-lengths",
     HEAD + b"Content-Length: 4\r\nContent-Length: 5\r\n\r\nhello"),
    ("content-length-list", HEAD + b"Content-Length: 4, 5\r\n\r\nhello"),
    ("chunk-size-not-hex", HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
    ("chunk-size-overflow",
     HEAD + b"Transfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
    ("chunk-size-negative", HEAD + b"Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n"),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n"),
    ("obs-fold-tab", b"GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n\ttwo\r\n\r\n"),
    ("bare-lf-in-request-line", b"GET / HTTP/1.1\nHost: a\r\n\r\n"),
    ("bare-lf-in-header-line", b"GET / HTTP/1.1\r\nHost: a\nX-Other: b\r\n\r\n"),
    ("bare-lf-ends-head", b"GET / HTTP/1.1\r\nHost: a\r\n\n"),
    ("bare-cr-in-header", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rX-B: c\r\n\r\n"),
    ("space-before-colon", b"GET / HTTP/1.1\r\nHost: a\r\nX-Name : value\r\n\r\n"),
    ("space-in-header-name", b"GET / HTTP/1.1\r\nHost: a\r\nX Name: value\r\n\r\n"),
    ("non-token-header-name", b"GET / HTTP/1.1\r\nHost: a\r\nX(Name): value\r\n\r\n"),
    ("empty-header-name", b"GET / HTTP/1.1\r\nHost: a\r\n: value\r\n\r\n"),
    ("transfer-encoding-gzip-alone", HEAD + b"Transfer-Encoding: gzip\r\n\r\nhello"),
    ("transfer-encoding-chunked-then-gzip",
     HEAD + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"),
    ("transfer-encoding-unknown", HEAD + b"Transfer-Encoding: chunkedx\r\n\r\n0\r\n\r\n"),
    ("transfer-encoding-in-http10",
     b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("content-length-letters", HEAD + b"Content-Length: abc\r\n\r\n"),
    ("content-length-negative", HEAD + b"Content-Length: -1\r\n\r\n"),
    ("content-length-two-numbers", HEAD + b"Content-Length: 1 2\r\n\r\nxx"),
    ("content-length-plus", HEAD + b"Content-Length: +5\r\n\r\nhello"),
    ("content-length-overflow", HEAD + b"Content-Length: 99999999999999999999999\r\n\r\n"),
    ("nul-in-header-value", b"GET / HTTP/1.1\r\nHost: a\r\nX-Nul: a\x00b\r\n\r\n"),
    ("nul-in-request-line", b"GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n"),
    ("request-line-double-space", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n"),
    ("request-line-extra-token", b"GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n"),
    ("request-line-no-version", b"GET /\r\nHost: a\r\n\r\n"),
    ("request-line-tab", b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"),
    ("request-line-junk", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03junk\r\n\r\n"),
    ("method-with-bad-character", b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n"),
    ("leading-whitespace-before-request-line", b" GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
    ("missing-host", b"GET / HTTP/1.1\r\nX-A: b\r\n\r\n"),
    ("two-hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    ("host-with-userinfo", b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n"),
    ("target-not-origin-or-absolute", b"GET target HTTP/1.1\r\nHost: a\r\n\r\n"),
]


@pytest.fixture
def proxied(make_proxy, http_upstream):
    return make_proxy(basic_config(http_upstream)), http_upstream


def send_and_expect_refusal(port, data, timeout=5.0):
    """Sends `data` on a new connection; returns (first response, whether the proxy closed)."""
    with RawConnection(port, timeout=timeout) as conn:
        conn.send(data)
        response = conn.read_response(timeout=timeout)
        closed = conn.wait_closed(timeout=timeout)
    return response, closed


def assert_upstream_saw_only_the_barrier(port, upstream, expected_paths=()):
    """A good request after the bad one: once it arrived, anything the bad one had caused
    upstream would have arrived too."""
    barrier = http_get(port, "/barrier")
    assert barrier.status == 200
    assert upstream.wait_for_requests(len(expected_paths) + 1, timeout=5)
    assert [r.path for r in upstream.requests] == [*expected_paths, "/barrier"]
    assert upstream.malformed_requests == 0


@pytest.mark.parametrize("data", [d for _, d in MALFORMED], ids=[i for i, _ in MALFORMED])
def test_malformed_request_gets_400_closes_and_never_reaches_upstream(proxied, data):
    proxy, upstream = proxied
    port = proxy.port("ingress")

    response, closed = send_and_expect_refusal(port, data)

    assert response is not None, "no response before the connection ended"
    assert response.status == 400, response
    assert response.header("connection") == "close"
    assert closed, "the connection must close after a framing error"
    assert_upstream_saw_only_the_barrier(port, upstream)


def test_unsupported_transfer_coding_before_chunked_is_refused(proxied):
    # "gzip, chunked" is well framed, but the upstream would get a body without the header
    # that says it is gzipped: refused (501 Not Implemented, as Envoy does).
    proxy, upstream = proxied
    port = proxy.port("ingress")

    response, closed = send_and_expect_refusal(
        port, HEAD + b"Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")

    assert response is not None and response.status == 501
    assert closed
    assert_upstream_saw_only_the_barrier(port, upstream)


def test_http2_preface_followed_by_http1_bytes_is_refused(proxied):
    # The preface selects HTTP/2 (h2c prior knowledge); what follows must be HTTP/2 frames, so a
    # request line smuggled behind it ends the connection (GOAWAY) and reaches nobody.
    proxy, upstream = proxied
    port = proxy.port("ingress")

    with RawConnection(port) as conn:
        conn.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n")
        assert conn.wait_closed(timeout=5)

    assert_upstream_saw_only_the_barrier(port, upstream)


def test_valid_request_then_smuggled_bytes_in_its_body_stay_in_its_body(proxied):
    # The bytes after the headers are exactly Content-Length long and look like a request:
    # they are body, and the upstream must see them as body of /first, nothing else.
    proxy, upstream = proxied
    port = proxy.port("ingress")
    inner = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"

    with RawConnection(port) as conn:
        conn.send(b"POST /first HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(inner)
                  + inner)
        response = conn.read_response()
        extra = conn.read_response(timeout=0.5)

    assert response is not None and response.status == 200
    assert extra is None
    assert upstream.requests[0].path == "/first"
    assert upstream.requests[0].body == inner
    assert_upstream_saw_only_the_barrier(port, upstream, ["/first"])


def test_valid_request_followed_by_a_second_request_in_one_packet(proxied):
    # Two requests in one packet are two requests: the second must not become body of the
    # first (the first has Content-Length 5), and each reaches the upstream separately framed.
    proxy, upstream = proxied
    port = proxy.port("ingress")

    with RawConnection(port) as conn:
        conn.send(b"POST /first HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                  b"GET /second HTTP/1.1\r\nHost: a\r\n\r\n")
        first = conn.read_response()
        second = conn.read_response()

    assert first is not None and second is not None
    assert first.json()["path"] == "/first" and first.json()["body_length"] == 5
    assert second.json()["path"] == "/second" and second.json()["body_length"] == 0
    assert [(r.path, r.body) for r in upstream.requests] == [("/first", b"hello"),
                                                             ("/second", b"")]


def test_valid_request_followed_by_a_malformed_one_answers_first_then_400(proxied):
    proxy, upstream = proxied
    port = proxy.port("ingress")

    with RawConnection(port) as conn:
        conn.send(b"POST /first HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                  b"POST /smuggled HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                  b"GET /inner HTTP/1.1\r\nHost: a\r\n\r\n")
        first = conn.read_response()
        second = conn.read_response()
        closed = conn.wait_closed()

    assert first is not None and first.status == 200
    assert first.json()["body_length"] == 5
    assert second is not None and second.status == 400
    assert closed
    assert_upstream_saw_only_the_barrier(port, upstream, ["/first"])
    assert upstream.requests[0].body == b"hello"


def test_content_length_body_shorter_than_sent_does_not_leak_into_next_request(proxied):
    # Content-Length: 3 with "abcGET /x ..." after it: "abc" is the body, then a second
    # request starts with "GET /x", which is well formed and must be forwarded on its own.
    proxy, upstream = proxied
    port = proxy.port("ingress")

    with RawConnection(port) as conn:
        conn.send(b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
                  b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        first = conn.read_response()
        second = conn.read_response()

    assert first is not None and second is not None
    assert [(r.path, r.body) for r in upstream.requests] == [("/a", b"abc"), ("/x", b"")]


def test_chunked_body_with_bad_chunk_after_good_ones_never_completes_upstream(proxied):
    # The head is valid, so the request may already be on its way upstream when the bad chunk
    # arrives: the upstream must never see a complete request, and the client gets a 400.
    proxy, upstream = proxied
    port = proxy.port("ingress")

    with RawConnection(port) as conn:
        conn.send(HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        conn.send(b"5\r\nworldXX\r\n0\r\n\r\n")  # chunk data not followed by CRLF
        response = conn.read_response()
        closed = conn.wait_closed()

    assert response is not None and response.status == 400
    assert closed
    assert_upstream_saw_only_the_barrier(port, upstream)
