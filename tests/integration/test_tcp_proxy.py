"""TCP proxying through the real proxy: echo, half-close, server-first protocols, refused
upstreams, the idle timeout, large transfers both ways and backpressure."""

import os
import signal
import socket
import struct
import threading
import time

from harness import bootstrap, cluster, rss_bytes, tcp_listener, unused_port, wait_until
from harness.backpressure import echo_with_a_stalled_reader
from upstreams.base import ThreadedServer, reset_socket

MiB = 1024 * 1024


def tcp_config(upstream, **tcp):
    return bootstrap([tcp_listener("tcp_in", "tcp_backend", **tcp)],
                     [cluster("tcp_backend", [upstream])])


def connect(proxy, timeout=5):
    return socket.create_connection(("127.0.0.1", proxy.port("tcp_in")), timeout=timeout)


def cluster_cx(proxy, name="tcp_backend"):
    """(total, active, destroy_local, destroy_remote, connect_fail) of the cluster's upstream
    connections, from admin /stats."""
    stats = proxy.stats()
    return tuple(stats[f"cluster.{name}.upstream_cx_{k}"]
                 for k in ("total", "active", "destroy_local", "destroy_remote", "connect_fail"))


def recv_exactly(sock, n, timeout=10):
    deadline = time.monotonic() + timeout
    out = bytearray()
    while len(out) < n:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(min(1 * MiB, n - len(out)))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def recv_until_eof(sock, timeout=5):
    """Everything until EOF; raises on timeout (EOF is what the caller expects)."""
    deadline = time.monotonic() + timeout
    out = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no EOF within {timeout}s ({len(out)} bytes read)")
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            return bytes(out)
        out += chunk


