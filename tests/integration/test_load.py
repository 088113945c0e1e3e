"""Short wrk runs through the proxy: no socket errors, no non-2xx responses, and the upstream saw
about as many requests as wrk completed. Correctness under concurrency only: no timing thresholds
(the fake upstream is a Python thread per connection, so throughput says nothing)."""

import re
import shutil
import subprocess

import pytest

from harness import basic_config

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")

CONNECTIONS = 16


def run_wrk(url, *, connections=CONNECTIONS, duration="2s", script=None, tmp_path=None):
    args = ["wrk", "-t1", f"-c{connections}", f"-d{duration}", "--timeout", "5s"]
    if script is not None:
        path = tmp_path / "wrk.lua"
        path.write_text(script)
        args += ["-s", str(path)]
    proc = subprocess.run([*args, url], capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    return parse_wrk(proc.stdout)


def parse_wrk(out):
    """{"requests", "socket_errors" (dict), "non_2xx", "text"} from wrk's report. wrk prints
    the error lines only when the counts are not zero."""
    m = re.search(r"^\s*(\d+) requests in ", out, re.M)
    assert m, out
    result = {"requests": int(m.group(1)), "non_2xx": 0, "text": out,
              "socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0}}
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        result["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"),
                                           map(int, m.groups())))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        result["non_2xx"] = int(m.group(1))
    return result


def test_parse_wrk_reads_error_lines():
    sample = ("  10 requests in 2.00s, 1.00KB read\n"
              "  Socket errors: connect 1, read 2, write 3, timeout 4\n"
              "  Non-2xx or 3xx responses: 5\n")
    parsed = parse_wrk(sample)
    assert parsed["requests"] == 10
    assert parsed["socket_errors"] == {"connect": 1, "read": 2, "write": 3, "timeout": 4}
    assert parsed["non_2xx"] == 5


def assert_clean(result, upstream):
    assert result["socket_errors"] == {"connect": 0, "read": 0, "write": 0, "timeout": 0}, \
        result["text"]
    assert result["non_2xx"] == 0, result["text"]
    assert result["requests"] > 0, result["text"]
    # wrk counts completed responses; requests still in flight when it stopped may have
    # reached the upstream too (at most one per connection).
    assert result["requests"] <= upstream.request_count <= result["requests"] + CONNECTIONS, \
        (result["requests"], upstream.request_count)


def test_wrk_get_through_one_worker(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream), concurrency=1)

    result = run_wrk(proxy.url("ingress", "/load"))

    assert_clean(result, http_upstream)
    assert http_upstream.malformed_requests == 0
    # Keep-alive: connections are pooled, not opened per request.
    assert http_upstream.connections_accepted <= CONNECTIONS
    assert proxy.stop() == 0


def test_wrk_get_through_two_workers(make_proxy, http_upstream):
    proxy = make_proxy(basic_config(http_upstream), concurrency=2)

    result = run_wrk(proxy.url("ingress", "/load2"))

    assert_clean(result, http_upstream)
    # Each worker has its own pool, so at most one connection per client connection per worker.
    assert http_upstream.connections_accepted <= 2 * CONNECTIONS
    assert proxy.stop() == 0


def test_wrk_post_bodies_arrive_intact(make_proxy, http_upstream, tmp_path):
    proxy = make_proxy(basic_config(http_upstream), concurrency=1)
    body = "x" * 3000
    script = (f'wrk.method = "POST"\nwrk.body = "{body}"\n'
              'wrk.headers["Content-Type"] = "text/plain"\n')

    result = run_wrk(proxy.url("ingress", "/post"), script=script, tmp_path=tmp_path)

    assert_clean(result, http_upstream)
    requests = http_upstream.requests
    assert all(r.method == "POST" and r.body == body.encode() for r in requests), \
        {(r.method, len(r.body)) for r in requests}
    assert proxy.stop() == 0
