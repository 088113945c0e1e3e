"""The process: command line, config validation errors, the embedded default with overrides,
the admin server, SIGTERM drain, the drain timeout, concurrency, bind failures, JSON logs."""

import json
import re
import signal
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from harness import (RawConnection, basic_config, http_get, http_request, run_podproxy,
                     to_yaml, wait_until)

GOOD_YAML = """\
admin: {address: "127.0.0.1:0"}
listeners:
  - name: ingress
    address: 127.0.0.1:0
    http:
      route_config:
        virtual_hosts:
          - name: all
            domains: ["*"]
            routes:
              - match: {prefix: /}
                route: {cluster: backend, timeout: 2s}
clusters:
  - name: backend
    endpoints: ["127.0.0.1:9"]
"""


def admin_get(proxy, path, method="GET"):
    return http_request(proxy.admin_port, method, path, timeout=5)


def start_in_background(fn):
    """Runs fn() on a daemon thread; returns a callable giving its result (or exception)."""
    box = {}

    def run():
        try:
            box["result"] = fn()
        except Exception as e:  # noqa: BLE001 - reported to the test
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()

    def result(timeout=10):
        t.join(timeout)
        assert not t.is_alive(), "background request did not finish"
        if "error" in box:
            raise box["error"]
        return box["result"]
    return result


