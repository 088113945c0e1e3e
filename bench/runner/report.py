"""Turns the raw runs into medians, the Markdown table, the ratio section and notes."""

import statistics

# (key, column title, better) for every metric in the table; "higher" or "lower" is better.
METRICS = [
    ("rps_small", "req/s (small)", "higher"),
    ("p50_small_us", "p50 (small)", "lower"),
    ("p99_small_us", "p99 (small)", "lower"),
    ("cpu_us_small", "CPU µs/req (small)", "lower"),
    ("rps_16k", "req/s (16k)", "higher"),
    ("cpu_us_16k", "CPU µs/req (16k)", "lower"),
    ("rps_tls", "req/s (TLS keep-alive)", "higher"),
    ("cpu_us_tls", "CPU µs/req (TLS)", "lower"),
    ("rps_tls_handshake", "handshakes/s (TLS, new conn)", "higher"),
    ("cpu_us_tls_handshake", "CPU µs/handshake", "lower"),
    ("idle_rss_mib", "idle RSS MiB", "lower"),
    ("bytes_per_idle_conn", "bytes/idle conn", "lower"),
]

# Metrics that are not columns of the main table but do get ratios (sections.py fills them in).
EXTRA_METRICS = [
    ("cpu_us_rate_small", "CPU µs/req at fixed rate (small)", "lower"),
    ("cpu_us_rate_16k", "CPU µs/req at fixed rate (16k)", "lower"),
    ("ir_per_req", "instructions/req (callgrind, small)", "lower"),
]
# The targets for podproxy ÷ best of nginx and HAProxy.
TARGETS = {"cpu_us_rate_small": 0.7, "cpu_us_rate_16k": 0.7}
RIVALS = ("nginx", "haproxy")

SATURATED = 0.90  # a CPU busier than this over a run is treated as the ceiling
FOREIGN = 0.05  # share of the proxy's CPU taken by anything else before a run counts as disturbed


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(runs, static):
    """Medians over rounds per contestant. runs: list of run dicts; static: per-contestant dict."""
    summary = {}
    for name, info in static.items():
        if info.get("skipped"):
            continue
        row = {}
        for path, suffix in (("/small", "small"), ("/16k", "16k"), ("tls /small", "tls"),
                             ("tls handshake /small", "tls_handshake"),
                             ("mtls /small", "mtls")):
            mine = [r for r in runs if r["contestant"] == name and r["path"] == path]
            row[f"rps_{suffix}"] = _median([r["rps"] for r in mine])
            row[f"cpu_us_{suffix}"] = _median([r["cpu_us_per_req"] for r in mine])
            row[f"p50_{suffix}_us"] = _median([r["p50_us"] for r in mine])
            row[f"p99_{suffix}_us"] = _median([r["p99_us"] for r in mine])
        rss = info.get("idle_rss_bytes")
        row["idle_rss_mib"] = None if rss is None else rss / (1024 * 1024)
        row["bytes_per_idle_conn"] = (info.get("idle_conns") or {}).get("bytes_per_conn")
        summary[name] = row
    return summary


def best_rival(summary, key, better):
    """(name, value) of the better of nginx and HAProxy on `key`, or None."""
    rivals = [(n, summary[n].get(key)) for n in RIVALS if n in summary]
    rivals = [(n, v) for n, v in rivals if v is not None]
    if not rivals:
        return None
    return (max if better == "higher" else min)(rivals, key=lambda nv: nv[1])


def ratios(summary, name="podproxy"):
    """`name` (podproxy, or floor) ÷ the best of nginx and HAProxy, per metric."""
    if name not in summary:
        return {}
    out = {}
    for key, _, better in METRICS + EXTRA_METRICS:
        mine = summary[name].get(key)
        rivals = [(n, summary[n].get(key)) for n in RIVALS if n in summary]
        rivals = [(n, v) for n, v in rivals if v is not None]
        if mine is None or not rivals:
            continue
        pick = max if better == "higher" else min
        best_name, best = pick(rivals, key=lambda nv: nv[1])
        ratio = mine / best if best else None
        out[key] = {name: mine, "value": mine, "best": best, "best_of": best_name, "ratio": ratio,
                    "better": better}
    return out


