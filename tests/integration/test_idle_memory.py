"""Memory held by idle keep-alive HTTP/1.1 connections: after its request, a connection must
give its buffer slices (16 KiB each) and its codec back, so holding many idle connections costs
the proxy well under one slice per connection (the bench measures it the same way: the RSS
growth of the proxy divided by the connections)."""

import resource
import time

from harness import RawConnection, basic_config, rss_bytes

COUNT = 1000
SLICE = 16 * 1024


def get(path):
    return f"GET {path} HTTP/1.1\r\nHost: a\r\nUser-Agent: idle-memory-test\r\n\r\n".encode()


def test_idle_keep_alive_connections_hold_no_buffer_slices(make_proxy, http_upstream):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < COUNT + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, COUNT + 256), hard))
    proxy = make_proxy(basic_config(http_upstream), concurrency=1)
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
        time.sleep(0.5)
        after = rss_bytes(proxy.pid)
        # Still usable: an idle connection that gave everything back serves its next request.
        conns[0].send(get("/again"))
        assert conns[0].read_response().status == 200
    finally:
        for conn in conns:
            conn.close()

    per_conn = (after - before) / COUNT
    # A slice kept per connection alone would be 16 KiB each; the whole connection (socket,
    # connection, manager) is well under 2 KiB.
    assert per_conn < SLICE / 8, f"{per_conn:.0f} bytes per idle connection"
