"""Upstream failures through the real proxy: refused connections, timeouts, resets, early
closes, garbage, truncated bodies, and a large response to a slow reader (backpressure)."""

import socket
import time

from harness import (RawConnection, bootstrap, cluster, curl, http_get, http_listener,
                     parse_response, unused_port, wait_until)
from upstreams.base import ThreadedServer
from upstreams.http_echo import Response, pattern_bytes, sha256_hex

MiB = 1024 * 1024


def single_cluster_config(*endpoints, timeout="5s", **cluster_extra):
    return bootstrap([http_listener("ingress", "backend", timeout=timeout)],
                     [cluster("backend", endpoints, **cluster_extra)])


class ScriptedUpstream(ThreadedServer):
    """Reads one request head per connection, then runs script(sock) to misbehave."""

    def __init__(self, script):
        super().__init__(name="scripted")
        self.script = script
        self.heads = []
        self.first_reads = []  # the bytes read up to the end of the head (body bytes included)
        self.results = []  # whatever a script wants to report

    def handle_connection(self, sock, conn_id):
        buf = b""
        deadline = time.monotonic() + 5
        while b"\r\n\r\n" not in buf:
            data = self.recv_some(sock, deadline=deadline)
            if not data:
                return
            buf += data
        with self._lock:
            self.heads.append(buf.split(b"\r\n\r\n", 1)[0])
            self.first_reads.append(buf)
        self.script(self, sock)


def _linger_until_peer_closes(server, sock):
    deadline = time.monotonic() + 3
    while server.recv_some(sock, deadline=deadline):
        pass


def curl_exit_code(url, timeout=10):
    proc = curl(["--output", "/dev/null", url], timeout=timeout)
    return proc.returncode, proc.stderr.decode(errors="replace")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


# -- connect failures ----------------------------------------------------------------------------

def test_connection_refused_gives_503_naming_the_reason_quickly(make_proxy):
    proxy = make_proxy(single_cluster_config(unused_port()), concurrency=1)

    started = time.monotonic()
    r = http_get(proxy.port("ingress"), "/refused")
    elapsed = time.monotonic() - started

    assert r.status == 503
    assert b"connection_refused" in r.body, r.body
    assert elapsed < 2.0


def test_connect_timeout_gives_503(make_proxy):
    # A listening socket whose accept queue is full never completes new handshakes.
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(0)
    fillers = []
    try:
        for _ in range(8):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(blocker.getsockname())
            except BlockingIOError:
                pass
            fillers.append(s)
        time.sleep(0.1)
        proxy = make_proxy(single_cluster_config(blocker.getsockname()[1],
                                                 connect_timeout="300ms"), concurrency=1)
        started = time.monotonic()
        r = http_get(proxy.port("ingress"), "/ct")
        elapsed = time.monotonic() - started

        assert r.status == 503
        assert b"connect_timeout" in r.body, r.body
        assert 0.25 <= elapsed < 3.0
    finally:
        for s in fillers:
            s.close()
        blocker.close()


# -- timeouts ------------------------------------------------------------------------------------

def test_route_timeout_gives_504(make_proxy, http_upstream):
    proxy = make_proxy(single_cluster_config(http_upstream, timeout="300ms"), concurrency=1)

    started = time.monotonic()
    r = http_get(proxy.port("ingress"), "/delay/3000")
    elapsed = time.monotonic() - started

    assert r.status == 504
    assert b"timeout" in r.body
    assert 0.25 <= elapsed < 2.0
    # A fast request on the same route is unaffected.
    assert http_get(proxy.port("ingress"), "/fast").status == 200


# -- resets and early closes ---------------------------------------------------------------------

def test_reset_mid_body_is_a_failed_transfer_for_curl(make_proxy, http_upstream):
    proxy = make_proxy(single_cluster_config(http_upstream), concurrency=1)

    code, err = curl_exit_code(proxy.url("ingress", "/reset-mid-body/65536"))

    # 18: partial file (fewer bytes than Content-Length); 56: failure receiving (reset).
    assert code in (18, 56), (code, err)


def test_reset_mid_body_never_looks_complete_on_the_wire(make_proxy, http_upstream):
    proxy = make_proxy(single_cluster_config(http_upstream), concurrency=1)

    with RawConnection(proxy.port("ingress")) as conn:
        conn.send(b"GET /reset-mid-body/65536 HTTP/1.1\r\nhost: x\r\n\r\n")
        data = conn.read_until_close(timeout=5)
        assert conn.closed

    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b"content-length: 65536" in head.lower()
    assert len(body) < 65536
    assert body == pattern_bytes(65536)[:len(body)]
    assert parse_response(data, eof=False) is None


