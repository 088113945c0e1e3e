"""Memory held by idle keep-alive HTTP/1.1 connections: after its request, a connection gives
its buffer slices and codec back, and once idle for a moment it hibernates (only its socket and
a small record stay), so holding many idle connections costs the proxy a few hundred bytes each
(the bench measures it the same way: the RSS growth of the proxy divided by the connections)."""

import resource
import time

from harness import RawConnection, basic_config, rss_bytes, wait_until

COUNT = 2000
SLICE = 16 * 1024
# Awake, an idle connection costs about 1 KiB here (socket, connection, manager, listener
# entry and the heap around them); hibernated, well under half of that.
MAX_BYTES_PER_IDLE_CONN = 512


def get(path):
    return f"GET {path} HTTP/1.1\r\nHost: a\r\nUser-Agent: idle-memory-test\r\n\r\n".encode()


def hibernated_now(proxy):
    return proxy.stats()["http.ingress.downstream_cx_hibernated_active"]


def test_idle_keep_alive_connections_hibernate_into_a_few_hundred_bytes(make_proxy, http_upstream):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < COUNT + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, COUNT + 256), hard))
    config = basic_config(http_upstream)
    # The access-log ring is faulted in as lines fill it: not connection memory.
    config["listeners"][0]["access_log"] = {"enabled": False}
    proxy = make_proxy(config, concurrency=1)
    port = proxy.port("ingress")
    # Warm up: the first requests grow pools and the upstream connection.
    for i in range(20):
        with RawConnection(port) as conn:
            conn.send(get(f"/warm{i}"))
            assert conn.read_response().status == 200
    time.sleep(0.3)
    before = rss_bytes(proxy.pid)

    conns = []
    try:
        for i in range(COUNT):
            conn = RawConnection(port)
            conns.append(conn)
            conn.send(get(f"/idle{i}"))
            response = conn.read_response()
            assert response is not None and response.status == 200
        wait_until(lambda: hibernated_now(proxy) == COUNT, timeout=10,
                   message=f"{COUNT} hibernated connections")
        time.sleep(0.5)  # the worker gives freed memory back shortly after they hibernate
        after = rss_bytes(proxy.pid)
        # Still usable: a hibernated connection wakes and serves its next request.
        conns[0].send(get("/again"))
        assert conns[0].read_response().status == 200
    finally:
        for conn in conns:
            conn.close()

    per_conn = (after - before) / COUNT
    assert per_conn < MAX_BYTES_PER_IDLE_CONN, f"{per_conn:.0f} bytes per idle connection"
    assert per_conn < SLICE / 8  # the old bound: no buffer slice kept per connection
