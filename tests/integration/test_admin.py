"""The admin API (main thread only): readiness, stats, clusters, listeners, log level, drain,
and the pod-reachable stats and health ports."""

import json
import socket
import threading

from harness import basic_config, http_get, http_request, raw_request, wait_until


def telemetry_ports(config):
    config["admin"]["stats_address"] = "127.0.0.1:0"
    config["admin"]["health_address"] = "127.0.0.1:0"
    return config


def test_index_lists_every_endpoint(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))
    body = http_get(proxy.admin_port, "/").body.decode()
    for path in ("/ready", "/healthz", "/config_dump", "/stats", "/stats/prometheus", "/clusters",
                 "/listeners", "/logging", "/drain_listeners", "/quitquitquit"):
        assert path in body, path


def test_read_endpoints_refuse_other_methods_and_unknown_paths_are_404(make_proxy,
                                                                       http_upstream):
    proxy = make_proxy(basic_config(http_upstream))
    for path in ("/", "/ready", "/healthz", "/healthz/ready", "/config_dump", "/stats",
                 "/stats/prometheus", "/clusters", "/listeners"):
        assert http_get(proxy.admin_port, path).status in (200, 503), path
        assert http_request(proxy.admin_port, "POST", path).status == 405, path
        assert http_request(proxy.admin_port, "DELETE", path).status == 405, path
    assert http_get(proxy.admin_port, "/nope").status == 404
    assert http_request(proxy.admin_port, "POST", "/nope").status == 404
    # Refused methods changed nothing: the proxy still serves and is not draining.
    assert http_get(proxy.admin_port, "/ready").status == 200


def test_stats_port_serves_only_prometheus_and_health_port_only_readiness(make_proxy,
                                                                           http_upstream):
    proxy = make_proxy(telemetry_ports(basic_config(http_upstream)))
    r = http_get(proxy.port("stats"), "/stats/prometheus")
    assert r.status == 200
    assert "podproxy_server_ready 1" in r.body.decode()
    assert http_get(proxy.port("stats"), "/config_dump").status == 404
    assert http_get(proxy.port("health"), "/healthz/ready").status == 200
    assert http_get(proxy.port("health"), "/stats/prometheus").status == 404
    assert http_request(proxy.port("health"), "POST", "/healthz/ready").status == 405
    # The admin port answers both too.
    assert http_get(proxy.admin_port, "/healthz/ready").status == 200
    assert "podproxy_server_ready 1" in http_get(proxy.admin_port, "/stats/prometheus").body.decode()


def test_listeners_shows_every_bound_address(make_proxy, http_upstream, tcp_upstream):
    proxy = make_proxy(telemetry_ports(basic_config(http_upstream, tcp_upstream)))
    text = http_get(proxy.admin_port, "/listeners").body.decode()
    for name in ("ingress", "tcp_in", "admin", "stats", "health"):
        assert f"{name}::{proxy.address(name)}" in text.splitlines(), text
    as_json = json.loads(http_get(proxy.admin_port, "/listeners?format=json").body)
    got = {l["name"]: l["address"] for l in as_json["listeners"]}
    assert got["ingress"] == proxy.address("ingress")
    assert got["tcp_in"] == proxy.address("tcp_in")


def test_clusters_shows_hosts_health_and_active_requests(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream), concurrency=2)
    host = http_upstream.address

    def line(text, stat):
        prefix = f"backend::{host}::{stat}::"
        for l in text.splitlines():
            if l.startswith(prefix):
                return l[len(prefix):]
        raise AssertionError(f"no {prefix} in:\n{text}")

    text = http_get(proxy.admin_port, "/clusters").body.decode()
    assert line(text, "health_flags") == "healthy"
    assert line(text, "rq_active") == "0"

    # A request held by the upstream shows as active on its host.
    result = {}
    slow = threading.Thread(
        target=lambda: result.setdefault("r", http_get(proxy.port("ingress"), "/delay/1500")))
    slow.start()
    wait_until(lambda: line(http_get(proxy.admin_port, "/clusters").body.decode(),
                            "rq_active") == "1", timeout=3, message="rq_active 1")
    slow.join(10)
    assert result["r"].status == 200
    text = http_get(proxy.admin_port, "/clusters").body.decode()
    assert line(text, "rq_active") == "0"
    assert line(text, "rq_total") == "1"

    as_json = json.loads(http_get(proxy.admin_port, "/clusters?format=json").body)
    [backend] = [c for c in as_json["clusters"] if c["name"] == "backend"]
    assert backend["hosts"][0]["address"] == host
    assert backend["hosts"][0]["health"] == "healthy"


def test_logging_level_changes_with_post_from_loopback(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))
    assert http_get(proxy.admin_port, "/logging").body.decode() == "level: info\n"
    assert http_request(proxy.admin_port, "POST", "/logging?level=nonsense").status == 400
    assert http_request(proxy.admin_port, "PUT", "/logging?level=debug").status == 405
    r = http_request(proxy.admin_port, "POST", "/logging?level=debug")
    assert (r.status, r.body) == (200, b"level: debug\n")
    assert http_get(proxy.admin_port, "/logging").body.decode() == "level: debug\n"
    # Debug lines now appear (a malformed request logs one).
    start = len(proxy.logs)
    raw_request(proxy.port("ingress"), b"GET / HTTP/1.1\r\nbad header\r\n\r\n")
    proxy.wait_for_log(lambda e: e.get("level") == "debug", start=start, timeout=5)
    assert http_request(proxy.admin_port, "POST", "/logging?level=warn").status == 200


def test_drain_listeners_stops_accepting_but_keeps_running(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))
    port = proxy.port("ingress")
    assert http_get(port, "/before").status == 200
    assert http_request(proxy.admin_port, "GET", "/drain_listeners").status == 405
    r = http_request(proxy.admin_port, "POST", "/drain_listeners")
    assert r.status == 200

    def refused():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
                return s.recv(100) == b""
        except OSError:
            return True

    wait_until(refused, timeout=5, message="the listener to stop accepting")
    assert proxy.running()
    assert http_get(proxy.admin_port, "/ready").status == 503
    assert http_get(proxy.admin_port, "/healthz").status == 200
    assert http_get(proxy.admin_port, "/stats").status == 200
    assert proxy.stop() == 0


def test_stats_text_keeps_envoy_style_names(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))
    assert http_get(proxy.port("ingress"), "/a").status == 200
    lines = dict(l.split(": ", 1) for l in
                 http_get(proxy.admin_port, "/stats").body.decode().splitlines() if ": " in l)
    assert lines["http.ingress.downstream_rq_total"] == "1"
    assert lines["http.ingress.downstream_rq_2xx"] == "1"
    assert lines["cluster.backend.upstream_rq_total"] == "1"
    assert lines["server.ready"] == "1"
