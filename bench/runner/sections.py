"""The report's sections beyond the main table: CPU per request at a fixed rate, instructions per
request (callgrind), telemetry overhead, two workers, and mTLS on both sides."""

import statistics

import report

TELEMETRY_TARGET = 1.15  # podproxy+telemetry ÷ podproxy, CPU per request
RATE_TARGET = report.TARGETS["cpu_us_rate_small"]


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _ratio(a, b):
    return None if a is None or not b else a / b


def _r(x):
    return "—" if x is None else f"{x:.2f}"


def _cpu(x):
    return "—" if x is None else f"{x:.1f}"


def add_to_summary(summary, rate_runs, cg):
    """Folds the fixed-rate medians and the callgrind figures into the per-contestant summary."""
    for name, row in summary.items():
        for label, suffix in (("rate /small", "small"), ("rate /16k", "16k")):
            mine = [r for r in rate_runs if r["contestant"] == name and r["path"] == label]
            row[f"rps_rate_{suffix}"] = _median([r["rps"] for r in mine])
            row[f"cpu_us_rate_{suffix}"] = _median([r["cpu_us_per_req"] for r in mine])
        row["ir_per_req"] = (cg.get(name) or {}).get("ir_per_req")


def _best(summary, key):
    b = report.best_rival(summary, key, "lower")
    return (None, None) if b is None else b


def fixed_rate(summary, rate, rate_runs):
    lines = [f"## CPU per request at a fixed {rate:,} req/s", "",
             f"`h2load --h1 -c 50 --rps {max(1, rate // 50)} -D <duration>` (HTTP/1.1 keep-alive; "
             f"{rate:,} req/s in total, well below every contestant's ceiling), so each proxy "
             f"does the same work per second and its CPU time (utime + stime of its process "
             f"tree) ÷ requests completed is its cost per request. Medians over rounds.", ""]
    if not rate_runs:
        return lines + ["Not measured (h2load missing, or every run failed).", ""]
    lines += ["| contestant | req/s (small) | CPU µs/req (small) | req/s (16k) | CPU µs/req (16k) |",
              "|---|---:|---:|---:|---:|"]
    for name, row in summary.items():
        if row.get("cpu_us_rate_small") is None and row.get("cpu_us_rate_16k") is None:
            continue
        rs, r16 = row.get("rps_rate_small"), row.get("rps_rate_16k")
        lines.append(f"| {name} | {'—' if rs is None else f'{rs:,.0f}'} | "
                     f"{_cpu(row.get('cpu_us_rate_small'))} | "
                     f"{'—' if r16 is None else f'{r16:,.0f}'} | "
                     f"{_cpu(row.get('cpu_us_rate_16k'))} |")
    lines.append("")
    for suffix in ("small", "16k"):
        key = f"cpu_us_rate_{suffix}"
        best_name, best = _best(summary, key)
        if best is None:
            continue
        pp = _ratio((summary.get("podproxy") or {}).get(key), best)
        fl = _ratio((summary.get("floor") or {}).get(key), best)
        verdict = "" if pp is None else (" — target met" if pp <= RATE_TARGET else
                                         " — target missed")
        lines.append(f"- {suffix}: podproxy ÷ best ({best_name}) **{_r(pp)}** "
                     f"(target ≤ {RATE_TARGET}){verdict}; floor ÷ best {_r(fl)}.")
    lines.append("")
    return lines


def instructions(summary, cg, n1, n2):
    lines = ["## Instructions per request (callgrind)", "",
             f"Each contestant alone under `valgrind --tool=callgrind`, `h2load --h1 -c 4` sending "
             f"exactly N1 = {n1:,} and then, in a second run, N2 = {n2:,} keep-alive requests to "
             f"/small; (Ir(N2) − Ir(N1)) ÷ (N2 − N1) cancels start-up and shutdown. Instruction "
             f"counts do not move with other load on the machine as seconds do (nginx runs with "
             f"`master_process off`, HAProxy `-db`, podproxy all threads). User-space instructions "
             f"only: the kernel's work in system calls is not counted (the floor's few hundred "
             f"are little more than its system-call wrappers), so CPU µs/req stays the measure "
             f"of total cost and this one the stable measure of the proxy's own code.", ""]
    if not cg:
        return lines + ["Not measured (`--no-callgrind`).", ""]
    lines += ["| contestant | Ir (N1) | Ir (N2) | instructions/request |", "|---|---:|---:|---:|"]
    for name, c in cg.items():
        if c.get("error"):
            lines.append(f"| {name} | — | — | failed: {c['error'][:120]} |")
        else:
            lines.append(f"| {name} | {c['ir_n1']:,} | {c['ir_n2']:,} | {c['ir_per_req']:,.0f} |")
    lines.append("")
    best_name, best = _best(summary, "ir_per_req")
    if best is not None:
        pp = _ratio((summary.get("podproxy") or {}).get("ir_per_req"), best)
        fl = _ratio((summary.get("floor") or {}).get("ir_per_req"), best)
        lines.append(f"podproxy ÷ best ({best_name}): **{_r(pp)}**; floor ÷ best: {_r(fl)}.")
        lines.append("")
    return lines


