"""Connection and request limits of the HTTP listener: header size and count (431), the request
header read timeout (408, slowloris), the keep-alive idle timeout, the listener's connection
limit, max_requests_per_connection and the request body held while the upstream connects."""

import hashlib
import socket
import threading
import time

from harness import RawConnection, basic_config, http_get, wait_until

KIB = 1024
MIB = 1024 * KIB


def config_for(upstream, listener_extra=None, **http_options):
    """basic_config with HTTP listener options (they sit directly under `http:`)."""
    config = basic_config(upstream)
    listener = config["listeners"][0]
    listener["http"].update(http_options)
    listener.update(listener_extra or {})
    return config


def get(path, extra=b""):
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: a\r\n" + extra + b"\r\n"


def assert_upstream_saw_only_the_barrier(port, upstream, expected_paths=()):
    """A good request after the refused one: once it arrived, anything the refused one had
    caused upstream would have arrived too."""
    barrier = http_get(port, "/barrier")
    assert barrier.status == 200
    assert upstream.wait_for_requests(len(expected_paths) + 1, timeout=5)
    assert [r.path for r in upstream.requests] == [*expected_paths, "/barrier"]


def refused(port, data, timeout=5.0):
    """(response, closed) for `data` sent on a new connection."""
    with RawConnection(port, timeout=timeout) as conn:
        conn.send(data)
        response = conn.read_response(timeout=timeout)
        closed = conn.wait_closed(timeout=timeout)
    return response, closed


# -- header size and count -------------------------------------------------------------------

def test_request_headers_over_the_configured_size_get_431(make_proxy, http_upstream):
    proxy = make_proxy(config_for(http_upstream, max_request_headers_bytes=1024))
    port = proxy.port("ingress")

    ok = http_get(port, "/small", headers={"x-fill": "a" * 600})
    response, closed = refused(port, get("/big", b"X-Fill: " + b"a" * 2000 + b"\r\n"))

    assert ok.status == 200
    assert response is not None and response.status == 431
    assert response.header("connection") == "close"
    assert closed
    assert_upstream_saw_only_the_barrier(port, http_upstream, ["/small"])


def test_request_target_counts_toward_the_header_size_limit(make_proxy, http_upstream):
    proxy = make_proxy(config_for(http_upstream, max_request_headers_bytes=1024))
    port = proxy.port("ingress")

    response, closed = refused(port, get("/" + "p" * 2000))

    assert response is not None and response.status == 431
    assert closed
    assert_upstream_saw_only_the_barrier(port, http_upstream)


def test_headers_split_across_many_small_fields_hit_the_size_limit(make_proxy, http_upstream):
    proxy = make_proxy(config_for(http_upstream, max_request_headers_bytes=1024))
    port = proxy.port("ingress")
    fields = b"".join(b"X-F%d: %s\r\n" % (i, b"v" * 90) for i in range(15))  # ~1.4 KiB

    response, closed = refused(port, get("/many", fields))

    assert response is not None and response.status == 431
    assert closed
    assert_upstream_saw_only_the_barrier(port, http_upstream)


def test_default_header_limit_is_60_kib(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))
    port = proxy.port("ingress")

    ok = http_get(port, "/fits", headers={"x-big": "a" * (50 * KIB)})
    response, closed = refused(port, get("/too-big", b"X-Big: " + b"a" * (61 * KIB) + b"\r\n"))

    assert ok.status == 200
    assert len(http_upstream.requests[0].header("x-big")) == 50 * KIB
    assert response is not None and response.status == 431
    assert closed
    assert_upstream_saw_only_the_barrier(port, http_upstream, ["/fits"])


def test_more_headers_than_the_configured_count_get_431(make_proxy, http_upstream):
    proxy = make_proxy(config_for(http_upstream, max_request_headers_count=10))
    port = proxy.port("ingress")
    # Host plus 9 more: exactly the limit.
    at_limit = b"".join(b"X-H%d: v\r\n" % i for i in range(9))
    over_limit = b"".join(b"X-H%d: v\r\n" % i for i in range(10))

    ok, ok_closed = None, None
    with RawConnection(port) as conn:
        conn.send(get("/at-limit", at_limit))
        ok = conn.read_response()
        ok_closed = conn.closed
    response, closed = refused(port, get("/over-limit", over_limit))

    assert ok is not None and ok.status == 200 and not ok_closed
    assert http_upstream.requests[0].header("x-h8") == "v"
    assert response is not None and response.status == 431
    assert closed
    assert_upstream_saw_only_the_barrier(port, http_upstream, ["/at-limit"])


# -- timeouts --------------------------------------------------------------------------------

