"""Telemetry: Istio's standard metrics (scraped by podproxy's own endpoint and by a real
Prometheus server), promtool's checks, JSON access logs, and trace header propagation."""

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from harness import (RawConnection, bootstrap, cluster, http_get, http_listener, route,
                     tcp_listener, unused_port, wait_until)

ISTIO_DURATION_BUCKETS = ["0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500",
                          "5000", "10000", "30000", "60000", "300000", "600000", "1800000",
                          "3600000", "+Inf"]
ISTIO_BYTES_BUCKETS = ["1", "10", "100", "1000", "10000", "100000", "1000000", "10000000",
                       "100000000", "1000000000", "+Inf"]
ISTIO_HTTP_LABELS = {
    "reporter", "source_workload", "source_canonical_service", "source_canonical_revision",
    "source_workload_namespace", "source_principal", "source_app", "source_version",
    "source_cluster", "destination_workload", "destination_workload_namespace",
    "destination_principal", "destination_app", "destination_version", "destination_service",
    "destination_canonical_service", "destination_canonical_revision", "destination_service_name",
    "destination_service_namespace", "destination_cluster", "request_protocol", "response_code",
    "grpc_response_status", "response_flags", "connection_security_policy"}

WORKLOAD_ENV = {"POD_NAME": "productpage-v1-7f9c", "POD_NAMESPACE": "shop",
                "SERVICE_ACCOUNT": "bookinfo-productpage", "APP": "productpage", "VERSION": "v1"}

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text):
    """[(name, {labels}, value)] for every sample line."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"unparsable exposition line: {line!r}"
        labels = dict(LABEL.findall(m.group(2) or ""))
        samples.append((m.group(1), labels, float(m.group(3))))
    return samples


def series(samples, name, **labels):
    return [(lbl, v) for n, lbl, v in samples
            if n == name and all(lbl.get(k) == str(want) for k, want in labels.items())]


def telemetry_config(upstream, **extra):
    """ingress: /app/ -> backend (upstream), /down/ -> a cluster nobody listens on, anything
    else: no route (404). Stats on their own port (0)."""
    routes = [route("/app/", "backend", name="app"), route("/down/", "down", name="down")]
    config = bootstrap([http_listener("ingress", routes=routes)],
                       [cluster("backend", [upstream]), cluster("down", [unused_port()])],
                       **extra)
    config["admin"]["stats_address"] = "127.0.0.1:0"
    config["admin"]["health_address"] = "127.0.0.1:0"
    return config


def make_known_traffic(port):
    """3 x 200, 2 x 404 (no route), 1 x 503 (connection refused)."""
    for i in range(3):
        assert http_get(port, f"/app/ok{i}").status == 200
    for i in range(2):
        assert http_get(port, f"/nowhere/{i}").status == 404
    assert http_get(port, "/down/x").status == 503


def scrape(proxy, listener="stats"):
    r = http_get(proxy.port(listener), "/stats/prometheus")
    assert r.status == 200, r.body
    assert r.header("content-type").startswith("text/plain; version=0.0.4")
    return r.body.decode()


def test_istio_requests_total_counts_requests_by_code_with_istio_labels(make_proxy,
                                                                        http_upstream):
    proxy = make_proxy(telemetry_config(http_upstream), env=WORKLOAD_ENV, concurrency=2)
    make_known_traffic(proxy.port("ingress"))
    samples = parse_exposition(scrape(proxy))

    by_code = {lbl["response_code"]: v for lbl, v in series(samples, "istio_requests_total")}
    assert by_code == {"200": 3.0, "404": 2.0, "503": 1.0}

    [(ok, value)] = series(samples, "istio_requests_total", response_code=200)
    assert set(ok) == ISTIO_HTTP_LABELS
    assert ok == {
        "reporter": "source", "source_workload": "productpage-v1-7f9c",
        "source_canonical_service": "productpage", "source_canonical_revision": "v1",
        "source_workload_namespace": "shop", "source_principal": "unknown",
        "source_app": "productpage", "source_version": "v1", "source_cluster": "unknown",
        "destination_workload": "unknown", "destination_workload_namespace": "unknown",
        "destination_principal": "unknown", "destination_app": "unknown",
        "destination_version": "unknown", "destination_service": "backend",
        "destination_canonical_service": "unknown", "destination_canonical_revision": "unknown",
        "destination_service_name": "backend", "destination_service_namespace": "unknown",
        "destination_cluster": "unknown", "request_protocol": "http", "response_code": "200",
        "grpc_response_status": "", "response_flags": "-",
        "connection_security_policy": "unknown"}
    [(nr, _)] = series(samples, "istio_requests_total", response_code=404)
    assert nr["response_flags"] == "NR" and nr["destination_service"] == "unknown"
    [(uf, _)] = series(samples, "istio_requests_total", response_code=503)
    assert uf["response_flags"] == "UF" and uf["destination_service"] == "down"

    # Paths never become labels.
    assert not any("/app/" in v for _, lbl, _ in samples for v in lbl.values())


def test_histograms_use_istios_buckets_and_count_every_request(make_proxy, http_upstream):
    proxy = make_proxy(telemetry_config(http_upstream))
    make_known_traffic(proxy.port("ingress"))
    samples = parse_exposition(scrape(proxy))
    for name, buckets in (("istio_request_duration_milliseconds", ISTIO_DURATION_BUCKETS),
                          ("istio_request_bytes", ISTIO_BYTES_BUCKETS),
                          ("istio_response_bytes", ISTIO_BYTES_BUCKETS)):
        got = [lbl["le"] for lbl, _ in series(samples, name + "_bucket", response_code=200)]
        assert got == buckets, name
        [(_, count)] = series(samples, name + "_count", response_code=200)
        assert count == 3.0
        [(_, inf)] = series(samples, name + "_bucket", response_code=200, le="+Inf")
        assert inf == 3.0
    # Every 200 carried an echo body of some hundreds of bytes: le=10 holds none, le=10000 all.
    [(_, small)] = series(samples, "istio_response_bytes_bucket", response_code=200, le="10")
    [(_, large)] = series(samples, "istio_response_bytes_bucket", response_code=200, le="10000")
    assert (small, large) == (0.0, 3.0)


def test_tcp_sessions_feed_istio_tcp_metrics(make_proxy, tcp_upstream):
    config = bootstrap([tcp_listener("tcp_in", "tcp_backend")],
                       [cluster("tcp_backend", [tcp_upstream])])
    proxy = make_proxy(config)
    with RawConnection(proxy.port("tcp_in")) as c:
        c.send(b"x" * 1000)
        assert c.read_until(b"x" * 1000)
        c.shutdown_write()
        c.read_until_close()

    def closed_counted():
        s = parse_exposition(http_get(proxy.admin_port, "/stats/prometheus").body.decode())
        return s if sum(v for _, v in series(s, "istio_tcp_connections_closed_total")) == 1 \
            else None

    samples = wait_until(closed_counted, timeout=5, message="the TCP session to be counted")
    [(labels, opened)] = series(samples, "istio_tcp_connections_opened_total")
    assert opened == 1.0
    assert labels["request_protocol"] == "tcp" and labels["destination_service"] == "tcp_backend"
    assert "response_code" not in labels
    assert sum(v for _, v in series(samples, "istio_tcp_received_bytes_total")) == 1000.0
    assert sum(v for _, v in series(samples, "istio_tcp_sent_bytes_total")) == 1000.0


def test_inbound_listener_reports_as_destination(make_proxy, http_upstream):
    config = telemetry_config(http_upstream)
    config["listeners"][0]["direction"] = "inbound"
    proxy = make_proxy(config, env=WORKLOAD_ENV)
    assert http_get(proxy.port("ingress"), "/app/in").status == 200
    [(labels, value)] = series(parse_exposition(scrape(proxy)), "istio_requests_total")
    assert value == 1.0
    assert labels["reporter"] == "destination"
    assert labels["destination_workload"] == "productpage-v1-7f9c"
    assert labels["destination_workload_namespace"] == "shop"
    assert labels["source_workload"] == "unknown"
    assert labels["connection_security_policy"] == "none"


def test_promtool_accepts_the_exposition(make_proxy, http_upstream, tcp_upstream):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not installed (Debian package prometheus; scripts/install-deps)")
    config = telemetry_config(http_upstream)
    config["listeners"].append(tcp_listener("tcp_in", "backend"))
    proxy = make_proxy(config)
    make_known_traffic(proxy.port("ingress"))
    text = scrape(proxy)
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    # Exit 1 is a parse error; exit 3 lists lint problems. Istio's own metric name
    # istio_request_duration_milliseconds breaks the "base unit" lint rule, and dashboards need
    # that exact name, so that one complaint (and only that one) is expected.
    assert r.returncode in (0, 3), r.stderr + r.stdout
    problems = [line for line in (r.stdout + r.stderr).splitlines() if line.strip()]
    unexpected = [p for p in problems
                  if not p.startswith("istio_request_duration_milliseconds ")]
    assert unexpected == [], problems


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def prometheus_server(tmp_path):
    """Starts Debian's prometheus on loopback scraping the targets given to start(); stops it."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus not installed (Debian package prometheus; scripts/install-deps)")
    procs = []

    def start(stats_port):
        port = free_port()
        cfg = tmp_path / "prometheus.yml"
        cfg.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: podproxy\n    metrics_path: /stats/prometheus\n"
            f"    static_configs:\n      - targets: ['127.0.0.1:{stats_port}']\n")
        proc = subprocess.Popen(
            [binary, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "wb"))
        procs.append(proc)
        return f"http://127.0.0.1:{port}"

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def prom_query(base, query):
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            body = json.load(r)
    except OSError:
        return None
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_real_prometheus_scrapes_istio_metrics(make_proxy, http_upstream, prometheus_server):
    proxy = make_proxy(telemetry_config(http_upstream))
    make_known_traffic(proxy.port("ingress"))
    base = prometheus_server(proxy.port("stats"))

    def counts():
        result = prom_query(base, "sum by (response_code) (istio_requests_total)")
        if not result:
            return None
        got = {r["metric"]["response_code"]: float(r["value"][1]) for r in result}
        return got if len(got) == 3 else None

    got = wait_until(counts, timeout=30, interval=0.5, message="Prometheus to scrape podproxy")
    assert got == {"200": 3.0, "404": 2.0, "503": 1.0}

    result = prom_query(base, 'istio_requests_total{response_code="503"}')
    assert len(result) == 1
    assert result[0]["metric"]["response_flags"] == "UF"
    assert result[0]["metric"]["reporter"] == "source"
    assert result[0]["metric"]["job"] == "podproxy"

    result = prom_query(base, 'sum(istio_request_duration_milliseconds_count)')
    assert float(result[0]["value"][1]) == 6.0
    result = prom_query(base, 'istio_request_duration_milliseconds_bucket{response_code="200"}')
    assert sorted(float(r["metric"]["le"]) for r in result) == sorted(
        float(b) for b in ISTIO_DURATION_BUCKETS)
    inf = [r for r in result if r["metric"]["le"] == "+Inf"]
    assert float(inf[0]["value"][1]) == 3.0
    # Histogram queries dashboards run work on it.
    result = prom_query(base, "histogram_quantile(0.5, sum by (le) "
                              "(istio_request_duration_milliseconds_bucket))")
    assert len(result) == 1


