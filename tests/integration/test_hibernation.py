"""Hibernation: a plaintext HTTP/1 keep-alive connection idle for a short while is folded into a
compact record (its socket watched by the worker's epoll set) and rebuilt when bytes arrive.
What the client sees must not change: the next request is served, pipelined bytes are kept,
the idle timeout, max_requests_per_connection and drain behave as for an awake connection."""

import os
import signal
import time

from harness import RawConnection, basic_config, wait_until

# The proxy hibernates after 250 ms idle (kHibernationDelay); every wait below is bounded well
# beyond that.
WAIT = 5.0


def get(path, extra=""):
    return f"GET {path} HTTP/1.1\r\nHost: a\r\n{extra}\r\n".encode()


def stat(proxy, name, listener="ingress"):
    return proxy.stats()[f"http.{listener}.{name}"]


def hibernated_now(proxy):
    return stat(proxy, "downstream_cx_hibernated_active")


def wait_hibernated(proxy, count):
    wait_until(lambda: hibernated_now(proxy) == count, timeout=WAIT,
               message=f"{count} hibernated connections")


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def settled_fds(pid, timeout=WAIT):
    """open_fds once it held still for 100 ms: the admin connection of the last /stats poll
    closes a moment after the answer, and a count taken before that is one too high."""
    deadline = time.monotonic() + timeout
    last = open_fds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = open_fds(pid)
        if now == last:
            return now
        last = now
    raise AssertionError(f"open fds of {pid} never settled (last {last})")


def config_with(upstream, **options):
    config = basic_config(upstream)
    config["listeners"][0]["http"].update(options)
    return config


def test_hibernated_connection_serves_next_request(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream), concurrency=1)
    port = proxy.port("ingress")
    with RawConnection(port) as conn:
        conn.send(get("/first"))
        r = conn.read_response()
        assert r.status == 200 and r.json()["path"] == "/first"
        wait_hibernated(proxy, 1)
        stats = proxy.stats()
        assert stats["http.ingress.downstream_cx_hibernated"] == 1
        # The connection still counts as open while it sleeps.
        assert stats["listener.ingress.downstream_cx_active"] == 1

        conn.send(get("/second"))
        r = conn.read_response()
        assert r is not None and r.status == 200
        assert r.json()["path"] == "/second"
        assert r.header("connection") != "close"
        # Woken, then asleep again once idle.
        assert wait_until(lambda: stat(proxy, "downstream_cx_hibernated") == 2, timeout=WAIT)
        assert hibernated_now(proxy) == 1
        assert [r.path for r in http_upstream.requests][-2:] == ["/first", "/second"]
    assert wait_until(lambda: hibernated_now(proxy) == 0, timeout=WAIT)
    assert wait_until(
        lambda: proxy.stats()["listener.ingress.downstream_cx_active"] == 0, timeout=WAIT)


def test_hibernated_connection_closed_by_client_is_cleaned_up(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream), concurrency=1)
    port = proxy.port("ingress")
    # Warm the upstream connection so it is not counted in the difference below.
    with RawConnection(port) as conn:
        conn.send(get("/warm", "Connection: close\r\n"))
        assert conn.read_response().status == 200
    assert wait_until(
        lambda: proxy.stats()["listener.ingress.downstream_cx_active"] == 0, timeout=WAIT)
    baseline = settled_fds(proxy.pid)

    conns = [RawConnection(port) for _ in range(3)]
    for i, conn in enumerate(conns):
        conn.send(get(f"/c{i}"))
        assert conn.read_response().status == 200
    wait_hibernated(proxy, 3)
    assert settled_fds(proxy.pid) >= baseline + 3
    for conn in conns:
        conn.close()
    assert wait_until(lambda: hibernated_now(proxy) == 0, timeout=WAIT)
    assert wait_until(
        lambda: proxy.stats()["listener.ingress.downstream_cx_active"] == 0, timeout=WAIT)
    assert wait_until(lambda: open_fds(proxy.pid) <= baseline, timeout=WAIT), (
        f"{open_fds(proxy.pid)} fds open, {baseline} before")
    assert stat(proxy, "downstream_cx_hibernated") >= 3


def test_idle_timeout_closes_hibernated_connection(make_proxy, http_upstream):
    proxy = make_proxy(config_with(http_upstream, idle_timeout="1500ms"), concurrency=1)
    with RawConnection(proxy.port("ingress")) as conn:
        conn.send(get("/x"))
        assert conn.read_response().status == 200
        sent = time.monotonic()
        wait_hibernated(proxy, 1)
        assert conn.wait_closed(timeout=10), "idle_timeout did not close the hibernated connection"
        elapsed = time.monotonic() - sent
        assert not conn.reset
    # The wheel never fires early: the connection lived its whole idle timeout.
    assert elapsed >= 1.4, f"closed after {elapsed:.2f} s"
    assert stat(proxy, "downstream_cx_idle_timeout") == 1
    assert stat(proxy, "downstream_cx_hibernated") == 1
    assert hibernated_now(proxy) == 0


def test_max_requests_per_connection_counts_across_hibernation(make_proxy, http_upstream):
    proxy = make_proxy(config_with(http_upstream, max_requests_per_connection=3), concurrency=1)
    with RawConnection(proxy.port("ingress")) as conn:
        for i in range(1, 3):
            conn.send(get(f"/r{i}"))
            r = conn.read_response()
            assert r.status == 200 and r.header("connection") != "close"
            wait_hibernated(proxy, 1)
        assert stat(proxy, "downstream_cx_hibernated") == 2
        conn.send(get("/r3"))
        r = conn.read_response()
        assert r.status == 200
        assert r.header("connection") == "close"
        assert conn.wait_closed(timeout=WAIT)


def test_pipelined_bytes_arriving_at_wake_are_kept(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream), concurrency=1)
    with RawConnection(proxy.port("ingress")) as conn:
        conn.send(get("/one"))
        assert conn.read_response().status == 200
        wait_hibernated(proxy, 1)
        # The first bytes wake it; the rest of that request and a pipelined one follow while
        # the connection is being rebuilt.
        first = get("/two")
        conn.send(first[:5])
        time.sleep(0.02)
        conn.send(first[5:] + get("/three"))
        paths = []
        for _ in range(2):
            r = conn.read_response()
            assert r is not None and r.status == 200
            paths.append(r.json()["path"])
        assert paths == ["/two", "/three"]
        wait_hibernated(proxy, 1)
        # Two pipelined requests in one segment straight onto a sleeping connection.
        conn.send(get("/four") + get("/five"))
        paths = [conn.read_response().json()["path"] for _ in range(2)]
        assert paths == ["/four", "/five"]


def test_sigterm_drain_closes_hibernated_connections_promptly(make_proxy, http_upstream):
    config = basic_config(http_upstream)
    config["drain_timeout"] = "30s"
    proxy = make_proxy(config, concurrency=1)
    conns = [RawConnection(proxy.port("ingress")) for _ in range(3)]
    try:
        for conn in conns:
            conn.send(get("/d"))
            assert conn.read_response().status == 200
        wait_hibernated(proxy, 3)
        started = time.monotonic()
        proxy.signal(signal.SIGTERM)
        for conn in conns:
            assert conn.wait_closed(timeout=WAIT), "a hibernated connection was not closed"
        assert proxy.wait_exit(timeout=10) == 0
        # Far below the drain timeout: nothing waited for it.
        assert time.monotonic() - started < 10
        assert proxy.find_logs(msg="drained")
        assert not proxy.find_logs(msg="drain timeout reached, closing remaining connections")
    finally:
        for conn in conns:
            conn.close()
