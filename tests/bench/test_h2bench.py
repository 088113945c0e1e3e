"""The HTTP/2 rows' arithmetic in bench/runner/h2bench.py: medians and the per-round paired
ratios that the README's HTTP/2 verdict rests on. Pure functions on made-up runs."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "runner"))

import h2bench  # noqa: E402


def run(contestant, rnd, rps, cpu):
    return {"contestant": contestant, "round": rnd, "rps": rps, "cpu_us_per_req": cpu,
            "mean_us": 1000.0, "load_cpu_busy": 0.5, "proxy_cpu_foreign": 0.0}


def test_each_round_compares_podproxy_with_that_rounds_best_rival():
    runs = [
        # Round 1: nghttpx has the best req/s, HAProxy the least CPU.
        run("podproxy", 1, 100.0, 30.0), run("nghttpx", 1, 125.0, 32.0),
        run("haproxy", 1, 110.0, 24.0),
        # Round 2, a slower machine: every contestant is at half speed.
        run("haproxy", 2, 40.0, 60.0), run("podproxy", 2, 50.0, 45.0),
        run("nghttpx", 2, 20.0, 90.0),
    ]
    pairs = h2bench.paired_ratios(runs)
    assert [p["round"] for p in pairs] == [1, 2]
    assert pairs[0]["rps"] == 100.0 / 125.0 and pairs[0]["cpu_us"] == 30.0 / 24.0
    assert pairs[1]["rps"] == 50.0 / 40.0 and pairs[1]["cpu_us"] == 45.0 / 60.0


def test_a_round_without_podproxy_or_without_rivals_has_no_pair():
    runs = [run("nghttpx", 1, 100.0, 30.0), run("haproxy", 1, 90.0, 28.0),
            run("podproxy", 2, 80.0, 25.0),
            run("podproxy", 3, 90.0, 20.0), run("haproxy", 3, 100.0, 25.0)]
    pairs = h2bench.paired_ratios(runs)
    assert [(p["round"], p["rps"], p["cpu_us"]) for p in pairs] == [(3, 0.9, 0.8)]


def test_summary_gives_medians_and_the_median_paired_ratio():
    runs = []
    for rnd, (mine, rival) in enumerate([(90.0, 100.0), (120.0, 100.0), (99.0, 110.0)], 1):
        runs += [run("podproxy", rnd, mine, 10.0 * rnd), run("haproxy", rnd, rival, 10.0)]
    summary = h2bench.summarize(runs, {"nghttpx": "not installed"})
    assert summary["rounds"] == 3
    assert summary["rows"]["podproxy"]["rps"] == 99.0
    assert summary["rows"]["haproxy"]["rps"] == 100.0
    paired = summary["paired"]
    assert paired["rounds"] == 3
    assert paired["rps"] == 0.9  # ratios 0.9, 1.2 and 0.9
    assert paired["cpu_us"] == 2.0  # ratios 1, 2 and 3
    text = "\n".join(h2bench.markdown(summary, {"proxy": 0, "load": 1}))
    assert "median of 3 rounds: req/s 0.90 (range 0.90–1.20), CPU µs/req 2.00 (range " \
           "1.00–3.00)" in text, text
    assert "| nghttpx | skipped | skipped | skipped |" in text