def connect_refused(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        # Reset while the listening socket was being closed: ask again.
        return False


def served(port, path):
    try:
        return http_get(port, path, timeout=2).status == 200
    except OSError:
        return False


# -- command line --------------------------------------------------------------------------------

def test_version_prints_the_version():
    proc = run_podproxy(["--version"])
    assert proc.returncode == 0
    assert re.fullmatch(r"podproxy \d+\.\d+\.\d+\S*\n", proc.stdout), proc.stdout


def test_help_prints_usage_and_exits_zero():
    proc = run_podproxy(["--help"])
    assert proc.returncode == 0
    assert "Usage:" in proc.stdout
    for option in ("--config", "--listen", "--upstream", "--admin", "--concurrency"):
        assert option in proc.stdout


def test_unknown_flag_exits_2_with_usage():
    proc = run_podproxy(["--no-such-flag"])
    assert proc.returncode == 2
    assert "--no-such-flag" in proc.stderr
    assert "Usage:" in proc.stderr


def test_validate_accepts_a_good_file(tmp_path):
    path = tmp_path / "good.yaml"
    path.write_text(GOOD_YAML)

    proc = run_podproxy(["validate", "-c", str(path)])

    assert proc.returncode == 0, proc.stderr
    assert "valid" in proc.stdout


@pytest.mark.parametrize("name,edit,line,field,message", [
    ("unknown_field",
     lambda y: y.replace("    address: 127.0.0.1:0\n", "    address: 127.0.0.1:0\n    bogus: 1\n"),
     5, "listeners[0].bogus", "unknown field"),
    ("bad_duration", lambda y: y.replace("timeout: 2s", "timeout: 2 fortnights"),
     12, "listeners[0].http.route_config.virtual_hosts[0].routes[0].route.timeout", "duration"),
    ("undefined_cluster", lambda y: y.replace("cluster: backend,", "cluster: nowhere,"),
     12, "listeners[0].http.route_config.virtual_hosts[0].routes[0].route.cluster",
     "'nowhere' is not defined"),
    ("bad_regex", lambda y: y.replace("match: {prefix: /}", 'match: {regex: "/a(["}'),
     11, "listeners[0].http.route_config.virtual_hosts[0].routes[0].match.regex",
     "invalid regex"),
    ("yaml_syntax", lambda y: y.replace('domains: ["*"]', 'domains: ["*"'),
     10, None, "invalid YAML"),
])
def test_validate_rejects_a_bad_file_naming_place_and_field(tmp_path, name, edit, line, field,
                                                             message):
    path = tmp_path / f"{name}.yaml"
    path.write_text(edit(GOOD_YAML))

    proc = run_podproxy(["validate", "-c", str(path)])

    assert proc.returncode == 1
    err = proc.stderr.strip()
    match = re.match(rf"{re.escape(str(path))}:(\d+):(\d+): (.*)$", err)
    assert match, err
    assert int(match.group(1)) == line, err
    assert int(match.group(2)) >= 1
    if field is not None:
        assert match.group(3).startswith(field + ":"), err
    assert message in err


def test_validate_of_a_missing_file_names_it(tmp_path):
    path = tmp_path / "does-not-exist.yaml"

    proc = run_podproxy(["validate", "-c", str(path)])

    assert proc.returncode == 1
    assert str(path) in proc.stderr


@pytest.mark.parametrize("args", [["--concurrency", "lots"], ["--log-level", "loud"],
                                  ["--config"], ["frobnicate"]])
def test_bad_command_lines_exit_2(args):
    proc = run_podproxy(args)
    assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
    assert proc.stderr.strip(), "a usage error says what is wrong"


def test_explicit_run_command_runs_the_proxy(make_proxy, http_upstream, tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(to_yaml(basic_config(http_upstream)))
    proxy = make_proxy(None, args=["run", "-c", str(path)])

    assert http_get(proxy.port("ingress"), "/run").status == 200
    assert proxy.stop() == 0


def test_validate_without_a_file_is_a_usage_error():
    proc = run_podproxy(["validate"])
    assert proc.returncode == 2


def test_starting_with_an_invalid_config_exits_1_with_a_json_error(make_proxy):
    broken = GOOD_YAML.replace("cluster: backend,", "cluster: nowhere,")
    proxy = make_proxy(broken, wait_ready=False)

    assert proxy.wait_exit(10) == 1
    errors = [e for e in proxy.logs if e.get("level") == "error"]
    assert errors, proxy.output_tail()
    entry = errors[0]
    assert entry["msg"] == "invalid configuration"
    assert entry["file"] == str(proxy.config_path)
    assert entry["line"] == 12
    assert entry["field"].endswith("route.cluster")
    assert "nowhere" in entry["error"]
    assert not proxy.find_logs(msg="ready")


# -- the embedded default ------------------------------------------------------------------------

def test_embedded_default_with_overrides_proxies_and_logs_its_addresses(make_proxy,
                                                                        http_upstream):
    proxy = make_proxy(None, args=["--listen", "127.0.0.1:0", "--upstream", http_upstream.address,
                                   "--admin", "127.0.0.1:0"])

    started = proxy.find_logs(msg="starting podproxy")
    assert started and started[0]["config"] == "<embedded default>"
    listening = {e["listener"]: e["address"] for e in proxy.find_logs(msg="listening")}
    assert set(listening) == {"ingress", "admin"}
    assert all(re.fullmatch(r"127\.0\.0\.1:\d+", a) and not a.endswith(":0")
               for a in listening.values()), listening

    r = http_get(proxy.port("ingress"), "/via-default")
    assert r.status == 200
    assert r.json()["path"] == "/via-default"
    assert http_upstream.request_count == 1
    assert proxy.stop() == 0


def test_print_default_is_a_valid_config(tmp_path):
    proc = run_podproxy(["print-default"])
    assert proc.returncode == 0
    path = tmp_path / "default.yaml"
    path.write_text(proc.stdout)
    assert run_podproxy(["validate", "-c", str(path)]).returncode == 0


# -- admin ---------------------------------------------------------------------------------------

def test_admin_ready_healthz_config_dump_and_stats(make_proxy, http_upstream, tcp_upstream):
    proxy = make_proxy(basic_config(http_upstream, tcp_upstream))

    ready = admin_get(proxy, "/ready")
    assert ready.status == 200
    assert ready.body.strip() == b"LIVE"
    assert admin_get(proxy, "/healthz").status == 200

    dump = admin_get(proxy, "/config_dump")
    assert dump.status == 200
    assert dump.header("content-type") == "application/json"
    text = json.dumps(json.loads(dump.body))
    for name in ("ingress", "tcp_in", "backend", "tcp_backend"):
        assert f'"{name}"' in text, name

    assert http_get(proxy.port("ingress"), "/count-me").status == 200
    assert admin_get(proxy, "/stats").status == 200
    stats = proxy.stats()
    assert stats["server.ready"] == 1
    assert "cluster.backend.upstream_rq_active" in stats
    assert "listener.ingress.downstream_cx_active" in stats

    assert admin_get(proxy, "/no-such-page").status == 404


def test_admin_ready_reports_not_ready_while_draining(make_proxy, http_upstream):
    config = basic_config(http_upstream)
    config["drain_timeout"] = "5s"
    proxy = make_proxy(config, concurrency=1)
    # Keep the drain going with a request in flight.
    slow = start_in_background(lambda: http_get(proxy.port("ingress"), "/delay/1500"))
    assert http_upstream.wait_for_requests(1, timeout=5)

    proxy.signal(signal.SIGTERM)
    proxy.wait_for_log(msg="draining")
    r = admin_get(proxy, "/ready")

    assert r.status == 503
    assert slow().status == 200
    assert proxy.wait_exit(10) == 0


def test_quitquitquit_requires_post_then_exits_zero(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream))

    assert admin_get(proxy, "/quitquitquit").status == 405
    assert proxy.running()

    r = admin_get(proxy, "/quitquitquit", method="POST")
    assert r.status == 200
    assert proxy.wait_exit(10) == 0
    assert proxy.find_logs(msg="draining")


# -- SIGTERM drain -------------------------------------------------------------------------------

def test_sigterm_drains_in_flight_requests_then_exits_zero(make_proxy, http_upstream):
    config = basic_config(http_upstream)
    config["drain_timeout"] = "10s"
    proxy = make_proxy(config, concurrency=1)
    port = proxy.port("ingress")

    conn = RawConnection(port, timeout=10)
    try:
        conn.send(b"GET /delay/1500 HTTP/1.1\r\nhost: drain.local\r\n\r\n")
        assert http_upstream.wait_for_requests(1, timeout=5)

        proxy.signal(signal.SIGTERM)
        wait_until(lambda: connect_refused(port), timeout=3,
                   message="the listener to stop accepting")
        assert proxy.running()  # still serving the request in flight

        response = conn.read_response(timeout=5)
        assert response is not None and response.status == 200
        assert response.header("connection") == "close"
        assert response.json()["path"] == "/delay/1500"
        assert conn.wait_closed(timeout=3)
    finally:
        conn.close()

    assert proxy.wait_exit(10) == 0
    assert proxy.find_logs(msg="drained")


def test_sigterm_closes_idle_keep_alive_connections(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream), concurrency=1)

    with RawConnection(proxy.port("ingress")) as conn:
        conn.send(b"GET /one HTTP/1.1\r\nhost: x\r\n\r\n")
        assert conn.read_response().status == 200
        started = time.monotonic()
        proxy.signal(signal.SIGTERM)
        assert conn.wait_closed(timeout=3)
        assert time.monotonic() - started < 2

    assert proxy.wait_exit(5) == 0


