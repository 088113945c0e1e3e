"""bench/run: side-by-side benchmark of podproxy against nginx and HAProxy (see bench/README.md)."""

import argparse
import datetime
import json
import os
import platform
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import callgrind
import chart
import h2bench
import loadgen
import phases
import procs as procs_mod
import report
import sections
import servers

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
RUNNER_DIR = os.path.dirname(os.path.abspath(__file__))
PATHS = ["/small", "/16k"]
# (label, path, scheme, wrk headers, Server attribute holding the port); the label is what the
# report groups runs by. TLS rows: the same proxy behind TLS termination, keep-alive, and a new
# connection (full handshake) per request. mTLS rows: TLS in, mutual TLS to the backend.
SCENARIOS = [
    ("/small", "/small", "http", (), "port"),
    ("/16k", "/16k", "http", (), "port"),
    ("tls /small", "/small", "https", (), "tls_port"),
    ("tls handshake /small", "/small", "https", ("Connection: close",), "tls_port"),
    ("mtls /small", "/small", "https", (), "mtls_port"),
]


def scenarios_for(server):
    return [s for s in SCENARIOS if getattr(server, s[4])]
WARMUP_S = 1


def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    p.add_argument("--quick", action="store_true",
                   help="3 rounds x 3 s, 2,000 idle connections (about 2 minutes)")
    p.add_argument("--rounds", type=int, help="interleaved rounds (default 5; quick 3)")
    p.add_argument("--duration", type=int, help="seconds per wrk run (default 10; quick 3)")
    p.add_argument("--idle-conns", type=int,
                   help="keep-alive connections for bytes/idle conn (default 10000; quick 2000)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    p.add_argument("--out", default=os.path.join(REPO, "bench", "results"),
                   help="directory for <timestamp>.md and .json (default bench/results)")
    p.add_argument("--podproxy", default=os.path.join(REPO, "build", "podproxy"),
                   help="podproxy binary (default build/podproxy)")
    p.add_argument("--floor", help="the floor contestant's binary (default: "
                   "podproxy_bench_floor next to the podproxy binary)")
    p.add_argument("--contestants", default=",".join(servers.CONTESTANTS),
                   help="comma-separated subset of " + ",".join(servers.CONTESTANTS))
    p.add_argument("--rate", type=int, default=5000,
                   help="total req/s of the fixed-rate rows (default 5000)")
    p.add_argument("--callgrind", action=argparse.BooleanOptionalAction, default=True,
                   help="instructions per request under valgrind --tool=callgrind (default on)")
    p.add_argument("--callgrind-requests", default=None,
                   help="N1,N2 requests of the two callgrind runs (default 2000,12000; "
                        "quick 500,3000)")
    p.add_argument("--h2-rounds", type=int,
                   help="interleaved rounds of the HTTP/2 rows (default 9; quick 3)")
    p.add_argument("--h2-only", action="store_true",
                   help="only the HTTP/2 rows (podproxy, nghttpx, HAProxy; a few minutes)")
    p.add_argument("--no-workers", action="store_true", help="skip the two-worker rows")
    p.add_argument("--no-chart", action="store_true", help="do not write the PNG chart")
    p.add_argument("--keep-tmp", action="store_true", help="keep the generated configs and logs")
    args = p.parse_args(argv)
    args.rounds = args.rounds or (3 if args.quick else 5)
    # The HTTP/2 rows are short and the machine's drift between rounds is larger than the
    # differences between their contestants: they get more rounds than the HTTP/1 rows.
    args.h2_rounds = args.h2_rounds or (3 if args.quick else 9)
    args.duration = args.duration or (3 if args.quick else 10)
    args.idle_conns = args.idle_conns if args.idle_conns is not None else (
        2000 if args.quick else 10000)
    if args.h2_only:
        args.contestants, args.idle_conns = "podproxy", 0
        args.no_workers, args.callgrind = True, False
    if not (1 <= args.rounds <= 50 and 1 <= args.h2_rounds <= 50 and 1 <= args.duration <= 600 and
            0 <= args.idle_conns <= 50000 and 1 <= args.connections <= 10000):
        p.error("rounds and h2-rounds 1..50, duration 1..600 s, idle-conns 0..50000, "
                "connections 1..10000")
    args.floor = args.floor or os.path.join(os.path.dirname(os.path.abspath(args.podproxy)),
                                            "podproxy_bench_floor")
    cg = args.callgrind_requests or ("500,3000" if args.quick else "2000,12000")
    try:
        args.cg_n1, args.cg_n2 = (int(x) for x in cg.split(","))
    except ValueError:
        p.error("--callgrind-requests takes N1,N2")
    if not (0 < args.cg_n1 < args.cg_n2 <= 1000000 and 50 <= args.rate <= 1000000):
        p.error("--callgrind-requests 0 < N1 < N2 <= 1000000; --rate 50..1000000")
    args.contestants = [c.strip() for c in args.contestants.split(",") if c.strip()]
    unknown = [c for c in args.contestants if c not in servers.CONTESTANTS]
    if unknown:
        p.error(f"unknown contestants: {unknown}")
    return args