# --- access logs -------------------------------------------------------------------------------

def wait_access_log(proxy, **fields):
    return wait_until(lambda: proxy.access_logs(**fields), timeout=5,
                      message=f"an access log line with {fields}")[-1]


def test_access_log_line_has_envoy_fields_for_http(make_proxy, http_upstream):
    proxy = make_proxy(telemetry_config(http_upstream))
    r = http_get(proxy.port("ingress"), "/app/logged?q=1",
                 headers={"user-agent": "telemetry-test/1.0", "x-forwarded-for": "10.1.2.3",
                          "x-request-id": "req-123", "host": "shop.local:8080"})
    assert r.status == 200
    line = wait_access_log(proxy, request_id="req-123")
    assert line["method"] == "GET"
    assert line["path"] == "/app/logged?q=1"
    assert line["protocol"] == "HTTP/1.1"
    assert line["response_code"] == 200
    assert line["response_flags"] == "-"
    assert line["bytes_received"] == 0
    assert line["bytes_sent"] == len(r.body)
    assert isinstance(line["duration"], int) and line["duration"] >= 0
    assert isinstance(line["upstream_service_time"], int)
    assert 0 <= line["upstream_service_time"] <= line["duration"]
    assert line["x_forwarded_for"] == "10.1.2.3, 127.0.0.1"
    assert line["user_agent"] == "telemetry-test/1.0"
    assert line["authority"] == "shop.local:8080"
    assert line["upstream_host"] == http_upstream.address
    assert line["upstream_cluster"] == "backend"
    assert line["route_name"] == "app"
    assert line["listener_name"] == "ingress"
    assert re.fullmatch(r"127\.0\.0\.1:\d+", line["downstream_remote_address"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["start_time"])
    traceparent = http_upstream.last_request.header("traceparent")
    assert line["trace_id"] == traceparent.split("-")[1]
    assert line["span_id"] == traceparent.split("-")[2]
    assert line["parent_span_id"] is None
    assert line["downstream_peer_uri_san"] is None  # no TLS yet


def test_access_log_records_local_replies_with_flags(make_proxy, http_upstream):
    proxy = make_proxy(telemetry_config(http_upstream))
    assert http_get(proxy.port("ingress"), "/nowhere", headers={"x-request-id": "nr-1"}).status \
        == 404
    assert http_get(proxy.port("ingress"), "/down/", headers={"x-request-id": "uf-1"}).status \
        == 503
    nr = wait_access_log(proxy, request_id="nr-1")
    assert (nr["response_code"], nr["response_flags"], nr["upstream_cluster"]) == \
        (404, "NR", None)
    assert nr["response_code_details"] == "route_not_found"
    uf = wait_access_log(proxy, request_id="uf-1")
    assert (uf["response_code"], uf["response_flags"], uf["upstream_cluster"]) == \
        (503, "UF", "down")
    assert uf["upstream_service_time"] is None


def test_access_log_line_for_a_tcp_session(make_proxy, tcp_upstream):
    config = bootstrap([tcp_listener("tcp_in", "tcp_backend")],
                       [cluster("tcp_backend", [tcp_upstream])])
    proxy = make_proxy(config)
    with RawConnection(proxy.port("tcp_in")) as c:
        c.send(b"hello tcp")
        assert c.read_until(b"hello tcp")
        c.shutdown_write()
        c.read_until_close()
    line = wait_access_log(proxy, listener_name="tcp_in")
    assert line["protocol"] == "tcp"
    assert line["bytes_received"] == 9 and line["bytes_sent"] == 9
    assert line["upstream_host"] == tcp_upstream.address
    assert line["upstream_cluster"] == "tcp_backend"
    assert line["response_code"] is None and line["method"] is None


def test_access_log_fields_and_switch_are_per_listener(make_proxy, http_upstream):
    config = bootstrap(
        [http_listener("few", "backend"), http_listener("quiet", "backend")],
        [cluster("backend", [http_upstream])])
    config["listeners"][0]["access_log"] = {"fields": ["method", "response_code", "request_id"]}
    config["listeners"][1]["access_log"] = {"enabled": False}
    proxy = make_proxy(config)
    assert http_get(proxy.port("few"), "/a", headers={"x-request-id": "few-1"}).status == 200
    assert http_get(proxy.port("quiet"), "/b", headers={"x-request-id": "quiet-1"}).status == 200
    line = wait_until(lambda: proxy.find_logs(request_id="few-1"), timeout=5)[0]
    assert line == {"method": "GET", "response_code": 200, "request_id": "few-1"}
    time.sleep(0.2)  # the writer thread polls every few ms: give a wrong line time to appear
    assert proxy.find_logs(request_id="quiet-1") == []


def test_access_log_drops_are_counted_not_queued(make_proxy, http_upstream):
    proxy = make_proxy(telemetry_config(http_upstream))
    for i in range(20):
        assert http_get(proxy.port("ingress"), f"/app/{i}").status == 200
    wait_until(lambda: len(proxy.access_logs()) >= 20, timeout=5)
    samples = parse_exposition(scrape(proxy))
    [(_, lines)] = series(samples, "podproxy_access_log_lines_total")
    [(_, dropped)] = series(samples, "podproxy_access_log_dropped_total")
    assert lines == 20.0 and dropped == 0.0


def test_a_stalled_stdout_drops_access_log_lines_but_no_request(make_proxy, http_upstream):
    # A log collector that stops reading: the pipe fills, the writer thread blocks on it, the
    # ring behind it (2 MiB per worker) fills, and from then on lines are dropped and counted.
    # Workers never wait for the log: every request is still answered.
    proxy = make_proxy(telemetry_config(http_upstream), concurrency=1)  # one ring
    requests = 12000  # 2 MiB of ~330-byte lines is ~6,300; the pipe holds a few hundred more
    proxy.pause_output()
    try:
        out = subprocess.run(["h2load", "--h1", "-n", str(requests), "-c", "4",
                              f"http://127.0.0.1:{proxy.port('ingress')}/nowhere/x"],
                             capture_output=True, text=True, timeout=60)
        codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx",
                          out.stdout)
        assert codes and int(codes.group(3)) == requests, out.stdout[-800:]
        samples = parse_exposition(scrape(proxy))
        [(_, lines)] = series(samples, "podproxy_access_log_lines_total")
        [(_, dropped)] = series(samples, "podproxy_access_log_dropped_total")
        assert dropped > 0 and lines + dropped == requests, (lines, dropped)
    finally:
        proxy.resume_output()
    # What was accepted arrives whole once the reader is back: every line parses, none is lost.
    wait_until(lambda: len(proxy.access_logs(response_code=404)) == lines, timeout=20,
               message=f"{lines:.0f} access log lines after the stall")
    assert proxy.garbled_lines() == []


