"""pytest fixtures for integration tests: the podproxy binary, proxies and fake upstreams.
Every fixture stops what it started, even when the test fails."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Proxy, podproxy_binary  # noqa: E402
from upstreams import BannerUpstream, HttpEchoUpstream, TcpEchoUpstream  # noqa: E402
from upstreams.websocket import WebSocketUpstream  # noqa: E402


@pytest.fixture(scope="session")
def podproxy_bin():
    try:
        return podproxy_binary()
    except FileNotFoundError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture
def make_proxy(podproxy_bin, tmp_path):
    """Factory: make_proxy(config, args=(), wait_ready=True, ready_timeout=10, **Proxy kwargs)
    starts a podproxy and returns the Proxy. All are killed at teardown; a proxy that crashed
    (died from a signal the test did not send) fails the test."""
    proxies = []

    def start(config=None, *, wait_ready=True, ready_timeout=10.0, **kwargs):
        kwargs.setdefault("workdir", tmp_path)
        kwargs.setdefault("name", f"podproxy{len(proxies) + 1}")
        proxy = Proxy(config, binary=podproxy_bin, **kwargs)
        proxies.append(proxy)
        return proxy.start(wait_ready=wait_ready, ready_timeout=ready_timeout)

    yield start
    problems = [p for p in (proxy.close() for proxy in proxies) if p]
    for proxy in proxies:
        # Captured, so shown only when the test failed.
        print(f"\n{proxy.name} pid={proxy.pid} " + proxy.output_tail(200))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def _server_factory(cls):
    servers = []

    def start(**kwargs):
        server = cls(**kwargs).start()
        servers.append(server)
        return server

    return start, servers


@pytest.fixture
def make_http_upstream():
    """Factory: make_http_upstream(name=None, close_after_response=False, idle_close_ms=None,
    response_headers=None, host="127.0.0.1") -> a started HttpEchoUpstream."""
    start, servers = _server_factory(HttpEchoUpstream)
    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def make_tcp_upstream():
    """Factory: make_tcp_upstream(name=None, host="127.0.0.1") -> a started TcpEchoUpstream."""
    start, servers = _server_factory(TcpEchoUpstream)
    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def make_banner_upstream():
    """Factory: make_banner_upstream(banner=b"...", host="127.0.0.1") -> a BannerUpstream."""
    start, servers = _server_factory(BannerUpstream)
    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def http_upstream(make_http_upstream):
    return make_http_upstream(name="echo")


@pytest.fixture
def tcp_upstream(make_tcp_upstream):
    return make_tcp_upstream(name="tcp-echo")


@pytest.fixture
def ws_upstream():
    """The WebSocket upstream (upstreams/websocket.py): echo, half-close and reset paths."""
    server = WebSocketUpstream().start()
    yield server
    server.stop()
