"""The PNG chart beside the report: per metric, each contestant's cost relative to the best of
nginx and HAProxy (= 1.0) as grouped bars, drawn by gnuplot (Debian: gnuplot-nox)."""

import os
import shutil
import subprocess

import report

BARS = ["floor", "podproxy", "podproxy+telemetry", "nginx", "haproxy"]
COLOURS = {"floor": "#999999", "podproxy": "#d62728", "podproxy+telemetry": "#ff9896",
           "nginx": "#2ca02c", "haproxy": "#1f77b4"}
# (summary key, axis label, better). req/s is drawn inverted (time per request) so that every
# bar reads the same way: lower is better.
METRICS = [
    ("rps_small", "1/(req/s)\\nsmall", "higher"),
    ("cpu_us_small", "CPU/req\\nsmall", "lower"),
    ("cpu_us_16k", "CPU/req\\n16k", "lower"),
    ("cpu_us_tls", "CPU/req\\nTLS", "lower"),
    ("cpu_us_rate_small", "CPU/req\\nfixed rate", "lower"),
    ("cpu_us_rate_16k", "CPU/req fixed\\nrate 16k", "lower"),
    ("ir_per_req", "instr./req\\ncallgrind", "lower"),
    ("idle_rss_mib", "idle\\nRSS", "lower"),
    ("bytes_per_idle_conn", "bytes/idle\\nconn", "lower"),
]
CAP = 4.0  # bars above this are clipped (and labelled) so the others stay readable


def _rows(summary):
    names = [n for n in BARS if n in summary]
    rows = []
    for key, label, better in METRICS:
        best = report.best_rival(summary, key, better)
        if best is None or not best[1]:
            continue
        values = []
        for n in names:
            v = summary[n].get(key)
            if v is None or v <= 0:
                values.append(None)
            else:
                values.append(best[1] / v if better == "higher" else v / best[1])
        rows.append((label, values))
    return names, rows


def write(png_path, summary, title):
    """Writes png_path; returns None, or why no chart was written."""
    if shutil.which("gnuplot") is None:
        return "gnuplot not installed (apt-get install gnuplot-nox)"
    names, rows = _rows(summary)
    if not rows or not names:
        return "no metric has both a contestant and nginx or HAProxy to compare with"
    data_path = png_path[:-4] + ".dat"
    with open(data_path, "w") as f:
        f.write("metric " + " ".join(f'"{n}"' for n in names) + "\n")
        for label, values in rows:
            cells = ["NaN" if v is None else f"{min(v, CAP):.4f}" for v in values]
            f.write(f'"{label}" ' + " ".join(cells) + "\n")
    # Values clipped at CAP get their real ratio written above the bar.
    labels = []
    width = 0.8 / len(names)
    for i, (_, values) in enumerate(rows):
        for j, v in enumerate(values):
            if v is not None and v > CAP:
                x = i - 0.4 + width * (j + 0.5)
                labels.append(f'set label "{v:.1f}" at {x:.3f},{CAP * 1.03:.2f} center font ",8"')
    top = max((v for _, vs in rows for v in vs if v is not None), default=1.0)
    ymax = max(1.2, min(top, CAP) * 1.12)
    plots = ", ".join(
        f"'{data_path}' using {j + 2}:xtic(1) title columnheader({j + 2}) "
        f"lc rgb '{COLOURS.get(n, '#000000')}'" for j, n in enumerate(names))
    script = "\n".join([
        "set terminal pngcairo size 1400,700 font 'sans,10'" if _has_cairo() else
        "set terminal png size 1400,700",
        f"set output '{png_path}'",
        f"set title \"{title}\\n(each metric ÷ the best of nginx and HAProxy; lower is better; "
        f"req/s drawn as 1/(req/s))\"",
        "set style data histogram",
        "set style histogram clustered gap 1",
        "set style fill solid 0.9 border -1",
        "set boxwidth 0.9",
        f"set yrange [0:{ymax:.2f}]",
        "set bmargin 5",
        "set ylabel 'relative to best of nginx / HAProxy'",
        "set grid ytics",
        "set key outside top center horizontal",
        "set xtics font ',9'",
        *labels,
        f"plot {plots}, 1 with lines dt 2 lw 1.5 lc rgb '#333333' "
        f"title 'best of nginx/HAProxy = 1', 0.7 with lines dt 3 lw 1.5 lc rgb '#d62728' "
        f"title 'podproxy target 0.7 (CPU/req)'",
        ""])
    try:
        out = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True,
                             timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"gnuplot failed: {e}"
    finally:
        try:
            os.remove(data_path)
        except OSError:
            pass
    if out.returncode != 0 or not os.path.exists(png_path):
        return f"gnuplot exited {out.returncode}: {out.stderr.strip()[-300:]}"
    return None


def _has_cairo():
    try:
        out = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True,
                             timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "pngcairo" in out.stdout + out.stderr