def cpu_plan():
    """Which CPUs each role gets. The proxy under test is always alone on the first CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) == 1:
        c = cpus[0]
        return {"proxy": c, "backend": c, "load": c, "client": c}
    if len(cpus) == 2:
        # Two CPUs: the proxy gets one to itself; backend, wrk and the idle client share the other.
        return {"proxy": cpus[0], "backend": cpus[1], "load": cpus[1], "client": cpus[1]}
    if len(cpus) == 3:
        return {"proxy": cpus[0], "backend": cpus[1], "load": cpus[2], "client": cpus[2]}
    return {"proxy": cpus[0], "backend": cpus[1], "load": cpus[2], "client": cpus[3]}


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _podproxy_version(path):
    # Running an unknown binary with --version could start a server; describe the tree instead.
    try:
        rev = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        rev = ""
    return f"{rev or 'unknown revision'} ({path})"


def environment(args, plan, timestamp):
    return {
        "date": timestamp.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "nproc": os.cpu_count(),
        "allowed_cpus": sorted(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "kernel": platform.release(),
        "versions": {
            "nginx": servers.tool_version(["nginx", "-v"]),
            "haproxy": servers.tool_version(["haproxy", "-v"]).split(" - ")[0],
            "wrk": servers.tool_version(["wrk", "-v"]).split(" Copyright")[0],
            "podproxy": _podproxy_version(args.podproxy),
        },
        "cpu_plan": plan,
        "rounds": args.rounds,
        "h2_rounds": args.h2_rounds,
        "duration_s": args.duration,
        "connections": args.connections,
        "idle_conns": args.idle_conns,
        "quick": args.quick,
        "rate": args.rate,
        "floor": args.floor,
        "callgrind_requests": [args.cg_n1, args.cg_n2] if args.callgrind else None,
    }


def raise_nofile(wanted):
    """Raises this process's RLIMIT_NOFILE (inherited by everything it starts) toward `wanted`.

    Without CAP_SYS_RESOURCE (even root in a container may lack it) only the soft limit can rise,
    up to the hard limit: returns the limit actually in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, max(wanted, hard)))
        return wanted
    except (ValueError, OSError):
        pass
    limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    return limit


def _read_line(stream, timeout_s):
    ready, _, _ = select.select([stream], [], [], timeout_s)
    return stream.readline() if ready else ""