def test_drain_timeout_bounds_the_wait_for_slow_requests(make_proxy, http_upstream):
    config = basic_config(http_upstream, timeout="10s")
    config["drain_timeout"] = "500ms"
    proxy = make_proxy(config, concurrency=1)

    conn = RawConnection(proxy.port("ingress"), timeout=10)
    try:
        conn.send(b"GET /delay/5000 HTTP/1.1\r\nhost: x\r\n\r\n")
        assert http_upstream.wait_for_requests(1, timeout=5)
        started = time.monotonic()
        proxy.signal(signal.SIGTERM)

        code = proxy.wait_exit(5)
        elapsed = time.monotonic() - started

        assert code == 0
        assert 0.4 <= elapsed < 2.0
        assert proxy.find_logs(msg="drain timeout reached, closing remaining connections")
        assert conn.wait_closed(timeout=2)  # the unfinished request's connection is gone
    finally:
        conn.close()


def send_refused_requests(proxy, count):
    """`count` smuggling attempts on new connections: each answered 400 at once, and each a
    debug line ("downstream protocol error") of about 200 bytes."""
    smuggle = (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    for i in range(count):
        with socket.create_connection(("127.0.0.1", proxy.port("ingress")), timeout=5) as s:
            s.sendall(smuggle)
            head = s.recv(64)  # a worker blocked on stdout would time out here
            assert head.startswith(b"HTTP/1.1 400 "), (i, head)


def test_second_sigterm_exits_at_once(make_proxy, http_upstream):
    config = basic_config(http_upstream, timeout="10s")
    config["drain_timeout"] = "30s"
    proxy = make_proxy(config, concurrency=1)

    conn = RawConnection(proxy.port("ingress"), timeout=10)
    try:
        conn.send(b"GET /delay/5000 HTTP/1.1\r\nhost: x\r\n\r\n")
        assert http_upstream.wait_for_requests(1, timeout=5)
        proxy.signal(signal.SIGTERM)
        proxy.wait_for_log(msg="draining")
        time.sleep(0.2)
        assert proxy.running()

        started = time.monotonic()
        code = proxy.stop(signal.SIGTERM, timeout=5)

        assert time.monotonic() - started < 1.0
        assert code >= 0, "exited by itself, not killed by the signal"
        assert code != 0, "an interrupted drain is not a clean exit"
        assert proxy.find_logs(msg="second signal, exiting now")
    finally:
        conn.close()


def test_second_sigterm_writes_the_access_log_lines_of_finished_requests(make_proxy,
                                                                         http_upstream):
    # Access-log lines wait in the worker's ring for the writer thread, which looks every 5 ms:
    # a second signal right after a response must not lose that response's line.
    config = basic_config(http_upstream, timeout="10s")
    config["drain_timeout"] = "30s"
    proxy = make_proxy(config, concurrency=1)
    slow = RawConnection(proxy.port("ingress"), timeout=10)
    last = RawConnection(proxy.port("ingress"), timeout=10)
    try:
        slow.send(b"GET /delay/5000 HTTP/1.1\r\nhost: x\r\n\r\n")
        last.send(b"GET /delay/300/last-words HTTP/1.1\r\nhost: x\r\n\r\n")
        assert http_upstream.wait_for_requests(2, timeout=5)
        proxy.signal(signal.SIGTERM)
        proxy.wait_for_log(msg="draining")

        # The drain lets the request in flight finish; the second signal follows its response.
        assert last.read_response().status == 200
        code = proxy.stop(signal.SIGTERM, timeout=5)

        assert code == 1
        assert proxy.access_logs(path="/delay/300/last-words")
    finally:
        slow.close()
        last.close()


def test_second_sigterm_does_not_wait_for_a_stalled_stdout(make_proxy, http_upstream):
    # The second signal gives the access-log writer and the log sink one bounded moment (300 ms)
    # to write their last lines; a log collector that stopped reading must not hold the exit
    # beyond it.
    config = basic_config(http_upstream, timeout="10s")
    config["drain_timeout"] = "30s"
    proxy = make_proxy(config, log_level="debug", concurrency=1)
    conn = RawConnection(proxy.port("ingress"), timeout=10)
    proxy.pause_output()
    try:
        # ~200-byte debug lines: 100 KB fill the pipe (64 KiB) and leave the rest in the sink.
        send_refused_requests(proxy, 500)
        # Access-log lines behind them: the access-log writer is stuck in write(2) too.
        for _ in range(20):
            assert http_get(proxy.port("ingress"), "/").status == 200
        conn.send(b"GET /delay/5000 HTTP/1.1\r\nhost: x\r\n\r\n")
        assert http_upstream.wait_for_requests(1, timeout=5)
        proxy.signal(signal.SIGTERM)
        wait_until(lambda: admin_get(proxy, "/ready").status == 503, timeout=5,
                   message="the drain to start")

        started = time.monotonic()
        code = proxy.stop(signal.SIGTERM, timeout=5)

        assert time.monotonic() - started < 2.0
        assert code == 1, "exited by itself, after the bounded wait for stdout"
    finally:
        proxy.resume_output()
        conn.close()


def test_sigint_drains_like_sigterm(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream), concurrency=1)
    assert http_get(proxy.port("ingress"), "/").status == 200

    assert proxy.stop(signal.SIGINT, timeout=10) == 0
    assert proxy.find_logs(msg="draining", reason="SIGINT")