# --- tracing -----------------------------------------------------------------------------------

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


def test_traceparent_is_continued_with_a_new_span(make_proxy, http_upstream):
    proxy = make_proxy(telemetry_config(http_upstream))
    r = http_get(proxy.port("ingress"), "/app/t",
                 headers={"traceparent": f"00-{TRACE}-{PARENT}-01", "tracestate": "vendor=1",
                          "x-request-id": "trace-1"})
    assert r.status == 200
    seen = http_upstream.last_request
    version, trace, span, flags = seen.header("traceparent").split("-")
    assert (version, trace, flags) == ("00", TRACE, "01")
    assert re.fullmatch(r"[0-9a-f]{16}", span) and span != PARENT
    assert seen.header("tracestate") == "vendor=1"
    assert seen.header("x-request-id") == "trace-1"
    line = wait_access_log(proxy, request_id="trace-1")
    assert (line["trace_id"], line["span_id"], line["parent_span_id"]) == (TRACE, span, PARENT)


def test_a_trace_is_started_under_the_sampling_rate(make_proxy, http_upstream):
    for sampling, flags in ((100, "01"), (0, "00")):
        config = telemetry_config(http_upstream, telemetry={"tracing": {"sampling": sampling}})
        proxy = make_proxy(config)
        assert http_get(proxy.port("ingress"), "/app/new").status == 200
        seen = http_upstream.last_request
        version, trace, span, got_flags = seen.header("traceparent").split("-")
        assert version == "00" and got_flags == flags
        assert re.fullmatch(r"[0-9a-f]{32}", trace) and trace != "0" * 32
        assert re.fullmatch(r"[0-9a-f]{16}", span)
        assert re.fullmatch(r"[0-9a-f-]{36}", seen.header("x-request-id"))
        proxy.stop()


def test_b3_headers_pass_through_consistent_with_traceparent(make_proxy, http_upstream):
    proxy = make_proxy(telemetry_config(http_upstream))
    assert http_get(proxy.port("ingress"), "/app/b3",
                    headers={"x-b3-traceid": "463ac35c9f6413ad48485a3953bb6124",
                             "x-b3-spanid": "a2fb4a1d1a96d312", "x-b3-sampled": "1"}).status \
        == 200
    seen = http_upstream.last_request
    _, trace, span, flags = seen.header("traceparent").split("-")
    assert trace == "463ac35c9f6413ad48485a3953bb6124" and flags == "01"
    assert seen.header("x-b3-traceid") == trace
    assert seen.header("x-b3-spanid") == span
    assert seen.header("x-b3-parentspanid") == "a2fb4a1d1a96d312"
    assert seen.header("x-b3-sampled") == "1"