def measure_idle_conns(ps, server, count, plan, nofile, tmp):
    """RSS growth of the server's process tree per idle keep-alive downstream connection."""
    before = procs_mod.tree_rss_bytes(server.proc.pid)
    client = ps.spawn(
        f"idle client ({server.name})",
        [sys.executable, os.path.join(RUNNER_DIR, "idle_client.py"), str(server.port), str(count)],
        {plan["client"]}, nofile, os.path.join(tmp, "idle-client.err"),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    try:
        line = _read_line(client.stdout, 180)
        if not line:
            return {"error": "idle client gave no answer within 180 s"}
        opened = json.loads(line)
        time.sleep(1.0)  # let the proxy finish any deferred work before reading RSS
        after = procs_mod.tree_rss_bytes(server.proc.pid)
        client.stdin.write(b"\n")
        client.stdin.flush()
        _read_line(client.stdout, 60)
        client.wait(timeout=30)
    finally:
        ps.stop(client)
    idle = opened["idle"]
    return {
        "requested": count,
        "idle": idle,
        "failed": opened["failed"],
        "rss_before_bytes": before,
        "rss_after_bytes": after,
        "bytes_per_conn": (after - before) / idle if idle else None,
    }


def one_run(server, backend, scenario, duration, connections, plan):
    label, path, scheme, headers, attr = scenario
    port = getattr(server, attr)
    proxy_before = procs_mod.tree_cpu_seconds(server.proc.pid)
    backend_before = procs_mod.tree_cpu_seconds(backend.proc.pid)
    cpus_before = procs_mod.cpu_times()
    r = loadgen.run_wrk(port, path, duration, connections, {plan["load"]}, scheme, headers)
    cpus_after = procs_mod.cpu_times()
    proxy_cpu = procs_mod.tree_cpu_seconds(server.proc.pid) - proxy_before
    backend_cpu = procs_mod.tree_cpu_seconds(backend.proc.pid) - backend_before
    # Whatever else ran on the proxy's CPU (other users of the machine, the hypervisor) disturbs
    # the result: record it so the report can say so.
    pc = plan["proxy"]
    proxy_cpu_busy = cpus_after[pc][0] - cpus_before[pc][0]
    proxy_cpu_steal = cpus_after[pc][1] - cpus_before[pc][1]
    own = proxy_cpu if server.proc is not backend.proc else 0.0
    if plan["backend"] == pc:
        own += backend_cpu
    if plan["load"] == pc:
        own += r["wrk_cpu_s"]
    # Busy fraction of the CPU wrk runs on: wrk plus whatever shares that CPU with it.
    load_busy = r["wrk_cpu_s"]
    if plan["backend"] == plan["load"]:
        load_busy += backend_cpu
    if plan["proxy"] == plan["load"] and server.proc is not backend.proc:
        load_busy += proxy_cpu
    r.update({
        "contestant": server.name,
        "path": label,
        "proxy_cpu_s": proxy_cpu,
        "backend_cpu_s": backend_cpu,
        "cpu_us_per_req": proxy_cpu / r["requests"] * 1e6 if r["requests"] else None,
        "load_cpu_busy": load_busy / r["wall_s"],
        "proxy_cpu_foreign": max(0.0, proxy_cpu_busy - own) / r["wall_s"],
        "proxy_cpu_steal": proxy_cpu_steal / r["wall_s"],
    })
    return r


def run(args):
    missing = [t for t in ("wrk",) if shutil.which(t) is None]
    if missing:
        print(f"error: {', '.join(missing)} not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    if shutil.which("nginx") is None:
        print("error: nginx (the backend) not installed (apt-get install nginx-light)",
              file=sys.stderr)
        return 2
    plan = cpu_plan()
    timestamp = datetime.datetime.now(datetime.timezone.utc)
    meta = environment(args, plan, timestamp)
    # The runner itself stays off the proxy's CPU (after reading the allowed set for the header).
    os.sched_setaffinity(0, {plan["load"]})
    if len(meta["allowed_cpus"]) == 1:
        print("warning: only one CPU allowed; every process shares it, numbers are indicative only")
    conn_limit = args.idle_conns + 1024
    nofile = raise_nofile(2 * conn_limit + 1024)
    # Two fds per idle connection: a contestant may hold one upstream connection per client (the
    # floor does), and one that runs out stalls the idle client until its deadline.
    if nofile < 2 * args.idle_conns + 1024:
        args.idle_conns = max(0, (nofile - 1024) // 2)
        conn_limit = args.idle_conns + 1024
        meta["idle_conns"] = args.idle_conns
        print(f"warning: the open-file limit is {nofile}; idle connections capped at "
              f"{args.idle_conns}")
    meta["nofile"] = nofile

    static = {name: {} for name in args.contestants}
    for name in ("podproxy", "podproxy+telemetry"):
        if name in static and not os.access(args.podproxy, os.X_OK):
            static[name]["skipped"] = f"{args.podproxy} not found or not executable (build it)"
    if "floor" in static and not os.access(args.floor, os.X_OK):
        static["floor"]["skipped"] = (f"{args.floor} not found or not executable (cmake --build "
                                      f"build --target podproxy_bench_floor, or --floor PATH)")
    if "haproxy" in static and shutil.which("haproxy") is None:
        static["haproxy"]["skipped"] = "haproxy not installed (apt-get install haproxy)"
    for name, info in static.items():
        if info.get("skipped"):
            print(f"skipping {name}: {info['skipped']}")

    tmp = tempfile.mkdtemp(prefix="podproxy-bench-")
    os.chmod(tmp, 0o755)
    ps = procs_mod.ProcessSet()
    runs, rounds = [], []
    h2_runs, h2_skipped = [], {}
    rate_runs, worker_runs, cg = [], [], {}
    bins = {"podproxy": args.podproxy, "floor": args.floor}
    try:
        mesh = servers.make_mesh_certificates(tmp, args.podproxy)
        backend = servers.start_backend(ps, tmp, {plan["backend"]}, nofile, conn_limit, mesh)
        err = servers.warm_up(backend)
        if err:
            raise RuntimeError(f"backend check failed: {err}")
        tls_files = servers.make_certificate(tmp)
        started = {}
        for name, info in static.items():
            if info.get("skipped"):
                continue
            try:
                s = servers.start_contestant(name, ps, tmp, {plan["proxy"]}, nofile, conn_limit,
                                             backend, bins, tls_files, mesh)
                err = servers.warm_up(s)
                if err:
                    if s.proc is not backend.proc:
                        ps.stop(s.proc)
                    raise RuntimeError(err)
            except (RuntimeError, OSError) as e:
                info["skipped"] = f"failed to start or answer: {e}"
                print(f"skipping {name}: {info['skipped']}")
                continue
            info["idle_rss_bytes"] = procs_mod.tree_rss_bytes(s.proc.pid)
            info["idle_pss_bytes"] = procs_mod.tree_pss_bytes(s.proc.pid)
            info["pids"] = procs_mod.process_tree(s.proc.pid)
            started[name] = s
            print(f"{name}: listening on 127.0.0.1:{s.port}, idle RSS "
                  f"{info['idle_rss_bytes'] / 2**20:.1f} MiB")

        for name, s in started.items():
            if args.idle_conns:
                res = measure_idle_conns(ps, s, args.idle_conns, plan, nofile, tmp)
                static[name]["idle_conns"] = res
                bpc = res.get("bytes_per_conn")
                each = f"{bpc:,.0f} bytes each" if bpc is not None else res.get("error", "failed")
                print(f"{name}: {res.get('idle', 0)} idle connections, {each}")

        order = [] if args.h2_only else list(started)
        if order:
            for name in order:  # one unrecorded warm-up run each
                for _, path, scheme, headers, attr in scenarios_for(started[name]):
                    loadgen.run_wrk(getattr(started[name], attr), path, WARMUP_S,
                                    args.connections, {plan["load"]}, scheme, headers)
        for rnd in range(1, args.rounds + 1):
            shift = (rnd - 1) % max(1, len(order))
            this_order = order[shift:] + order[:shift]
            rounds.append({"round": rnd, "order": this_order})
            for name in this_order:
                for scenario in scenarios_for(started[name]):
                    path = scenario[0]
                    r = one_run(started[name], backend, scenario, args.duration, args.connections,
                                plan)
                    r["round"] = rnd
                    runs.append(r)
                    bad = "" if not (r["errors"] or r["non2xx"]) else (
                        f"  [{r['errors']} socket errors, {r['non2xx']} non-2xx]")
                    print(f"round {rnd}/{args.rounds} {name:18} {path:20} {r['rps']:>10,.0f} req/s  "
                          f"p99 {r['p99_us'] / 1000:.2f} ms  "
                          f"{r['cpu_us_per_req'] or 0:.1f} CPU µs/req{bad}")
        # CPU per request at a fixed rate (h2load --h1 --rps): every HTTP/1 contestant.
        if not args.h2_only:
            rate_runs = phases.fixed_rate_rows(started, plan, args)
        if not args.no_workers:
            worker_runs = phases.two_worker_rows(ps, tmp, plan, nofile, conn_limit, backend, bins,
                                                 tls_files, mesh, started.get("podproxy"), args)
        # HTTP/2 rows (h2load), their own section: podproxy against nghttpx and HAProxy.
        h2_runs, h2_skipped = h2bench.run_rows(ps, tmp, plan, nofile, conn_limit, backend,
                                               started.get("podproxy"), args)
        if args.callgrind:
            cg = callgrind.run_rows(ps, tmp, plan, nofile, backend, bins, tls_files, mesh,
                                    [n for n in started if n != "direct"], args.cg_n1,
                                    args.cg_n2)
    finally:
        ps.stop_all()
        if args.keep_tmp:
            print(f"configs and logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    summary = report.summarize(runs, static)
    sections.add_to_summary(summary, rate_runs, cg)
    ratio_rows = report.ratios(summary)
    floor_rows = report.ratios(summary, "floor")
    notes = report.saturation_notes(runs, plan)
    for name, info in static.items():
        if info.get("skipped"):
            notes.append(f"{name} skipped: {info['skipped']}")
        ic = info.get("idle_conns") or {}
        if ic.get("error"):
            notes.append(f"{name}: idle-connection test failed: {ic['error']}")
        if ic.get("failed"):
            notes.append(f"{name}: {ic['failed']} of {ic['requested']} idle connections failed.")
    errs = [r for r in runs if r["errors"] or r["non2xx"]]
    for r in errs:
        notes.append(f"{r['contestant']} {r['path']} round {r['round']}: {r['errors']} socket "
                     f"errors, {r['non2xx']} non-2xx responses.")
    if len(meta["allowed_cpus"]) == 2:
        notes.append("2 CPUs: the proxy has CPU %d to itself; backend and wrk share CPU %d, so "
                     "req/s is often bounded by the load side — CPU µs/req is the fairer "
                     "comparison." % (plan["proxy"], plan["load"]))

    for r in rate_runs:
        if r["failed"] or r["errored"] or r["non2xx"]:
            notes.append(f"{r['contestant']} {r['path']} round {r['round']}: {r['failed']} failed, "
                         f"{r['errored']} errored, {r['non2xx']} non-2xx requests.")
        if r["rps"] and r["rps"] < 0.9 * args.rate:
            notes.append(f"{r['contestant']} {r['path']} round {r['round']}: only "
                         f"{r['rps']:,.0f} of {args.rate:,} req/s reached.")

    h2_summary = h2bench.summarize(h2_runs, h2_skipped)
    os.makedirs(args.out, exist_ok=True)
    stamp = timestamp.strftime("%Y%m%dT%H%M%SZ")
    md_path, json_path, png_path = (os.path.join(args.out, f"{stamp}.{ext}")
                                    for ext in ("md", "json", "png"))
    if args.no_chart or args.h2_only:
        chart_error = "not drawn (--no-chart)" if args.no_chart else "not drawn (--h2-only)"
    else:
        chart_error = chart.write(png_path, summary,
                                  f"podproxy side-by-side benchmark, {meta['date']}")
    if args.h2_only:
        text = "\n".join(report.title_lines(meta) + h2bench.markdown(h2_summary, plan))
    else:
        text = report.markdown(meta, summary, static, ratio_rows, floor_rows, notes)
        text += "\n" + "\n".join(
            sections.fixed_rate(summary, args.rate, rate_runs)
            + sections.instructions(summary, cg, args.cg_n1, args.cg_n2)
            + sections.telemetry(summary)
            + sections.mtls(summary)
            + sections.workers(worker_runs)
            + h2bench.markdown(h2_summary, plan))
    text += (f"\nChart: ![ratios]({stamp}.png)\n" if chart_error is None
             else f"\nChart: {chart_error}.\n")
    print()
    print(text)
    with open(md_path, "w") as f:
        f.write(text)
    with open(json_path, "w") as f:
        json.dump({"meta": meta, "contestants": static, "rounds": rounds, "runs": runs,
                   "summary": summary, "ratios": ratio_rows, "floor_ratios": floor_rows,
                   "notes": notes, "fixed_rate": {"rate": args.rate, "runs": rate_runs},
                   "callgrind": cg, "two_workers": {"runs": worker_runs},
                   "http2": {"runs": h2_runs, "summary": h2_summary}}, f, indent=1)
    print(f"wrote {md_path}, {json_path}" + ("" if chart_error else f" and {png_path}"))
    return 0


def main(argv):
    args = parse_args(argv)

    def on_term(signum, frame):
        raise KeyboardInterrupt  # unwinds through the finally that stops every process

    # Also when started in the background (where the shell leaves SIGINT ignored).
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("interrupted; every started process was stopped", file=sys.stderr)
        return 130
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
