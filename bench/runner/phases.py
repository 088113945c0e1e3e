"""Rows beyond wrk's saturation runs: CPU per request at a fixed request rate (h2load --h1 --rps)
for every HTTP/1 contestant, and podproxy with two workers against one (wrk -t2)."""

import os
import shutil
import subprocess

import h2bench
import loadgen
import procs as procs_mod
import servers

RATE_CLIENTS = 50  # h2load -c; each client sends rate / RATE_CLIENTS requests per second
RATE_PATHS = [("rate /small", "/small"), ("rate /16k", "/16k")]


def run_fixed_rate(port, path, rate, duration_s, cpus):
    """h2load --h1 at `rate` req/s in total for `duration_s`; returns h2load's parsed numbers."""

    def pin():
        os.sched_setaffinity(0, cpus)

    per_client = max(1, rate // RATE_CLIENTS)
    argv = ["h2load", "--h1", "-c", str(RATE_CLIENTS), "--rps", str(per_client),
            "-D", str(duration_s), f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 60,
                         preexec_fn=pin)
    result = h2bench.parse_h2load(out.stdout)
    if out.returncode != 0 or result["succeeded"] is None:
        raise RuntimeError(f"h2load --h1 exited {out.returncode}: {out.stdout[-800:]}"
                           f"{out.stderr.strip()[-300:]}")
    result["raw"] = out.stdout
    return result


def fixed_rate_rows(started, plan, args):
    """CPU µs/req at args.rate req/s, /small and /16k, interleaved rounds. Returns run dicts."""
    if shutil.which("h2load") is None:
        print("skipping the fixed-rate rows: h2load not installed (apt-get install nghttp2-client)")
        return []
    runs = []
    order = list(started)
    for rnd in range(1, args.rounds + 1):
        shift = (rnd - 1) % max(1, len(order))
        for name in order[shift:] + order[:shift]:
            s = started[name]
            for label, path in RATE_PATHS:
                before = procs_mod.tree_cpu_seconds(s.proc.pid)
                cpus_before = procs_mod.cpu_times()
                try:
                    r = run_fixed_rate(s.port, path, args.rate, args.duration, {plan["load"]})
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    print(f"round {rnd} {name} {label}: {e}")
                    continue
                cpus_after = procs_mod.cpu_times()
                cpu = procs_mod.tree_cpu_seconds(s.proc.pid) - before
                done = r["succeeded"] or 0
                pc = plan["proxy"]
                busy = cpus_after[pc][0] - cpus_before[pc][0]
                r.update({"contestant": name, "path": label, "round": rnd, "rate": args.rate,
                          "proxy_cpu_s": cpu,
                          "cpu_us_per_req": cpu / done * 1e6 if done else None,
                          "proxy_cpu_foreign": max(0.0, busy - cpu) / args.duration})
                runs.append(r)
                bad = "" if not (r["failed"] or r["errored"] or r["non2xx"]) else (
                    f"  [{r['failed']} failed, {r['errored']} errored, {r['non2xx']} non-2xx]")
                print(f"round {rnd}/{args.rounds} {name:18} {label:11} {r['rps'] or 0:>8,.0f} "
                      f"req/s  {r['cpu_us_per_req'] or 0:.1f} CPU µs/req{bad}")
    return runs


def two_worker_rows(ps, tmp, plan, nofile, conn_limit, backend, bins, tls, mesh, podproxy, args):
    """podproxy --concurrency 2 (on every allowed CPU) against the running --concurrency 1 one
    (pinned alone), both driven by `wrk -t2` on every allowed CPU, /small. Returns run dicts."""
    if podproxy is None:
        return []
    every = set(os.sched_getaffinity(0)) | {plan["proxy"], plan["load"]}
    try:
        two = servers.start_contestant("podproxy", ps, os.path.join(tmp, "c2"), every, nofile,
                                       conn_limit, backend, bins, tls, mesh, concurrency=2)
        err = servers.warm_up(two)
        if err:
            raise RuntimeError(err)
    except (RuntimeError, OSError) as e:
        print(f"skipping the two-worker rows: {e}")
        return []
    rows = {"podproxy -c1": podproxy, "podproxy -c2": two}
    runs = []
    try:
        for s in rows.values():  # unrecorded warm-up
            loadgen.run_wrk(s.port, "/small", 1, args.connections, every, threads=2)
        for rnd in range(1, args.rounds + 1):
            names = list(rows) if rnd % 2 else list(rows)[::-1]
            for name in names:
                s = rows[name]
                before = procs_mod.tree_cpu_seconds(s.proc.pid)
                r = loadgen.run_wrk(s.port, "/small", args.duration, args.connections, every,
                                    threads=2)
                cpu = procs_mod.tree_cpu_seconds(s.proc.pid) - before
                r.update({"contestant": name, "path": "/small wrk -t2", "round": rnd,
                          "proxy_cpu_s": cpu,
                          "cpu_us_per_req": cpu / r["requests"] * 1e6 if r["requests"] else None})
                runs.append(r)
                print(f"round {rnd}/{args.rounds} {name:18} wrk -t2 /small {r['rps']:>10,.0f} "
                      f"req/s  {r['cpu_us_per_req'] or 0:.1f} CPU µs/req")
    finally:
        ps.stop(two.proc)
    return runs
