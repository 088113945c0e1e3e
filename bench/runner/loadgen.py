"""Runs wrk pinned to the load CPU and parses its --latency output."""

import os
import re
import resource
import subprocess
import time

_UNITS_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}


def _to_us(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(f"unparsable wrk latency {text!r}")
    return float(m.group(1)) * _UNITS_US[m.group(2)]


def parse_wrk(output):
    """Pulls requests, req/s, p50/p99 (µs) and error counts out of `wrk --latency` output."""
    result = {"requests": None, "rps": None, "p50_us": None, "p99_us": None,
              "errors": 0, "non2xx": 0}
    for line in output.splitlines():
        line = line.strip()
        m = re.match(r"(\d+)\s+requests in\s+([\d.]+\w+)", line)
        if m:
            result["requests"] = int(m.group(1))
            continue
        m = re.match(r"Requests/sec:\s+([\d.]+)", line)
        if m:
            result["rps"] = float(m.group(1))
            continue
        m = re.match(r"(50|99)(?:\.0+)?%\s+(\S+)", line)
        if m:
            result["p50_us" if m.group(1) == "50" else "p99_us"] = _to_us(m.group(2))
            continue
        m = re.match(
            r"Socket errors:\s+connect (\d+), read (\d+), write (\d+), timeout (\d+)", line)
        if m:
            result["errors"] = sum(int(g) for g in m.groups())
            continue
        m = re.match(r"Non-2xx or 3xx responses:\s+(\d+)", line)
        if m:
            result["non2xx"] = int(m.group(1))
    return result


def run_wrk(port, path, duration_s, connections, cpus, scheme="http", headers=(), threads=1):
    """One wrk run; returns the parsed result plus wrk's own CPU seconds and the wall time.
    scheme "https" for the TLS rows; headers e.g. ("Connection: close",) for a new connection
    (and TLS handshake) per request."""

    def pin():
        os.sched_setaffinity(0, cpus)

    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", "--latency"]
    for h in headers:
        argv += ["-H", h]
    argv.append(f"{scheme}://127.0.0.1:{port}{path}")
    # wrk is the only child reaped while it runs, so the RUSAGE_CHILDREN delta is its CPU time.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    out = subprocess.run(
        argv, capture_output=True, text=True, timeout=duration_s + 30, preexec_fn=pin
    )
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"wrk exited {out.returncode}: {out.stderr.strip()}")
    result = parse_wrk(out.stdout)
    if result["requests"] is None or result["rps"] is None:
        raise RuntimeError(f"could not parse wrk output:\n{out.stdout}")
    result["wrk_cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    result["wall_s"] = wall
    result["raw"] = out.stdout
    return result