def closed_by_peer(sock, timeout=3):
    """True when the peer closes (FIN or RST) within `timeout`; data is discarded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(65536):
                return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
    return False


def test_echo_round_trip(make_proxy, tcp_upstream):
    proxy = make_proxy(tcp_config(tcp_upstream), concurrency=1)

    with connect(proxy) as s:
        for message in (b"hello\n", b"second message\n", bytes(range(256))):
            s.sendall(message)
            assert recv_exactly(s, len(message), timeout=5) == message
        # The session's upstream connection is the cluster's, as a pooled one would be.
        assert cluster_cx(proxy)[:2] == (1, 1)

    assert tcp_upstream.connections_accepted == 1
    # The client's FIN reached the echo upstream, which closed: closed by the remote.
    assert wait_until(lambda: cluster_cx(proxy) == (1, 0, 0, 1, 0), timeout=5,
                      message=f"cluster counters after the session: {cluster_cx(proxy)}")
    wait_until(lambda: tcp_upstream.bytes_received == 6 + 15 + 256, timeout=3,
               message="the upstream to count every byte")


def test_half_close_carries_the_rest_of_the_echo_then_both_sides_close(make_proxy,
                                                                       tcp_upstream):
    proxy = make_proxy(tcp_config(tcp_upstream), concurrency=1)
    payload = os.urandom(2 * MiB)

    s = connect(proxy)
    try:
        sender = threading.Thread(target=lambda: (s.sendall(payload), s.shutdown(socket.SHUT_WR)),
                                  daemon=True)
        sender.start()
        echoed = recv_until_eof(s, timeout=15)
        sender.join(5)

        assert echoed == payload
        assert tcp_upstream.half_closes == 1  # the upstream saw our FIN, not a close
        assert tcp_upstream.received() == payload
    finally:
        s.close()
    # After both directions ended, the upstream connection goes away too.
    wait_until(lambda: tcp_upstream.connections_closed == 1, timeout=3,
               message="the upstream connection to close")


def test_half_close_keeps_the_upstream_to_client_direction_open(make_proxy, tcp_upstream):
    proxy = make_proxy(tcp_config(tcp_upstream), concurrency=1)

    with connect(proxy) as s:
        s.sendall(b"before fin")
        assert recv_exactly(s, 10) == b"before fin"
        s.shutdown(socket.SHUT_WR)
        wait_until(lambda: tcp_upstream.half_closes == 1, timeout=3,
                   message="the upstream to see the client's FIN")
        assert recv_until_eof(s, timeout=3) == b""


def test_server_first_banner_arrives_before_the_client_sends(make_proxy,
                                                             make_banner_upstream):
    banner = make_banner_upstream(banner=b"220 server speaks first\r\n")
    proxy = make_proxy(tcp_config(banner), concurrency=1)

    with connect(proxy) as s:
        assert recv_exactly(s, 25, timeout=3) == b"220 server speaks first\r\n"
        s.sendall(b"EHLO\r\n")
        assert recv_exactly(s, 6, timeout=3) == b"EHLO\r\n"


def test_refused_upstream_closes_the_client_promptly(make_proxy):
    proxy = make_proxy(tcp_config(unused_port()), concurrency=1)

    started = time.monotonic()
    with connect(proxy) as s:
        assert closed_by_peer(s, timeout=3)
    assert time.monotonic() - started < 2.0
    assert cluster_cx(proxy) == (1, 0, 0, 0, 1)


def test_idle_timeout_closes_both_sides(make_proxy, tcp_upstream):
    proxy = make_proxy(tcp_config(tcp_upstream, idle_timeout="400ms"), concurrency=1)

    with connect(proxy) as s:
        s.sendall(b"ping")
        assert recv_exactly(s, 4) == b"ping"
        started = time.monotonic()
        assert closed_by_peer(s, timeout=3)
        elapsed = time.monotonic() - started

    assert 0.3 <= elapsed < 2.0
    wait_until(lambda: tcp_upstream.connections_closed == 1, timeout=3,
               message="the upstream side to be closed too")


def test_activity_postpones_the_idle_timeout(make_proxy, tcp_upstream):
    proxy = make_proxy(tcp_config(tcp_upstream, idle_timeout="500ms"), concurrency=1)

    with connect(proxy) as s:
        for i in range(6):  # 6 x 200 ms: longer than the timeout, never idle that long
            s.sendall(b"%d" % i)
            assert recv_exactly(s, 1) == b"%d" % i
            time.sleep(0.2)
        assert tcp_upstream.connections_closed == 0


def test_ten_mib_each_way_arrive_intact(make_proxy, tcp_upstream):
    proxy = make_proxy(tcp_config(tcp_upstream), concurrency=1)
    payload = os.urandom(10 * MiB)

    with connect(proxy, timeout=20) as s:
        errors = []

        def send():
            try:
                s.sendall(payload)
            except OSError as e:
                errors.append(e)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        echoed = recv_exactly(s, len(payload), timeout=30)
        sender.join(10)

    assert not errors
    assert len(echoed) == len(payload)
    assert echoed == payload
    assert tcp_upstream.bytes_received == len(payload)


def test_slow_reader_applies_backpressure_to_the_writer(make_proxy, tcp_upstream):
    proxy = make_proxy(tcp_config(tcp_upstream), concurrency=1)
    baseline = rss_bytes(proxy.pid)
    total = 64 * MiB
    payload = os.urandom(total)

    s = connect(proxy, timeout=30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    try:
        # Nobody reads the echo: once the kernel buffers along the way are full, the writer
        # must stall, and the proxy must not have soaked up the difference.
        stalled_at, echoed, peak = echo_with_a_stalled_reader(s, proxy.pid, payload)
    finally:
        s.close()
    assert stalled_at < total, f"all {total} bytes accepted with nobody reading"
    assert echoed == payload
    growth_mib = (peak - baseline) / MiB
    assert growth_mib < 8, f"proxy RSS grew by {growth_mib:.1f} MiB"


def test_many_sessions_at_once(make_proxy, tcp_upstream):
    proxy = make_proxy(tcp_config(tcp_upstream), concurrency=2)
    results = {}

    def session(i):
        try:
            with connect(proxy) as s:
                msg = b"session %d\n" % i * 100
                s.sendall(msg)
                s.shutdown(socket.SHUT_WR)
                results[i] = recv_until_eof(s, timeout=10) == msg
        except OSError as e:
            results[i] = e

    threads = [threading.Thread(target=session, args=(i,), daemon=True) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)

    assert results == {i: True for i in range(30)}
    assert tcp_upstream.connections_accepted == 30


class ResetAfterReadUpstream(ThreadedServer):
    """Reads the first bytes of each connection, echoes them, then resets (RST) it."""

    def handle_connection(self, sock, conn_id):
        data = self.recv_some(sock, deadline=time.monotonic() + 5)
        if data:
            self.send_all(sock, data)
            time.sleep(0.1)
        reset_socket(sock)


def test_client_reset_reaches_the_upstream_as_a_reset(make_proxy, tcp_upstream):
    proxy = make_proxy(tcp_config(tcp_upstream), concurrency=1)

    s = connect(proxy)
    s.sendall(b"about to vanish")
    assert recv_exactly(s, 15) == b"about to vanish"
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()  # RST

    wait_until(lambda: tcp_upstream.connections_closed == 1, timeout=3,
               message="the upstream connection to go away")
    # A FIN would have made the echo upstream count a half-close; a reset does not.
    assert tcp_upstream.half_closes == 0


def test_upstream_reset_reaches_the_client_as_a_reset(make_proxy):
    upstream = ResetAfterReadUpstream(name="resetter").start()
    try:
        proxy = make_proxy(tcp_config(upstream), concurrency=1)
        with connect(proxy) as s:
            s.sendall(b"hello")
            assert recv_exactly(s, 5) == b"hello"
            s.settimeout(3)
            try:
                rest = s.recv(65536)
                reset = False
            except ConnectionResetError:
                reset = True
            assert reset, f"clean end instead of a reset (read {rest!r})"
    finally:
        upstream.stop()


def test_max_connections_circuit_breaker_closes_extra_sessions(make_proxy, tcp_upstream):
    config = tcp_config(tcp_upstream)
    config["clusters"][0]["circuit_breakers"] = {"max_connections": 1}
    proxy = make_proxy(config, concurrency=1)

    with connect(proxy) as first:
        first.sendall(b"one")
        assert recv_exactly(first, 3) == b"one"
        with connect(proxy) as second:
            assert closed_by_peer(second, timeout=3)
        # The first session is unaffected.
        first.sendall(b"still")
        assert recv_exactly(first, 5) == b"still"
    assert tcp_upstream.connections_accepted == 1

    # The slot is released when the session ends.
    wait_until(lambda: tcp_upstream.connections_closed == 1, timeout=3,
               message="the first session to end")
    with connect(proxy) as third:
        third.sendall(b"three")
        assert recv_exactly(third, 5) == b"three"


def test_tcp_sessions_are_closed_at_the_drain_timeout(make_proxy, tcp_upstream):
    config = tcp_config(tcp_upstream)
    config["drain_timeout"] = "500ms"
    proxy = make_proxy(config, concurrency=1)

    with connect(proxy) as s:
        s.sendall(b"before")
        assert recv_exactly(s, 6) == b"before"
        started = time.monotonic()
        proxy.signal(signal.SIGTERM)
        proxy.wait_for_log(msg="draining")
        # Still proxying while draining.
        s.sendall(b"during")
        assert recv_exactly(s, 6) == b"during"
        assert closed_by_peer(s, timeout=3)

    assert proxy.wait_exit(5) == 0
    assert time.monotonic() - started < 2.5


class SayByeUpstream(ThreadedServer):
    """Server-initiated close: sends a goodbye and half-closes at once, then drains the client."""

    def handle_connection(self, sock, conn_id):
        self.send_all(sock, b"bye\n")
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + 3
        while self.recv_some(sock, deadline=deadline):
            pass


def test_upstream_closing_first_delivers_its_data_then_eof(make_proxy):
    upstream = SayByeUpstream(name="bye").start()
    try:
        proxy = make_proxy(tcp_config(upstream), concurrency=1)
        with connect(proxy) as s:
            assert recv_until_eof(s, timeout=3) == b"bye\n"
    finally:
        upstream.stop()