# -- concurrency and startup failures ------------------------------------------------------------

def test_two_workers_serve_many_connections(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream), concurrency=2)
    assert proxy.find_logs(msg="ready")[0]["workers"] == 2
    port = proxy.port("ingress")
    statuses = []
    lock = threading.Lock()

    def client(i):
        for j in range(4):
            s = http_get(port, f"/w/{i}/{j}").status
            with lock:
                statuses.append(s)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(25)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)

    assert statuses == [200] * 100
    assert http_upstream.request_count == 100
    assert proxy.stop() == 0


def test_listener_port_already_in_use_exits_1_with_a_clear_log(make_proxy, http_upstream):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        config = basic_config(http_upstream)
        config["listeners"][0]["address"] = f"127.0.0.1:{taken.getsockname()[1]}"
        proxy = make_proxy(config, wait_ready=False)

        assert proxy.wait_exit(10) == 1
        errors = [e for e in proxy.logs if e.get("level") == "error"]
        assert errors, proxy.output_tail()
        assert errors[0]["msg"] == "cannot listen"
        assert errors[0]["listener"] == "ingress"
        assert "EADDRINUSE" in errors[0]["error"] or "in use" in errors[0]["error"].lower()
        assert not proxy.find_logs(msg="ready")
    finally:
        taken.close()