def telemetry(summary):
    lines = ["## Telemetry overhead", "",
             "`podproxy+telemetry` is podproxy with a JSON access-log line per request (every "
             "field, stdout to /dev/null) and workload labels on its Istio metrics (which plain "
             "podproxy counts too: they cannot be turned off). Its cost ÷ podproxy's, target ≤ "
             f"{TELEMETRY_TARGET}:", ""]
    pp, tl = summary.get("podproxy"), summary.get("podproxy+telemetry")
    if not pp or not tl:
        return lines + ["Not measured (both podproxy and podproxy+telemetry are needed).", ""]
    lines += ["| metric | podproxy | podproxy+telemetry | ratio | target |", "|---|---:|---:|---:|---|"]
    for key, title in (("cpu_us_small", "CPU µs/req, saturated (small)"),
                       ("cpu_us_16k", "CPU µs/req, saturated (16k)"),
                       ("cpu_us_rate_small", "CPU µs/req, fixed rate (small)"),
                       ("cpu_us_rate_16k", "CPU µs/req, fixed rate (16k)"),
                       ("ir_per_req", "instructions/req (callgrind)")):
        a, b = pp.get(key), tl.get(key)
        if a is None and b is None:
            continue
        ratio = _ratio(b, a)
        met = "" if ratio is None else ("met" if ratio <= TELEMETRY_TARGET else "missed")
        fmt = (lambda v: "—" if v is None else f"{v:,.0f}") if key == "ir_per_req" else _cpu
        lines.append(f"| {title} | {fmt(a)} | {fmt(b)} | {_r(ratio)} | ≤ {TELEMETRY_TARGET} "
                     f"{met} |")
    lines.append("")
    return lines


def workers(worker_runs):
    lines = ["## Two workers", "",
             "podproxy `--concurrency 2` (allowed on every CPU) against `--concurrency 1` (pinned "
             "alone, as in the main table), both driven by `wrk -t2` on every CPU, /small, "
             "interleaved rounds, medians. On a 2-CPU machine the load generator and the backend "
             "share those CPUs, so this says whether a second worker helps at all, not how far "
             "it scales.", ""]
    if not worker_runs:
        return lines + ["Not measured (podproxy missing, `--no-workers`, or start-up failed).", ""]
    med = {}
    lines += ["| podproxy | req/s | CPU µs/req |", "|---|---:|---:|"]
    for name in ("podproxy -c1", "podproxy -c2"):
        mine = [r for r in worker_runs if r["contestant"] == name]
        med[name] = (_median([r["rps"] for r in mine]), _median([r["cpu_us_per_req"] for r in mine]))
        rps, cpu = med[name]
        lines.append(f"| {name} | {'—' if rps is None else f'{rps:,.0f}'} | {_cpu(cpu)} |")
    growth = _ratio(med["podproxy -c2"][0], med["podproxy -c1"][0])
    if growth is not None:
        verdict = "grows" if growth >= 1.10 else ("does not grow" if growth < 1.02 else
                                                  "grows only slightly")
        lines += ["", f"Throughput with two workers ÷ one: **{growth:.2f}** — it {verdict}."]
    lines.append("")
    return lines


def mtls(summary):
    lines = ["## mTLS on both sides", "",
             "wrk → TLS (server certificate only: wrk cannot present a client certificate) → "
             "proxy → mutual TLS (the proxy presents a SPIFFE workload certificate from the "
             "runner's mesh CA, made by `podproxy certs`) → the backend's `ssl_verify_client on` "
             "port. Keep-alive both sides, /small, the same rounds as the main table.", ""]
    rows = [(n, summary[n]) for n in ("podproxy", "haproxy")
            if n in summary and summary[n].get("cpu_us_mtls") is not None]
    if not rows:
        return lines + ["Not measured (podproxy or HAProxy missing, or no mesh certificates).", ""]
    lines += ["| contestant | req/s | p99 | CPU µs/req |", "|---|---:|---:|---:|"]
    for name, row in rows:
        p99 = row.get("p99_mtls_us")
        lines.append(f"| {name} | {row['rps_mtls']:,.0f} | "
                     f"{'—' if p99 is None else f'{p99 / 1000:.2f} ms'} | "
                     f"{_cpu(row['cpu_us_mtls'])} |")
    if len(rows) == 2:
        lines += ["", f"podproxy ÷ HAProxy, CPU µs/req: "
                      f"**{_r(_ratio(rows[0][1]['cpu_us_mtls'], rows[1][1]['cpu_us_mtls']))}** "
                      f"(lower is better); req/s: "
                      f"{_r(_ratio(rows[0][1]['rps_mtls'], rows[1][1]['rps_mtls']))}."]
    lines.append("")
    return lines