def test_slowloris_half_request_line_gets_408_after_request_headers_timeout(make_proxy,
                                                                             http_upstream):
    proxy = make_proxy(config_for(http_upstream, request_headers_timeout="500ms"))
    port = proxy.port("ingress")

    with RawConnection(port, timeout=5) as conn:
        started = time.monotonic()
        conn.send(b"GET /slow HT")
        response = conn.read_response(timeout=4)
        elapsed = time.monotonic() - started
        closed = conn.wait_closed(timeout=3)

    assert response is not None, "no 408 within 4 s of a 500 ms header timeout"
    assert response.status == 408
    assert response.header("connection") == "close"
    assert 0.4 <= elapsed < 3.0, elapsed
    assert closed
    assert_upstream_saw_only_the_barrier(port, http_upstream)


def test_trickled_headers_do_not_extend_the_request_headers_timeout(make_proxy, http_upstream):
    proxy = make_proxy(config_for(http_upstream, request_headers_timeout="500ms"))
    port = proxy.port("ingress")
    data = get("/trickle", b"X-Slow: " + b"z" * 40 + b"\r\n")

    with RawConnection(port, timeout=5) as conn:
        started = time.monotonic()
        elapsed = None
        for i in range(len(data) - 1):  # never the final byte
            try:
                conn.send(data[i:i + 1])
            except OSError:
                break
            if conn.read_until(b"\r\n\r\n", timeout=0.05) is not None:
                elapsed = time.monotonic() - started
                break
            if time.monotonic() - started > 4:
                break
        head = conn.buf
        closed = conn.wait_closed(timeout=3)

    assert elapsed is not None, "the trickling client was never cut off"
    assert 0.4 <= elapsed < 2.5, elapsed
    assert closed
    assert http_upstream.request_count == 0, head


def test_idle_keep_alive_connection_is_closed_after_idle_timeout(make_proxy, http_upstream):
    proxy = make_proxy(config_for(http_upstream, idle_timeout="500ms"))
    port = proxy.port("ingress")

    with RawConnection(port, timeout=5) as conn:
        conn.send(get("/one"))
        response = conn.read_response()
        done = time.monotonic()
        # Still usable well inside the timeout.
        time.sleep(0.2)
        conn.send(get("/two"))
        second = conn.read_response()
        done = time.monotonic()
        closed = conn.wait_closed(timeout=4)
        elapsed = time.monotonic() - done
        leftover = conn.buf

    assert response is not None and response.status == 200
    assert second is not None and second.json()["path"] == "/two"
    assert closed, "idle keep-alive connection was not closed"
    assert 0.4 <= elapsed < 3.0, elapsed
    assert leftover == b""  # closed silently: no 408 for a connection between requests
    assert [r.path for r in http_upstream.requests] == ["/one", "/two"]


def test_connection_that_never_sends_is_closed(make_proxy, http_upstream):
    proxy = make_proxy(config_for(http_upstream, idle_timeout="500ms",
                                  request_headers_timeout="5s"))

    with RawConnection(proxy.port("ingress"), timeout=5) as conn:
        started = time.monotonic()
        closed = conn.wait_closed(timeout=4)
        elapsed = time.monotonic() - started

    assert closed
    assert 0.4 <= elapsed < 3.0, elapsed


# -- connection and request counts -----------------------------------------------------------

def _served(port, path, timeout=2.0):
    """Whether a request on a new connection gets an answer within `timeout`."""
    try:
        with RawConnection(port, timeout=timeout) as conn:
            conn.send(get(path, b"Connection: close\r\n"))
            response = conn.read_response(timeout=timeout)
            return response is not None and response.status == 200
    except OSError:
        return False


def test_listener_max_connections_refuses_extra_connections(make_proxy, http_upstream):
    proxy = make_proxy(config_for(http_upstream, listener_extra={"max_connections": 2}))
    port = proxy.port("ingress")

    held = [RawConnection(port, timeout=5) for _ in range(2)]
    try:
        for i, conn in enumerate(held):
            conn.send(get(f"/held{i}"))
            response = conn.read_response()
            assert response is not None and response.status == 200

        # A third connection is accepted by the kernel, then closed without an answer.
        with RawConnection(port, timeout=5) as third:
            try:
                third.send(get("/third"))
            except OSError:
                pass
            answer = third.read_response(timeout=3)
            third_closed = third.wait_closed(timeout=3)
        assert answer is None
        assert third_closed, "the connection over the limit was neither closed nor refused"
        assert "/third" not in [r.path for r in http_upstream.requests]

        held.pop().close()
        # Once the proxy has seen the close, a new connection is served again.
        wait_until(lambda: _served(port, "/after"), timeout=5,
                   message="no connection accepted after one of the held ones closed")
    finally:
        for conn in held:
            conn.close()

    assert "/after" in [r.path for r in http_upstream.requests]


def test_max_requests_per_connection_closes_after_the_last(make_proxy, http_upstream):
    proxy = make_proxy(config_for(http_upstream, max_requests_per_connection=3))

    with RawConnection(proxy.port("ingress"), timeout=5) as conn:
        responses = []
        for i in range(3):
            conn.send(get(f"/r{i}"))
            responses.append(conn.read_response())
        closed = conn.wait_closed(timeout=3)

    assert all(r is not None and r.status == 200 for r in responses)
    assert [r.header("connection") for r in responses[:2]] == [None, None]
    assert responses[2].header("connection") == "close"
    assert closed
    assert [r.path for r in http_upstream.requests] == ["/r0", "/r1", "/r2"]


