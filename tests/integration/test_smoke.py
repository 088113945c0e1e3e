"""Smoke tests: the binary runs, proxies one HTTP request and one TCP echo, and stops cleanly."""

import re
import signal
import socket

from harness import basic_config, curl_http, run_podproxy


def test_version_flag_prints_a_version_and_exits_zero():
    proc = run_podproxy(["--version"])
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"\d+\.\d+\.\d+", proc.stdout + proc.stderr), proc.stdout


def test_curl_reaches_the_upstream_through_the_http_listener(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))

    response = curl_http(proxy.url("ingress", "/smoke/path?q=1"), headers={"x-smoke": "yes"})

    assert response.status == 200, response.reason
    assert http_upstream.request_count == 1
    echoed = response.json()
    assert echoed["path"] == "/smoke/path"
    assert echoed["query"] == "q=1"
    assert echoed["method"] == "GET"
    assert ["x-smoke", "yes"] in [[k.lower(), v] for k, v in echoed["headers"]]
    assert http_upstream.last_request.header("x-smoke") == "yes"


def test_tcp_listener_echoes_through_the_upstream(make_proxy, http_upstream, tcp_upstream):
    proxy = make_proxy(basic_config(http_upstream, tcp_upstream))

    with socket.create_connection(("127.0.0.1", proxy.port("tcp_in")), timeout=5) as s:
        s.sendall(b"ping over tcp\n")
        s.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := s.recv(4096):
            received += chunk

    assert received == b"ping over tcp\n"
    assert tcp_upstream.connections_accepted == 1


def test_sigterm_makes_the_proxy_exit_zero(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))
    assert curl_http(proxy.url("ingress", "/")).status == 200

    assert proxy.stop(signal.SIGTERM, timeout=20) == 0