def test_reset_before_response_gives_503(make_proxy, http_upstream):
    proxy = make_proxy(single_cluster_config(http_upstream), concurrency=1)

    r = http_get(proxy.port("ingress"), "/reset")

    assert r.status == 503
    assert b"upstream_reset_before_response_started" in r.body, r.body
    assert http_upstream.request_count == 1  # a fresh connection: never retried


def test_upstream_closing_before_responding_gives_503(make_proxy):
    def close_silently(server, sock):
        sock.shutdown(socket.SHUT_WR)
        _linger_until_peer_closes(server, sock)

    upstream = ScriptedUpstream(close_silently).start()
    try:
        proxy = make_proxy(single_cluster_config(upstream), concurrency=1)
        r = http_get(proxy.port("ingress"), "/closes")

        assert r.status == 503
        assert b"upstream_reset_before_response_started" in r.body, r.body
        assert len(upstream.heads) == 1  # a fresh connection is not retried
    finally:
        upstream.stop()


def test_upstream_sending_garbage_gives_502(make_proxy):
    def garbage(server, sock):
        server.send_all(sock, b"this is not http at all\r\n\r\n")
        _linger_until_peer_closes(server, sock)

    upstream = ScriptedUpstream(garbage).start()
    try:
        proxy = make_proxy(single_cluster_config(upstream), concurrency=1)
        r = http_get(proxy.port("ingress"), "/garbage")

        assert r.status == 502
        assert b"protocol error" in r.body, r.body
    finally:
        upstream.stop()


def test_chunked_response_truncated_by_upstream_close_resets_the_client(make_proxy):
    def truncated(server, sock):
        server.send_all(sock, b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                              b"10\r\n0123456789abcdef\r\n")
        time.sleep(0.1)
        sock.shutdown(socket.SHUT_WR)  # a clean FIN, but the body never ended
        _linger_until_peer_closes(server, sock)

    upstream = ScriptedUpstream(truncated).start()
    try:
        proxy = make_proxy(single_cluster_config(upstream), concurrency=1)

        with RawConnection(proxy.port("ingress")) as conn:
            conn.send(b"GET /trunc HTTP/1.1\r\nhost: x\r\n\r\n")
            data = conn.read_until_close(timeout=5)
            assert conn.closed
            assert conn.reset, data  # an RST, not a FIN the client could take for an ending

        assert data.startswith(b"HTTP/1.1 200")
        assert b"0123456789abcdef" in data
        assert not data.endswith(b"0\r\n\r\n")
        assert parse_response(data, eof=True) is None

        code, err = curl_exit_code(proxy.url("ingress", "/trunc"))
        assert code in (18, 56), (code, err)
    finally:
        upstream.stop()


def test_close_delimited_response_is_forwarded_completely(make_proxy, http_upstream):
    proxy = make_proxy(single_cluster_config(http_upstream), concurrency=1)

    r = http_get(proxy.port("ingress"), "/no-length/100000")

    assert r.status == 200
    assert r.body == pattern_bytes(100000)


def test_upstream_error_status_is_passed_through_not_replaced(make_proxy, http_upstream):
    proxy = make_proxy(single_cluster_config(http_upstream), concurrency=1)

    r = http_get(proxy.port("ingress"), "/status/503")

    assert r.status == 503
    assert r.header("x-upstream") == "echo"
    assert r.json()["path"] == "/status/503"


# -- backpressure --------------------------------------------------------------------------------