def test_max_requests_per_connection_with_pipelining_drops_the_excess(make_proxy, http_upstream):
    proxy = make_proxy(config_for(http_upstream, max_requests_per_connection=2))

    with RawConnection(proxy.port("ingress"), timeout=5) as conn:
        conn.send(get("/a") + get("/b") + get("/c"))
        first = conn.read_response()
        second = conn.read_response()
        rest = conn.read_until_close(timeout=3)

    assert first is not None and second is not None
    assert (first.status, second.status) == (200, 200)
    assert first.header("connection") is None
    assert second.header("connection") == "close"
    assert rest == b""  # /c is never answered: the client must retry it elsewhere
    assert http_upstream.wait_for_requests(2)
    assert [r.path for r in http_upstream.requests] == ["/a", "/b"]


def test_half_open_connection_is_not_counted_forever(make_proxy, http_upstream):
    """A client that vanished (RST) frees its slot: max_connections 1 still serves new ones."""
    proxy = make_proxy(config_for(http_upstream, listener_extra={"max_connections": 1}))
    port = proxy.port("ingress")

    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()  # RST

    wait_until(lambda: _served(port, "/after-reset"), timeout=5,
               message="the reset connection's slot was never freed")


def test_request_timeout_answers_408_when_the_body_never_completes(make_proxy, http_upstream):
    proxy = make_proxy(config_for(http_upstream, request_timeout="500ms"))
    with RawConnection(proxy.port("ingress"), timeout=5) as conn:
        conn.send(b"POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab")
        response = conn.read_response(timeout=3)
        assert response is not None, "no answer after the request timeout"
        assert response.status == 408
        assert response.header("connection") == "close"
        assert conn.wait_closed(timeout=3)


def test_request_timeout_does_not_cut_a_request_that_completes(make_proxy, http_upstream):
    proxy = make_proxy(config_for(http_upstream, request_timeout="500ms"))
    with RawConnection(proxy.port("ingress"), timeout=5) as conn:
        conn.send(b"POST /ok HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab")
        time.sleep(0.2)
        conn.send(b"cd")
        response = conn.read_response(timeout=3)
        assert response is not None and response.status == 200
        assert response.json()["body_length"] == 4
        # Completed in time: the timer is gone, the connection stays usable past 500 ms.
        time.sleep(0.6)
        conn.send(get("/again"))
        again = conn.read_response(timeout=3)
        assert again is not None and again.status == 200


# -- request body held while no upstream connection is free -------------------------------------

def test_body_waiting_for_an_upstream_connection_stops_the_client_at_the_buffer_limit(
        make_proxy, http_upstream):
    """One upstream connection, busy: the upload waits in the pending queue. Past
    max_request_body_buffer_bytes the proxy stops reading the client (it does not hold the
    body), so the client's sends stall; once the connection frees, the whole body arrives."""
    size = 48 * MIB
    config = config_for(http_upstream, max_request_body_buffer_bytes="64KiB")
    config["clusters"][0]["circuit_breakers"] = {"max_connections": 1,
                                                 "max_pending_requests": 1}
    proxy = make_proxy(config, concurrency=1)
    port = proxy.port("ingress")
    busy = []
    holder = threading.Thread(target=lambda: busy.append(http_get(port, "/delay/1500")),
                              daemon=True)
    holder.start()
    assert http_upstream.wait_for_requests(1, timeout=5)

    body = b"u" * size
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % size)
        sock.setblocking(False)
        sent = 0
        deadline = time.monotonic() + 0.8  # well before the busy request ends
        while sent < size and time.monotonic() < deadline:
            try:
                sent += sock.send(body[sent:sent + 256 * KIB])
            except BlockingIOError:
                time.sleep(0.005)
        stalled_at = sent
        sock.settimeout(30)
        sock.sendall(body[sent:])
        response = b""
        while b"}" not in response:
            data = sock.recv(65536)
            if not data:
                break
            response += data
    finally:
        sock.close()
    holder.join(timeout=5)

    # Only socket buffers (not the proxy) hold the rest; without the pause all 48 MiB go in.
    assert stalled_at < size // 2, f"{stalled_at} bytes accepted while the upstream was busy"
    assert response.startswith(b"HTTP/1.1 200"), response[:200]
    assert [r.status for r in busy] == [200]
    assert [r.path for r in http_upstream.requests] == ["/delay/1500", "/upload"]
    upload = http_upstream.requests[1]
    assert len(upload.body) == size
    assert hashlib.sha256(upload.body).digest() == hashlib.sha256(body).digest()
    assert upload.conn_id == http_upstream.requests[0].conn_id  # it waited for that connection