def saturation_notes(runs, cpu_plan):
    """Says what bounded each contestant's req/s: wrk, wrk's CPU, latency, or other load."""
    notes, disturbed = [], []
    keys = []
    for r in runs:
        if (r["contestant"], r["path"]) not in keys:
            keys.append((r["contestant"], r["path"]))
    for key in keys:
        mine = [x for x in runs if (x["contestant"], x["path"]) == key]
        wrk = _median([x["wrk_cpu_s"] / x["wall_s"] for x in mine])
        load_cpu = _median([x["load_cpu_busy"] for x in mine])
        proxy = _median([x["proxy_cpu_s"] / x["wall_s"] for x in mine])
        foreign = _median([x["proxy_cpu_foreign"] + x["proxy_cpu_steal"] for x in mine])
        label = f"{key[0]} {key[1]}"
        if foreign >= FOREIGN:
            disturbed.append(f"{label} {foreign:.0%}")
        if wrk >= SATURATED:
            notes.append(f"{label}: wrk used {wrk:.0%} of its CPU — the load generator is the "
                         f"ceiling (proxy busy {proxy:.0%}).")
        elif key[0] == "direct":
            continue
        elif load_cpu >= SATURATED:
            notes.append(f"{label}: CPU {cpu_plan['load']} (wrk + backend) was {load_cpu:.0%} busy "
                         f"— the load side is the ceiling, not the proxy "
                         f"(proxy busy {proxy:.0%}); "
                         f"compare CPU µs/req rather than req/s.")
        elif proxy < SATURATED and foreign < FOREIGN:
            notes.append(f"{label}: neither the proxy ({proxy:.0%} busy) nor the load CPU "
                         f"({load_cpu:.0%}) was saturated: req/s is bounded by round-trip "
                         f"latency (wake-ups across CPUs) rather than by CPU; CPU µs/req still "
                         f"compares cost.")
    if disturbed:
        notes.insert(0, f"Disturbed: other processes or the hypervisor used CPU "
                        f"{cpu_plan['proxy']} (the proxy's) during the runs of "
                        f"{', '.join(disturbed)} (median share of wall time). req/s and latency "
                        f"are then unreliable; CPU µs/req less so. Rerun on a quiet machine.")
    return notes


def _fmt(key, value):
    if value is None:
        return "—"
    if key.endswith("_us") and key.startswith("p"):
        return f"{value / 1000:.2f} ms"
    if key.startswith("rps"):
        return f"{value:,.0f}"
    if key.startswith("cpu_us"):
        return f"{value:.1f}"
    if key == "ir_per_req":
        return f"{value:,.0f}"
    if key == "idle_rss_mib":
        return f"{value:.1f}"
    return f"{value:,.0f}"


def title_lines(meta):
    """The title and the machine line every report starts with."""
    return [f"# podproxy side-by-side benchmark — {meta['date']}", "",
            f"{meta['date']} · nproc {meta['nproc']} (allowed CPUs {meta['allowed_cpus']}) · "
            f"{meta['cpu_model']} · kernel {meta['kernel']} · {meta['versions']['nginx']} · "
            f"{meta['versions']['haproxy']} · {meta['versions']['wrk']} · "
            f"podproxy {meta['versions']['podproxy']}", ""]


def markdown(meta, summary, static, ratio_rows, floor_rows, notes):
    lines = title_lines(meta)
    plan = meta["cpu_plan"]
    lines.append(
        f"CPUs: proxy on {plan['proxy']}, backend on {plan['backend']}, wrk on {plan['load']}, "
        f"idle-connection client on {plan['client']}. {meta['rounds']} rounds × "
        f"{meta['duration_s']} s per run, wrk -t1 -c{meta['connections']}; medians over rounds. "
        f"Idle connections: {meta['idle_conns']}."
    )
    lines.append("")
    header = ["contestant"] + [title for _, title, _ in METRICS]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * len(METRICS)) + "|")
    for name, info in static.items():
        if info.get("skipped"):
            lines.append(f"| {name} | " + " | ".join(["skipped"] * len(METRICS)) + " |")
            continue
        row = summary[name]
        lines.append(f"| {name} | " + " | ".join(_fmt(k, row.get(k)) for k, _, _ in METRICS) + " |")
    lines.append("")
    lines.append("`direct` is wrk straight to the backend: its CPU, RSS and bytes/conn are the "
                 "backend nginx's own. RSS is VmRSS summed over the process tree (nginx: master + "
                 "worker).")
    lines.append("")
    lines.append("## podproxy and floor ÷ best of nginx and HAProxy")
    lines.append("")
    if not ratio_rows and not floor_rows:
        lines.append("Neither podproxy nor floor was measured (see skipped rows): no ratios.")
    else:
        lines.append("req/s: higher is better, so a ratio above 1 means podproxy wins. Every other "
                     "metric: lower is better, so a ratio below 1 means podproxy wins. `floor` is "
                     "the HTTP-less epoll byte shuttle: roughly the least any proxy can cost.")
        lines.append("")
        lines.append("| metric | podproxy | floor | best rival | podproxy ÷ best | floor ÷ best "
                     "| target | better |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---|")
        for key, title, _ in METRICS + EXTRA_METRICS:
            r, fl = ratio_rows.get(key), floor_rows.get(key)
            if r is None and fl is None:
                continue
            any_row = r or fl

            def ratio(x):
                return "—" if x is None or x["ratio"] is None else f"{x['ratio']:.2f}"

            target = f"≤ {TARGETS[key]}" if key in TARGETS else ""
            lines.append(f"| {title} | {_fmt(key, r and r['value'])} | "
                         f"{_fmt(key, fl and fl['value'])} | {_fmt(key, any_row['best'])} "
                         f"({any_row['best_of']}) | {ratio(r)} | {ratio(fl)} | {target} | "
                         f"{any_row['better']} |")
    lines.append("")
    if notes:
        lines.append("## Notes")
        lines.append("")
        # A note may carry a log tail: keep each on one list line.
        lines.extend("- " + " / ".join(l.strip() for l in n.splitlines() if l.strip())[:600]
                     for n in notes)
        lines.append("")
    return "\n".join(lines)