def slow_reader_growth_mib(proxy, size, expected):
    """Fetches `size` bytes with a client that first does not read at all for a second, then
    reads slowly; checks the body; returns how far the proxy's RSS grew above its start (MiB)."""
    baseline = rss_kib(proxy.pid)
    sock = socket.create_connection(("127.0.0.1", proxy.port("ingress")), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    peak = baseline
    received = bytearray()
    try:
        sock.sendall(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n")
        # Not reading at all for a while: everything in flight piles up somewhere.
        time.sleep(1.0)
        peak = max(peak, rss_kib(proxy.pid))
        deadline = time.monotonic() + 30
        reads = 0
        while time.monotonic() < deadline:
            chunk = sock.recv(256 * 1024)
            if not chunk:
                break
            received += chunk
            reads += 1
            if reads % 16 == 0:
                peak = max(peak, rss_kib(proxy.pid))
                time.sleep(0.002)
            head_end = received.find(b"\r\n\r\n")
            if head_end >= 0 and len(received) - head_end - 4 >= size:
                break
    finally:
        sock.close()

    head_end = received.find(b"\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 200")
    body = bytes(received[head_end + 4:])
    assert len(body) == size
    assert sha256_hex(body) == sha256_hex(expected)
    return (peak - baseline) / 1024


def test_large_response_to_a_slow_reader_keeps_proxy_memory_bounded(make_proxy, http_upstream):
    size = 20 * MiB
    expected = pattern_bytes(size)
    http_upstream.route("/big", lambda req, up: Response(200, expected))
    proxy = make_proxy(single_cluster_config(http_upstream, timeout="60s"), concurrency=1)
    growth_mib = slow_reader_growth_mib(proxy, size, expected)
    # Watermarks bound what the proxy holds to a few buffers, far below the 20 MiB body.
    assert growth_mib < 8, f"proxy RSS grew by {growth_mib:.1f} MiB"


def test_per_connection_buffer_limit_is_what_the_proxy_holds_for_a_slow_reader(
        make_proxy, http_upstream):
    # A limit far above the default (1 MiB) and above what the sockets hold: the proxy now keeps
    # reading the upstream until about that much waits for the client, and no further.
    size, limit = 48 * MiB, 24 * MiB
    expected = pattern_bytes(size)
    http_upstream.route("/big", lambda req, up: Response(200, expected))
    config = single_cluster_config(http_upstream, timeout="60s")
    config["listeners"][0]["per_connection_buffer_limit_bytes"] = limit
    proxy = make_proxy(config, concurrency=1)
    growth_mib = slow_reader_growth_mib(proxy, size, expected)
    assert 20 < growth_mib < 40, f"proxy RSS grew by {growth_mib:.1f} MiB with a 24 MiB limit"


def test_slow_reader_does_not_stall_other_clients(make_proxy, http_upstream):
    size = 16 * MiB
    http_upstream.route("/big", lambda req, up: Response(200, pattern_bytes(size)))
    proxy = make_proxy(single_cluster_config(http_upstream, timeout="60s"), concurrency=1)
    port = proxy.port("ingress")

    stalled = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        stalled.sendall(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n")
        time.sleep(0.5)  # its response is now stuck behind a full socket

        started = time.monotonic()
        statuses = [http_get(port, f"/other/{i}").status for i in range(5)]
        assert statuses == [200] * 5
        assert time.monotonic() - started < 3.0
    finally:
        stalled.close()


def test_upload_to_a_slow_reading_upstream_keeps_proxy_memory_bounded(make_proxy):
    size = 24 * MiB

    def slow_reader(server, sock):
        time.sleep(1.5)  # the body piles up in front of us meanwhile
        # The head was read with the first bytes of the body; count those too.
        head = server.heads[-1]
        received = len(server.first_reads[-1]) - len(head) - 4
        deadline = time.monotonic() + 30
        while received < size:
            data = server.recv_some(sock, deadline=deadline)
            if not data:
                return
            received += len(data)
        server.results.append(received)
        server.send_all(sock, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        _linger_until_peer_closes(server, sock)

    upstream = ScriptedUpstream(slow_reader).start()
    try:
        proxy = make_proxy(single_cluster_config(upstream, timeout="60s"), concurrency=1)
        baseline = rss_kib(proxy.pid)
        sock = socket.create_connection(("127.0.0.1", proxy.port("ingress")), timeout=30)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        peak = baseline
        try:
            sock.sendall(b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n" % size)
            chunk = b"u" * (256 * 1024)
            for i in range(size // len(chunk)):
                sock.sendall(chunk)
                if i % 8 == 0:
                    peak = max(peak, rss_kib(proxy.pid))
            sock.settimeout(30)
            response = b""
            while b"ok" not in response:
                data = sock.recv(4096)
                if not data:
                    break
                response += data
        finally:
            sock.close()

        assert response.startswith(b"HTTP/1.1 200"), response
        assert upstream.results == [size]
        growth_mib = (peak - baseline) / 1024
        assert growth_mib < 8, f"proxy RSS grew by {growth_mib:.1f} MiB"
    finally:
        upstream.stop()


def test_client_leaving_mid_response_closes_the_upstream_connection(make_proxy, http_upstream):
    proxy = make_proxy(single_cluster_config(http_upstream, timeout="30s"), concurrency=1)
    port = proxy.port("ingress")

    with RawConnection(port) as conn:
        conn.send(b"GET /bytes/%d HTTP/1.1\r\nhost: x\r\n\r\n" % (32 * MiB))
        assert conn.read_until(b"\r\n\r\n") is not None
    # The half-sent response can never be finished: that upstream connection must go.
    wait_until(lambda: http_upstream.connections_closed == 1, timeout=5,
               message="the upstream connection of the abandoned response to close")

    r = http_get(port, "/after")
    assert r.status == 200
    assert http_upstream.connections_accepted == 2


def test_client_leaving_while_waiting_leaks_nothing(make_proxy, http_upstream):
    # A FIN from a client whose request is complete may be a half-close (it still wants the
    # response), so the exchange goes on; once it ends, nothing of it may remain.
    proxy = make_proxy(single_cluster_config(http_upstream), concurrency=1)
    port = proxy.port("ingress")

    with RawConnection(port) as conn:
        conn.send(b"GET /delay/500 HTTP/1.1\r\nhost: x\r\n\r\n")
        assert http_upstream.wait_for_requests(1, timeout=5)

    wait_until(lambda: proxy.stats()["listener.ingress.downstream_cx_active"] == 0,
               timeout=5, message="the abandoned downstream connection to be released")
    wait_until(lambda: proxy.stats()["cluster.backend.upstream_rq_active"] == 0, timeout=5,
               message="the upstream request slot to be released")
    assert http_get(port, "/after").status == 200


def test_half_closed_client_receives_a_large_response_completely(make_proxy, http_upstream):
    # The client reads slowly, so part of the response is still queued in the proxy when the
    # upstream's last byte arrives (the kernel buffers alone cannot hold 4 MiB here).
    size = 4 * MiB
    proxy = make_proxy(single_cluster_config(http_upstream, timeout="30s"), concurrency=1)

    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.settimeout(10)
        s.connect(("127.0.0.1", proxy.port("ingress")))
        s.sendall(b"GET /bytes/%d HTTP/1.1\r\nhost: x\r\n\r\n" % size)
        s.shutdown(socket.SHUT_WR)
        data = b""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            chunk = s.recv(16 * 1024)
            if not chunk:
                break
            data += chunk
            time.sleep(0.003)
    finally:
        s.close()

    parsed = parse_response(data, eof=False)
    assert parsed is not None, f"truncated: {len(data)} bytes"
    assert parsed[0].body == pattern_bytes(size)


def test_timeout_after_response_headers_resets_the_client(make_proxy):
    def stall_mid_body(server, sock):
        server.send_all(sock, b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
        _linger_until_peer_closes(server, sock)

    upstream = ScriptedUpstream(stall_mid_body).start()
    try:
        proxy = make_proxy(single_cluster_config(upstream, timeout="400ms"), concurrency=1)
        started = time.monotonic()
        with RawConnection(proxy.port("ingress")) as conn:
            conn.send(b"GET /stall HTTP/1.1\r\nhost: x\r\n\r\n")
            data = conn.read_until_close(timeout=5)
            assert conn.closed
        elapsed = time.monotonic() - started

        assert data.startswith(b"HTTP/1.1 200")
        assert data.endswith(b"0123456789")
        assert parse_response(data, eof=False) is None  # never looks complete
        assert 0.3 <= elapsed < 2.5
    finally:
        upstream.stop()


def test_upstream_connection_close_header_is_not_forwarded_and_not_reused(make_proxy,
                                                                          http_upstream):
    proxy = make_proxy(single_cluster_config(http_upstream), concurrency=1)

    with RawConnection(proxy.port("ingress")) as conn:
        for _ in range(3):
            conn.send(b"GET /close HTTP/1.1\r\nhost: x\r\n\r\n")
            r = conn.read_response(timeout=5)
            assert r is not None and r.status == 200
            # The upstream's hop-by-hop "close" is about its own connection, not the client's.
            assert r.header("connection") is None
        assert not conn.closed

    assert http_upstream.connections_accepted == 3


def test_upstream_closing_after_every_response_never_fails_a_request(make_proxy,
                                                                     make_http_upstream):
    # The upstream closes (FIN, unannounced) right after each response, so every idle
    # connection the proxy holds is about to die: each request must still succeed.
    upstream = make_http_upstream(name="closer", close_after_response=True)
    proxy = make_proxy(single_cluster_config(upstream), concurrency=1)
    port = proxy.port("ingress")

    statuses = [http_get(port, f"/c/{i}").status for i in range(15)]

    assert statuses == [200] * 15
    assert all(r.index == 1 for r in upstream.requests)
