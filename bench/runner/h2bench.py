"""HTTP/2 rows: podproxy, nghttpx and HAProxy as h2c (prior knowledge) proxies in front of the
same backend, driven by h2load. podproxy is the running contestant (its HTTP listener also speaks
HTTP/2); nghttpx and an HAProxy with an `proto h2` frontend are started for these rows only."""

import os
import re
import resource
import shutil
import statistics
import subprocess
import time

import procs as procs_mod
import servers
from procs import free_port

CONTESTANTS = ["podproxy", "nghttpx", "haproxy"]
PATH = "/small"
CLIENTS = 16
STREAMS = 10  # concurrent streams per client connection (h2load -m)
REQUESTS_PER_SECOND_OF_RUN = 20000  # -n is sized so one run lasts about --duration
# A run during which other processes took this share of the proxy's CPU, or of the CPU that
# h2load and the backend share, is measured again (up to RETRIES times): on this kind of machine
# a neighbour on the host can take a quarter of a CPU for seconds and cut one run's req/s by a
# third, more than the contestants differ.
FOREIGN = 0.05
RETRIES = 2


def parse_h2load(output):
    """req/s, request counts and mean time per request (µs) from h2load's summary."""
    result = {"rps": None, "requests": None, "succeeded": None, "failed": None,
              "errored": None, "non2xx": None, "mean_us": None}
    for line in output.splitlines():
        line = line.strip()
        m = re.match(r"finished in [\d.]+\w+, ([\d.]+) req/s", line)
        if m:
            result["rps"] = float(m.group(1))
        m = re.match(r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, "
                     r"(\d+) errored", line)
        if m:
            result["requests"] = int(m.group(1))
            result["succeeded"] = int(m.group(2))
            result["failed"] = int(m.group(3))
            result["errored"] = int(m.group(4))
        m = re.match(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", line)
        if m:
            result["non2xx"] = sum(int(g) for g in m.groups()[1:])
        m = re.match(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", line)
        if m:
            result["mean_us"] = _to_us(m.group(3))
    return result


def _to_us(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return None
    return float(m.group(1)) * {"us": 1.0, "ms": 1e3, "s": 1e6}[m.group(2)]


def run_h2load(port, requests, cpus, timeout_s):
    def pin():
        os.sched_setaffinity(0, cpus)

    argv = ["h2load", "-n", str(requests), "-c", str(CLIENTS), "-m", str(STREAMS),
            f"http://127.0.0.1:{port}{PATH}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, preexec_fn=pin)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = parse_h2load(out.stdout)
    if out.returncode != 0 or result["rps"] is None or result["succeeded"] is None:
        raise RuntimeError(f"h2load exited {out.returncode}: {out.stdout[-1500:]}"
                           f"{out.stderr.strip()[-500:]}")
    result["load_cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    result["wall_s"] = wall
    result["raw"] = out.stdout
    return result


def run_fixed(port, path, requests, clients, cpus, timeout_s):
    """Exactly `requests` HTTP/1.1 keep-alive requests over `clients` connections (h2load --h1)."""

    def pin():
        os.sched_setaffinity(0, cpus)

    argv = ["h2load", "--h1", "-n", str(requests), "-c", str(clients),
            f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, preexec_fn=pin)
    result = parse_h2load(out.stdout)
    if out.returncode != 0 or result["succeeded"] is None:
        raise RuntimeError(f"h2load --h1 exited {out.returncode}: {out.stdout[-800:]}"
                           f"{out.stderr.strip()[-300:]}")
    return result


class H2Server:
    def __init__(self, name, proc, port):
        self.name = name
        self.proc = proc
        self.port = port


def start_extra(name, ps, tmp, cpus, nofile, conn_limit, backend):
    """Starts nghttpx or the h2 HAProxy (the HTTP/1 HAProxy keeps its own config untouched)."""
    port = free_port()
    log = os.path.join(tmp, f"{name}-h2.out")
    if name == "nghttpx":
        # An empty --conf: never the system's /etc/nghttpx/nghttpx.conf. One worker, h2c frontend,
        # HTTP/1.1 backend, no access log (as every contestant here).
        conf = os.path.join(tmp, "nghttpx.conf")
        open(conf, "w").close()
        argv = ["nghttpx", f"--conf={conf}", f"--frontend=127.0.0.1,{port};no-tls",
                f"--backend=127.0.0.1,{backend.port};;proto=http/1.1", "--workers=1",
                "--log-level=WARN", f"--errorlog-file={log}",
                f"--pid-file={os.path.join(tmp, 'nghttpx.pid')}"]
    elif name == "haproxy":
        conf = servers.render_config("haproxy-h2.cfg", os.path.join(tmp, "haproxy-h2.cfg"), port=port,
                       backend_port=backend.port, maxconn=conn_limit, nofile=nofile)
        argv = ["haproxy", "-db", "-f", conf]
    else:
        raise ValueError(name)
    proc = servers.spawn_listening(ps, f"{name} (h2)", argv, cpus, nofile, log, [port])
    return H2Server(name, proc, port)


def one_run(server, backend, requests, plan, timeout_s):
    proxy_before = procs_mod.tree_cpu_seconds(server.proc.pid)
    backend_before = procs_mod.tree_cpu_seconds(backend.proc.pid)
    cpus_before = procs_mod.cpu_times()
    r = run_h2load(server.port, requests, {plan["load"]}, timeout_s)
    cpus_after = procs_mod.cpu_times()
    proxy_cpu = procs_mod.tree_cpu_seconds(server.proc.pid) - proxy_before
    backend_cpu = procs_mod.tree_cpu_seconds(backend.proc.pid) - backend_before
    done = r["succeeded"] or 0

    # As for the wrk rows: what else ran on the proxy's CPU (other users, steal) disturbs req/s,
    # and so does anything on the CPU that h2load and the backend share.
    def foreign(cpu, own):
        busy = cpus_after[cpu][0] - cpus_before[cpu][0]
        steal = cpus_after[cpu][1] - cpus_before[cpu][1]
        return (max(0.0, busy - own) + steal) / r["wall_s"]

    on = {cpu: 0.0 for cpu in {plan["proxy"], plan["load"], plan["backend"]}}
    on[plan["proxy"]] += proxy_cpu
    on[plan["load"]] += r["load_cpu_s"]
    on[plan["backend"]] += backend_cpu
    r.update({
        "contestant": server.name,
        "path": "h2 " + PATH,
        "proxy_cpu_s": proxy_cpu,
        "cpu_us_per_req": proxy_cpu / done * 1e6 if done else None,
        "load_cpu_busy": r["load_cpu_s"] / r["wall_s"],
        "proxy_cpu_foreign": foreign(plan["proxy"], on[plan["proxy"]]),
        "load_cpu_foreign": foreign(plan["load"], on[plan["load"]]),
    })
    return r


def disturbed(run):
    return max(run["proxy_cpu_foreign"], run.get("load_cpu_foreign", 0.0)) >= FOREIGN


def measure_undisturbed(measure, on_retry=lambda run: None):
    """measure() again while its run was disturbed, at most RETRIES more times; the last run,
    with `attempt` (retries before it) and `disturbed` set."""
    for attempt in range(RETRIES + 1):
        r = measure()
        r["attempt"], r["disturbed"] = attempt, disturbed(r)
        if not r["disturbed"] or attempt == RETRIES:
            return r
        on_retry(r)


def run_rows(ps, tmp, plan, nofile, conn_limit, backend, podproxy, args):
    """Measures the HTTP/2 rows in interleaved rounds. `podproxy`: its running Server, or None.
    Returns (runs, skipped {name: why})."""
    skipped = {}
    if shutil.which("h2load") is None:
        return [], {n: "h2load not installed (apt-get install nghttp2-client)" for n in CONTESTANTS}
    servers = {}
    if podproxy is not None:
        servers["podproxy"] = H2Server("podproxy", podproxy.proc, podproxy.port)
    else:
        skipped["podproxy"] = "podproxy not running"
    for name, tool in (("nghttpx", "nghttpx"), ("haproxy", "haproxy")):
        if shutil.which(tool) is None:
            skipped[name] = f"{tool} not installed"
            continue
        try:
            servers[name] = start_extra(name, ps, tmp, {plan["proxy"]}, nofile, conn_limit,
                                        backend)
        except (RuntimeError, OSError) as e:
            skipped[name] = f"failed to start: {e}"
    requests = REQUESTS_PER_SECOND_OF_RUN * args.duration
    timeout_s = args.duration * 10 + 60
    order = [n for n in CONTESTANTS if n in servers]
    for name in order:  # unrecorded warm-up, and a check that every request succeeds
        try:
            r = run_h2load(servers[name].port, 2000, {plan["load"]}, 60)
            if r["succeeded"] != 2000 or r["non2xx"]:
                raise RuntimeError(f"{r['succeeded']} of 2000 succeeded, {r['non2xx']} non-2xx")
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            skipped[name] = f"h2load warm-up failed: {e}"
    order = [n for n in order if n not in skipped]
    runs = []
    for rnd in range(1, args.h2_rounds + 1):
        shift = (rnd - 1) % max(1, len(order))
        for name in order[shift:] + order[:shift]:
            def note(r, rnd=rnd, name=name):
                print(f"round {rnd}/{args.h2_rounds} {name:8} disturbed (other processes took "
                      f"{r['proxy_cpu_foreign']:.0%} of the proxy's CPU, "
                      f"{r['load_cpu_foreign']:.0%} of the load's): measuring again")

            r = measure_undisturbed(
                lambda: one_run(servers[name], backend, requests, plan, timeout_s), note)
            r["round"] = rnd
            runs.append(r)
            bad = "" if not (r["failed"] or r["errored"] or r["non2xx"]) else (
                f"  [{r['failed']} failed, {r['errored']} errored, {r['non2xx']} non-2xx]")
            print(f"round {rnd}/{args.h2_rounds} {name:8} h2 {PATH:17} {r['rps']:>10,.0f} req/s  "
                  f"mean {(r['mean_us'] or 0) / 1000:.2f} ms  "
                  f"{r['cpu_us_per_req'] or 0:.1f} CPU µs/req{bad}")
    return runs, skipped


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


RIVALS = ["nghttpx", "haproxy"]


def paired_ratios(runs, rival):
    """podproxy ÷ `rival` within each round, one pair of ratios per round.

    The machine's speed drifts over a run (frequency, neighbours on the host) by more than the
    contestants differ; runs of one round are back to back, so a ratio within a round cancels
    most of the drift that a ratio of medians over rounds keeps."""
    by_round = {}
    for r in runs:
        by_round.setdefault(r["round"], {})[r["contestant"]] = r
    pairs = []
    for rnd in sorted(by_round):
        mine, theirs = by_round[rnd].get("podproxy"), by_round[rnd].get(rival)
        if mine is None or theirs is None:
            continue
        pairs.append({
            "round": rnd,
            "rps": mine["rps"] / theirs["rps"] if mine["rps"] and theirs["rps"] else None,
            "cpu_us": (mine["cpu_us_per_req"] / theirs["cpu_us_per_req"]
                       if mine["cpu_us_per_req"] and theirs["cpu_us_per_req"] else None),
        })
    return pairs


def best_peer(rows, key, better):
    """The rival with the best median `key` over all rounds: the peer the target names.

    Not the better of the two in each round: with two rivals of equal speed, the per-round
    maximum of two noisy numbers sits above either one's typical value (by about half the noise's
    standard deviation), and a proxy as fast as both would come out slower than each."""
    named = [(rows[n][key], n) for n in RIVALS if n in rows and rows[n][key] is not None]
    return better(named)[1] if named else None


def summarize(runs, skipped):
    med = _median

    summary = {}
    for name in CONTESTANTS:
        mine = [r for r in runs if r["contestant"] == name]
        if not mine:
            continue
        summary[name] = {"rps": med([r["rps"] for r in mine]),
                         "mean_us": med([r["mean_us"] for r in mine]),
                         "cpu_us": med([r["cpu_us_per_req"] for r in mine]),
                         "load_busy": med([r["load_cpu_busy"] for r in mine]),
                         "foreign": med([r["proxy_cpu_foreign"] for r in mine]),
                         "disturbed": sum(1 for r in mine if r.get("disturbed")),
                         "remeasured": sum(r.get("attempt", 0) for r in mine)}
    per_rival = {}
    for rival in RIVALS:
        pairs = paired_ratios(runs, rival) if "podproxy" in summary else []
        if pairs:
            per_rival[rival] = {"rounds": len(pairs), "per_round": pairs,
                                "rps": med([p["rps"] for p in pairs]),
                                "cpu_us": med([p["cpu_us"] for p in pairs])}
    paired = {"per_rival": per_rival,
              "rps_peer": best_peer({n: summary[n] for n in per_rival}, "rps", max),
              "cpu_peer": best_peer({n: summary[n] for n in per_rival}, "cpu_us", min)}
    paired["rps"] = per_rival[paired["rps_peer"]]["rps"] if paired["rps_peer"] else None
    paired["cpu_us"] = per_rival[paired["cpu_peer"]]["cpu_us"] if paired["cpu_peer"] else None
    return {"rows": summary, "skipped": skipped, "paired": paired,
            "rounds": max((r["round"] for r in runs), default=0)}


def markdown(summary, plan):
    rows, skipped = summary["rows"], summary["skipped"]
    lines = ["## HTTP/2 (h2c prior knowledge)", "",
             f"`h2load -n <{REQUESTS_PER_SECOND_OF_RUN}/s × duration> -c {CLIENTS} -m {STREAMS} "
             f"http://127.0.0.1:PORT{PATH}` against each proxy's h2c port (podproxy: its HTTP "
             f"listener; nghttpx `--frontend=…;no-tls --workers=1`; HAProxy `bind … proto h2`, "
             f"nbthread 1), HTTP/1.1 to the same backend; proxy on CPU {plan['proxy']}, h2load "
             f"on CPU {plan['load']}. Medians over {summary.get('rounds', 0)} interleaved rounds.",
             "",
             "| contestant | req/s (h2 small) | mean time/request | CPU µs/req (h2 small) |",
             "|---|---:|---:|---:|"]
    for name in CONTESTANTS:
        if name in rows:
            r = rows[name]
            rps = "—" if r["rps"] is None else f"{r['rps']:,.0f}"
            mean = "—" if r["mean_us"] is None else f"{r['mean_us'] / 1000:.2f} ms"
            cpu = "—" if r["cpu_us"] is None else f"{r['cpu_us']:.1f}"
            lines.append(f"| {name} | {rps} | {mean} | {cpu} |")
        elif name in skipped:
            lines.append(f"| {name} | skipped | skipped | skipped |")
    rivals = [rows[n] for n in ("nghttpx", "haproxy") if n in rows]
    if "podproxy" in rows and rivals:
        mine = rows["podproxy"]
        parts = []
        best_rps = max((r["rps"] for r in rivals if r["rps"]), default=None)
        best_cpu = min((r["cpu_us"] for r in rivals if r["cpu_us"]), default=None)
        if mine["rps"] and best_rps:
            parts.append(f"req/s {mine['rps'] / best_rps:.2f} (higher is better)")
        if mine["cpu_us"] and best_cpu:
            parts.append(f"CPU µs/req {mine['cpu_us'] / best_cpu:.2f} (lower is better)")
        if parts:
            lines += ["", "podproxy ÷ best of nghttpx and HAProxy (ratio of the medians): "
                      + ", ".join(parts) + "."]
    paired = summary.get("paired") or {}
    per_rival = paired.get("per_rival") or {}
    if per_rival:
        lines += ["", "Paired by round (podproxy ÷ the rival's run of the same round, which cancels "
                      "the machine's drift between rounds; median and range over the rounds):", ""]
        for rival, p in per_rival.items():
            rps = [x["rps"] for x in p["per_round"] if x["rps"]]
            cpu = [x["cpu_us"] for x in p["per_round"] if x["cpu_us"]]
            if rps and cpu:
                lines.append(f"- ÷ {rival}, {p['rounds']} rounds: req/s {p['rps']:.2f} "
                             f"({min(rps):.2f}–{max(rps):.2f}), CPU µs/req {p['cpu_us']:.2f} "
                             f"({min(cpu):.2f}–{max(cpu):.2f})")
        if paired.get("rps") is not None and paired.get("cpu_us") is not None:
            lines += ["", f"Against the best peer (by median req/s: {paired['rps_peer']}; by median "
                          f"CPU µs/req: {paired['cpu_peer']}): req/s {paired['rps']:.2f} (target "
                          f"≥ 1), CPU µs/req {paired['cpu_us']:.2f} (target ≤ 1)."]
    busy = [n for n, r in rows.items() if r["load_busy"] is not None and r["load_busy"] >= 0.9]
    if busy:
        lines += ["", f"h2load used ≥90% of its CPU for {', '.join(busy)}: the load generator "
                      f"was the ceiling there; compare CPU µs/req."]
    remeasured = sum(r.get("remeasured", 0) for r in rows.values())
    if remeasured:
        lines += ["", f"{remeasured} run(s) were measured again because other processes took "
                      f"≥{FOREIGN:.0%} of the proxy's CPU or of the load's CPU during them."]
    disturbed = [f"{n} {r['disturbed']}" for n, r in rows.items() if r.get("disturbed")]
    if disturbed:
        lines += ["", f"Still disturbed after {RETRIES} more tries (runs per contestant): "
                      f"{', '.join(disturbed)}; their req/s and latency are unreliable, CPU µs/req "
                      f"less so."]
    for name, why in skipped.items():
        lines += ["", f"{name} skipped: {why}"]
    lines.append("")
    return lines
