"""Instructions per request: each contestant runs under valgrind --tool=callgrind for a fixed
number of keep-alive requests, twice (N1 and N2 requests); Ir(N2) - Ir(N1) over N2 - N1 cancels
start-up and shutdown. Instruction counts do not swing with other load the way seconds do."""

import os
import re
import shutil
import subprocess
import time

import h2bench
import servers

CONTESTANTS = ["floor", "podproxy", "podproxy+telemetry", "nginx", "haproxy"]
CONNECTIONS = 4
START_TIMEOUT_S = 120.0  # valgrind translates the whole binary lazily: start-up is slow
EXIT_TIMEOUT_S = 120.0
# Connection limits for these runs: only CONNECTIONS clients, and smaller pools make HAProxy's and
# nginx's start-up (which callgrind counts twice, then cancels) much quicker.
CONN_LIMIT = 1024


def total_ir(path):
    """Total Ir from a callgrind.out file's `totals:` (or `summary:`) line."""
    summary = None
    with open(path, errors="replace") as f:
        for line in f:
            m = re.match(r"(totals|summary):\s+(\d+)", line)
            if m:
                if m.group(1) == "totals":
                    return int(m.group(2))
                summary = int(m.group(2))
    if summary is None:
        raise RuntimeError(f"no totals/summary line in {path}")
    return summary


def _start(name, requests, ps, tmp, cpus, nofile, backend, bins, tls, mesh):
    """Starts `name` under callgrind on its own ports; returns (Server, callgrind.out path)."""
    work = os.path.join(tmp, f"cg-{name.replace('+', '-')}-{requests}")
    os.makedirs(work, exist_ok=True)
    out_file = os.path.join(work, "callgrind.out")
    wrap = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}",
            "--dump-line=no", "--compress-strings=no", "--trace-children=no"]
    s = servers.start_contestant(name, ps, work, cpus, nofile, CONN_LIMIT, backend, bins, tls,
                                 mesh, wrap=wrap, start_timeout_s=START_TIMEOUT_S)
    return s, out_file


def _drive(s, requests, cpus):
    r = h2bench.run_fixed(s.port, "/small", requests, CONNECTIONS, cpus, timeout_s=600)
    if r["succeeded"] != requests or r["non2xx"]:
        raise RuntimeError(f"{r['succeeded']} of {requests} requests succeeded, "
                           f"{r['non2xx']} non-2xx")


def _finish(ps, name, s, out_file):
    # SIGTERM: podproxy drains (drain_timeout 1s, nothing in flight), nginx with
    # master_process off and HAProxy -db stop, floor exits; valgrind then writes the file.
    ps.stop(s.proc, timeout_s=EXIT_TIMEOUT_S)
    if s.proc.returncode not in (0, -15, 143) or not os.path.exists(out_file):
        raise RuntimeError(f"{name} under callgrind exited {s.proc.returncode} without "
                           f"{os.path.basename(out_file)}")
    return total_ir(out_file)


def _measure(name, n1, n2, ps, tmp, plan, nofile, backend, bins, tls, mesh):
    """Ir of the N1 and the N2 run, one after the other, each alone on the proxy's CPU. (Running
    the two at once halves the wall time but made podproxy's N1 count drift by 25 %: keep them
    apart.)"""
    irs = []
    for n in (n1, n2):
        s, out_file = _start(name, n, ps, tmp, {plan["proxy"]}, nofile, backend, bins, tls, mesh)
        try:
            _drive(s, n, {plan["load"]})
        finally:
            ir = _finish(ps, name, s, out_file)
        irs.append(ir)
    return irs


def run_rows(ps, tmp, plan, nofile, backend, bins, tls, mesh, names, n1, n2):
    """{name: {"ir_n1", "ir_n2", "n1", "n2", "ir_per_req"} or {"error"}} for each of `names`."""
    if shutil.which("valgrind") is None:
        return {n: {"error": "valgrind not installed (apt-get install valgrind)"} for n in names}
    if shutil.which("h2load") is None:
        return {n: {"error": "h2load not installed"} for n in names}
    results = {}
    for name in [n for n in CONTESTANTS if n in names]:
        start = time.monotonic()
        try:
            ir1, ir2 = _measure(name, n1, n2, ps, tmp, plan, nofile, backend, bins, tls, mesh)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            results[name] = {"error": str(e).splitlines()[0][:300]}
            print(f"callgrind {name}: {results[name]['error']}")
            continue
        per = (ir2 - ir1) / (n2 - n1)
        results[name] = {"n1": n1, "n2": n2, "ir_n1": ir1, "ir_n2": ir2, "ir_per_req": per,
                         "seconds": time.monotonic() - start}
        print(f"callgrind {name:18} {per:>10,.0f} instructions/request "
              f"({time.monotonic() - start:.0f} s)")
    return results