def test_admin_port_already_in_use_exits_1(make_proxy, http_upstream):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        config = basic_config(http_upstream)
        config["admin"]["address"] = f"127.0.0.1:{taken.getsockname()[1]}"
        proxy = make_proxy(config, wait_ready=False)

        assert proxy.wait_exit(10) == 1
        assert proxy.find_logs(msg="cannot listen", listener="admin"), proxy.output_tail()
    finally:
        taken.close()


def test_every_output_line_is_json(make_proxy, http_upstream, tcp_upstream):
    proxy = make_proxy(basic_config(http_upstream, tcp_upstream), log_level="debug")
    http_get(proxy.port("ingress"), "/log-me")
    http_get(proxy.port("ingress"), "/status/500")
    with socket.create_connection(("127.0.0.1", proxy.port("tcp_in")), timeout=5) as s:
        s.sendall(b"x")
        s.recv(1)
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{proxy.admin_port}/nope", timeout=5)
    except urllib.error.HTTPError:
        pass
    assert proxy.stop() == 0

    assert len(proxy.lines) >= 5
    for line in proxy.lines:
        entry = json.loads(line)  # raises on a non-JSON line
        assert isinstance(entry, dict)
        if "start_time" in entry and "msg" not in entry:
            continue  # an access log line (Envoy's field names; test_telemetry.py checks them)
        assert {"time", "level", "msg"} <= set(entry), line
    assert proxy.logs[-1]["msg"] == "exited"


def test_a_stalled_stdout_drops_log_lines_but_blocks_no_loop(make_proxy, http_upstream):
    # At debug level every refused request logs a line from its worker. A log collector that
    # stops reading fills the pipe; the lines then wait in the log sink (256 KiB) and beyond it
    # are dropped and counted. No event loop waits for stdout: every request is answered at
    # once, and so is the admin server on the main thread.
    proxy = make_proxy(basic_config(http_upstream), log_level="debug", concurrency=1)
    requests = 3000  # ~200-byte lines: 600 KB, past the pipe (64 KiB) and the sink together
    proxy.pause_output()
    try:
        send_refused_requests(proxy, requests)
        dropped = proxy.stats()["log.dropped"]
        assert dropped > 0
    finally:
        proxy.resume_output()
    # What the sink took arrives whole once the reader is back.
    errors = lambda: [e for e in proxy.logs if e.get("msg") == "downstream protocol error"]
    wait_until(lambda: len(errors()) >= 1000, timeout=20,
               message="the debug lines the sink held")
    assert len(errors()) < requests  # the rest were dropped, not queued
    assert proxy.garbled_lines() == []


def test_yaml_written_by_the_harness_round_trips_through_validate(tmp_path, http_upstream):
    # Guards the other tests: what the harness writes is what the proxy reads.
    path = tmp_path / "basic.yaml"
    path.write_text(to_yaml(basic_config(http_upstream)))
    assert run_podproxy(["validate", "-c", str(path)]).returncode == 0


def test_listener_max_connections_closes_connections_beyond_the_limit(make_proxy, http_upstream):
    config = basic_config(http_upstream)
    config["listeners"][0]["max_connections"] = 2
    proxy = make_proxy(config, concurrency=1)
    port = proxy.port("ingress")

    with RawConnection(port) as a, RawConnection(port) as b:
        for conn in (a, b):
            conn.send(b"GET /held HTTP/1.1\r\nhost: x\r\n\r\n")
            assert conn.read_response().status == 200
        with RawConnection(port) as c:
            c.send(b"GET /third HTTP/1.1\r\nhost: x\r\n\r\n")
            assert c.read_response(timeout=2) is None
            assert c.closed
        assert proxy.stats()["listener.ingress.downstream_cx_overflow"] == 1
    # Both released: new connections are served again.
    wait_until(lambda: served(port, "/later"), timeout=3, message="a new connection to be served")


def test_ipv6_listener(make_proxy, http_upstream):
    config = basic_config(http_upstream)
    config["listeners"][0]["address"] = "[::1]:0"
    proxy = make_proxy(config, concurrency=1)

    assert proxy.address("ingress").startswith("[::1]:")
    r = http_get(proxy.port("ingress"), "/v6", host="::1")
    assert r.status == 200
    assert http_upstream.last_request.header("x-forwarded-for") == "::1"
