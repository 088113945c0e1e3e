"""Upstream behaviour through the real proxy: keep-alive reuse, load balancing, strict_dns,
circuit breakers, the upstream idle timeout and the keep-alive race."""

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from harness import (RawConnection, bootstrap, cluster, http_get, http_listener, http_request,
                     unused_port, wait_until)
from upstreams.base import ThreadedServer


def single_cluster_config(*endpoints, timeout="5s", **cluster_extra):
    return bootstrap([http_listener("ingress", "backend", timeout=timeout)],
                     [cluster("backend", endpoints, **cluster_extra)])


def parallel(fn, args, workers):
    """Runs fn(arg) for every arg on `workers` threads; returns the results in order."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, args, timeout=30))


class SecondRequestFinUpstream(ThreadedServer):
    """Answers the first request of each connection with a keep-alive 200, then closes the
    connection (FIN, no response) as soon as the next request's head arrives: the keep-alive race,
    made deterministic. Records (conn_id, request_index, method, body) for every request read."""

    def __init__(self):
        super().__init__(name="fin-on-second")
        self.seen = []

    def handle_connection(self, sock, conn_id):
        buf = b""
        index = 0
        while True:
            while b"\r\n\r\n" not in buf:
                data = self.recv_some(sock, deadline=time.monotonic() + 5)
                if not data:
                    return
                buf += data
            head, _, buf = buf.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            while len(buf) < length:
                data = self.recv_some(sock, deadline=time.monotonic() + 5)
                if not data:
                    return
                buf += data
            body, buf = buf[:length], buf[length:]
            index += 1
            with self._lock:
                self.seen.append((conn_id, index, lines[0].split(" ")[0], body))
            if index >= 2:
                sock.shutdown(socket.SHUT_WR)  # FIN without a word
                self.recv_some(sock, deadline=time.monotonic() + 2)
                return
            payload = f"conn={conn_id}".encode()
            self.send_all(sock, b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s"
                          % (len(payload), payload))


# -- keep-alive reuse ----------------------------------------------------------------------------

def test_sequential_requests_reuse_one_upstream_connection(make_proxy, http_upstream):
    proxy = make_proxy(single_cluster_config(http_upstream), concurrency=1)

    responses = [http_get(proxy.port("ingress"), f"/seq/{i}") for i in range(10)]

    assert [r.status for r in responses] == [200] * 10
    assert http_upstream.request_count == 10
    assert http_upstream.connections_accepted == 1
    assert [r.index for r in http_upstream.requests] == list(range(1, 11))


# -- load balancing ------------------------------------------------------------------------------

def test_round_robin_spreads_evenly_over_three_upstreams(make_proxy, make_http_upstream):
    ups = [make_http_upstream(name=f"rr{i}") for i in range(3)]
    proxy = make_proxy(single_cluster_config(*ups, lb_policy="round_robin"), concurrency=1)

    names = [http_get(proxy.port("ingress"), "/rr").header("x-upstream") for _ in range(12)]

    assert sorted(u.request_count for u in ups) == [4, 4, 4]
    # Strict rotation: every window of three consecutive requests hits each upstream once.
    for i in range(0, 12, 3):
        assert sorted(names[i:i + 3]) == ["rr0", "rr1", "rr2"], names


def test_random_reaches_every_upstream(make_proxy, make_http_upstream):
    ups = [make_http_upstream(name=f"rnd{i}") for i in range(3)]
    proxy = make_proxy(single_cluster_config(*ups, lb_policy="random"), concurrency=1)

    statuses = [http_get(proxy.port("ingress"), "/rnd").status for _ in range(60)]

    assert statuses == [200] * 60
    counts = [u.request_count for u in ups]
    assert sum(counts) == 60
    assert all(c > 0 for c in counts), counts


def test_least_request_avoids_the_slow_upstream_under_concurrency(make_proxy,
                                                                  make_http_upstream):
    fast = [make_http_upstream(name=f"fast{i}") for i in range(2)]
    slow = make_http_upstream(name="slow")
    slow.route("/", lambda req, up: _delayed_echo(req, up, 400))
    proxy = make_proxy(single_cluster_config(*fast, slow, lb_policy="least_request"),
                       concurrency=1)
    port = proxy.port("ingress")

    def client(_):
        return [http_get(port, "/lr").status for _ in range(6)]

    results = parallel(client, range(8), workers=8)

    assert [s for r in results for s in r] == [200] * 48
    counts = {u.name: u.request_count for u in (*fast, slow)}
    assert sum(counts.values()) == 48
    # Round robin would give the slow one 16; least request keeps it well below either fast one.
    assert counts["slow"] < counts["fast0"] and counts["slow"] < counts["fast1"], counts
    assert counts["slow"] <= 10, counts


def _delayed_echo(req, up, ms):
    r = up.echo_response(req)
    r.delay_ms = ms
    return r


# -- strict_dns ----------------------------------------------------------------------------------

def test_strict_dns_cluster_resolves_localhost(make_proxy, http_upstream):
    config = single_cluster_config(f"localhost:{http_upstream.port}", type="strict_dns",
                                   dns_refresh_rate="1s")
    proxy = make_proxy(config, concurrency=1)

    # The first resolution runs at start; allow it a moment before requiring success.
    def ok():
        return http_get(proxy.port("ingress"), "/dns").status == 200
    wait_until(ok, timeout=5, interval=0.1, message="a 200 through the strict_dns cluster")
    responses = [http_get(proxy.port("ingress"), "/dns") for _ in range(5)]

    assert [r.status for r in responses] == [200] * 5
    assert http_upstream.last_request.path == "/dns"


# -- circuit breakers ----------------------------------------------------------------------------

def test_max_connections_with_no_pending_queue_rejects_the_second_request(make_proxy,
                                                                          http_upstream):
    config = single_cluster_config(http_upstream, circuit_breakers={
        "max_connections": 1, "max_pending_requests": 0})
    proxy = make_proxy(config, concurrency=1)
    port = proxy.port("ingress")

    results = parallel(lambda i: http_get(port, "/delay/700"), range(2), workers=2)

    statuses = sorted(r.status for r in results)
    assert statuses == [200, 503], results
    rejected = next(r for r in results if r.status == 503)
    assert b"overflow" in rejected.body, rejected.body
    assert http_upstream.request_count == 1
    assert http_upstream.connections_accepted == 1
    stats = proxy.stats()
    assert stats["cluster.backend.upstream_rq_pending_overflow"] == 1
    assert stats["cluster.backend.upstream_rq_active"] == 0


def test_max_requests_rejects_requests_beyond_the_limit(make_proxy, http_upstream):
    config = single_cluster_config(http_upstream, circuit_breakers={"max_requests": 1})
    proxy = make_proxy(config, concurrency=1)
    port = proxy.port("ingress")

    results = parallel(lambda i: http_get(port, "/delay/700"), range(3), workers=3)

    statuses = sorted(r.status for r in results)
    assert statuses == [200, 503, 503], results
    for r in results:
        if r.status == 503:
            assert b"max_requests" in r.body, r.body
    assert http_upstream.request_count == 1
    # The slot is released once the request completes.
    assert http_get(port, "/after").status == 200


def test_max_pending_requests_queues_up_to_the_limit(make_proxy, http_upstream):
    config = single_cluster_config(http_upstream, circuit_breakers={
        "max_connections": 1, "max_pending_requests": 1})
    proxy = make_proxy(config, concurrency=1)
    port = proxy.port("ingress")

    def one(i):
        time.sleep(0.15 * i)  # arrive in order: active, queued, rejected
        return http_get(port, "/delay/600")

    results = parallel(one, range(3), workers=3)

    assert [r.status for r in results] == [200, 200, 503], results
    assert b"max_pending_requests" in results[2].body
    # The queued request waited for the single connection and then reused it.
    assert http_upstream.connections_accepted == 1
    assert http_upstream.request_count == 2


# -- upstream idle timeout -----------------------------------------------------------------------

def test_idle_upstream_connection_is_closed_after_the_cluster_idle_timeout(make_proxy,
                                                                           http_upstream):
    proxy = make_proxy(single_cluster_config(http_upstream, idle_timeout="300ms"), concurrency=1)

    assert http_get(proxy.port("ingress"), "/idle").status == 200
    started = time.monotonic()
    assert http_upstream.open_connections == 1  # kept alive right after the response

    wait_until(lambda: http_upstream.connections_closed == 1, timeout=3,
               message="the proxy to close the idle upstream connection")
    assert time.monotonic() - started >= 0.2
    # A new request opens a new connection.
    assert http_get(proxy.port("ingress"), "/again").status == 200
    assert http_upstream.connections_accepted == 2


def test_max_requests_per_connection_rotates_upstream_connections(make_proxy, http_upstream):
    proxy = make_proxy(single_cluster_config(http_upstream, max_requests_per_connection=2),
                       concurrency=1)

    statuses = [http_get(proxy.port("ingress"), "/mr").status for _ in range(6)]

    assert statuses == [200] * 6
    assert http_upstream.connections_accepted == 3
    assert [r.index for r in http_upstream.requests] == [1, 2] * 3


# -- the keep-alive race -------------------------------------------------------------------------

def test_get_after_upstream_silently_closed_an_idle_connection_succeeds(make_proxy,
                                                                        make_http_upstream):
    upstream = make_http_upstream(name="idle-closer", idle_close_ms=100)
    proxy = make_proxy(single_cluster_config(upstream), concurrency=1)
    port = proxy.port("ingress")

    assert http_get(port, "/first").status == 200
    time.sleep(0.25)
    second = http_get(port, "/second")

    assert second.status == 200, second.body
    assert second.json()["path"] == "/second"
    assert upstream.connections_accepted == 2


def test_post_after_upstream_silently_closed_an_idle_connection_succeeds(make_proxy,
                                                                         make_http_upstream):
    upstream = make_http_upstream(name="idle-closer", idle_close_ms=100)
    proxy = make_proxy(single_cluster_config(upstream), concurrency=1)
    port = proxy.port("ingress")

    assert http_request(port, "POST", "/first", body=b"a" * 100).status == 200
    time.sleep(0.25)
    second = http_request(port, "POST", "/second", body=b"small body")

    assert second.status == 200, second.body
    assert second.json()["body_length"] == len(b"small body")
    assert upstream.last_request.body == b"small body"
    assert upstream.connections_accepted == 2


def test_requests_around_the_upstream_idle_close_all_succeed(make_proxy, make_http_upstream):
    # Sweeps the moment of reuse across the upstream's idle close, so that some requests cross
    # its FIN on the wire. Every one must still succeed (GET is safe to resend).
    upstream = make_http_upstream(name="idle-closer", idle_close_ms=100)
    proxy = make_proxy(single_cluster_config(upstream), concurrency=1)
    port = proxy.port("ingress")

    statuses = []
    for i in range(12):
        statuses.append(http_get(port, f"/sweep/{i}").status)
        time.sleep(0.094 + 0.001 * i)
    statuses.append(http_get(port, "/sweep/last").status)

    assert statuses == [200] * 13


def test_get_on_a_reused_connection_closed_before_responding_is_retried(make_proxy):
    upstream = SecondRequestFinUpstream().start()
    try:
        proxy = make_proxy(single_cluster_config(upstream), concurrency=1)
        port = proxy.port("ingress")

        assert http_get(port, "/one").body == b"conn=1"
        second = http_get(port, "/two")

        assert second.status == 200
        assert second.body == b"conn=2"  # answered on a fresh connection
        assert [(c, i, m) for c, i, m, _ in upstream.seen] == [(1, 1, "GET"), (1, 2, "GET"),
                                                                (2, 1, "GET")]
    finally:
        upstream.stop()


def test_post_with_body_on_a_reused_connection_closed_before_responding_is_not_replayed(
        make_proxy):
    # The upstream may have acted on a non-idempotent request it read: never send it twice.
    upstream = SecondRequestFinUpstream().start()
    try:
        proxy = make_proxy(single_cluster_config(upstream), concurrency=1)
        port = proxy.port("ingress")

        assert http_get(port, "/one").status == 200
        second = http_request(port, "POST", "/two", body=b"pay once")

        assert second.status == 503, second.body
        assert b"upstream_reset_before_response_started" in second.body
        posts = [(c, i, b) for c, i, m, b in upstream.seen if m == "POST"]
        assert posts == [(1, 2, b"pay once")]
    finally:
        upstream.stop()


def test_concurrent_clients_share_a_bounded_set_of_upstream_connections(make_proxy,
                                                                        http_upstream):
    proxy = make_proxy(single_cluster_config(http_upstream), concurrency=1)
    port = proxy.port("ingress")
    lock = threading.Lock()
    statuses = []

    def client(i):
        for j in range(5):
            s = http_get(port, f"/c/{i}/{j}").status
            with lock:
                statuses.append(s)

    parallel(client, range(4), workers=4)

    assert statuses == [200] * 20
    assert http_upstream.request_count == 20
    # Never more upstream connections than requests in flight at once.
    assert 1 <= http_upstream.connections_accepted <= 4


def test_ipv6_upstream_endpoint(make_proxy, make_http_upstream):
    upstream = make_http_upstream(name="v6", host="::1")
    proxy = make_proxy(single_cluster_config(upstream.address), concurrency=1)

    r = http_get(proxy.port("ingress"), "/v6")

    assert r.status == 200
    assert r.header("x-upstream") == "v6"
    assert upstream.last_request.header("x-forwarded-for") == "127.0.0.1"


def test_interim_responses_from_the_upstream_are_not_forwarded(make_proxy):
    class InterimUpstream(ThreadedServer):
        def handle_connection(self, sock, conn_id):
            buf = b""
            while b"\r\n\r\n" not in buf:
                data = self.recv_some(sock, deadline=time.monotonic() + 5)
                if not data:
                    return
                buf += data
            self.send_all(sock, b"HTTP/1.1 100 Continue\r\n\r\n"
                                b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\n"
                                b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfinal")
            self.recv_some(sock, deadline=time.monotonic() + 2)

    upstream = InterimUpstream(name="interim").start()
    try:
        proxy = make_proxy(single_cluster_config(upstream), concurrency=1)
        with RawConnection(proxy.port("ingress")) as conn:
            conn.send(b"GET /interim HTTP/1.1\r\nhost: x\r\n\r\n")
            r = conn.read_response(timeout=5)
            assert r is not None
            assert r.status == 200
            assert r.body == b"final"
    finally:
        upstream.stop()


def test_connect_failure_fails_every_queued_request_quickly(make_proxy):
    proxy = make_proxy(single_cluster_config(unused_port()), concurrency=1)
    port = proxy.port("ingress")

    started = time.monotonic()
    results = parallel(lambda i: http_get(port, f"/q/{i}"), range(10), workers=10)

    assert [r.status for r in results] == [503] * 10
    assert all(b"connection_refused" in r.body for r in results)
    assert time.monotonic() - started < 3.0
