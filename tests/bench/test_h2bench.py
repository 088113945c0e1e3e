"""The HTTP/2 rows' arithmetic in bench/runner/h2bench.py: medians, the per-round paired ratios
that the README's HTTP/2 verdict rests on, and which runs count as disturbed. Pure functions on
made-up runs."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "runner"))

import h2bench  # noqa: E402


def run(contestant, rnd, rps, cpu, **extra):
    r = {"contestant": contestant, "round": rnd, "rps": rps, "cpu_us_per_req": cpu,
         "mean_us": 1000.0, "load_cpu_busy": 0.5, "proxy_cpu_foreign": 0.0,
         "load_cpu_foreign": 0.0}
    r.update(extra)
    return r


def test_each_round_compares_podproxy_with_the_same_rounds_run_of_the_rival():
    runs = [
        run("podproxy", 1, 100.0, 30.0), run("nghttpx", 1, 125.0, 32.0),
        run("haproxy", 1, 110.0, 24.0),
        # Round 2, a slower machine: every contestant is at half speed.
        run("haproxy", 2, 40.0, 60.0), run("podproxy", 2, 50.0, 45.0),
        run("nghttpx", 2, 20.0, 90.0),
    ]
    pairs = h2bench.paired_ratios(runs, "nghttpx")
    assert [(p["round"], p["rps"], p["cpu_us"]) for p in pairs] == \
        [(1, 100.0 / 125.0, 30.0 / 32.0), (2, 50.0 / 20.0, 45.0 / 90.0)]
    pairs = h2bench.paired_ratios(runs, "haproxy")
    assert [(p["round"], p["rps"], p["cpu_us"]) for p in pairs] == \
        [(1, 100.0 / 110.0, 30.0 / 24.0), (2, 50.0 / 40.0, 45.0 / 60.0)]


def test_a_round_without_podproxy_or_without_the_rival_has_no_pair():
    runs = [run("nghttpx", 1, 100.0, 30.0), run("haproxy", 1, 90.0, 28.0),
            run("podproxy", 2, 80.0, 25.0),
            run("podproxy", 3, 90.0, 20.0), run("haproxy", 3, 100.0, 25.0)]
    assert [(p["round"], p["rps"], p["cpu_us"]) for p in h2bench.paired_ratios(runs, "haproxy")] \
        == [(3, 0.9, 0.8)]
    assert h2bench.paired_ratios(runs, "nghttpx") == []


def test_summary_gives_medians_and_the_median_paired_ratio():
    runs = []
    for rnd, (mine, rival) in enumerate([(90.0, 100.0), (120.0, 100.0), (99.0, 110.0)], 1):
        runs += [run("podproxy", rnd, mine, 10.0 * rnd), run("haproxy", rnd, rival, 10.0)]
    summary = h2bench.summarize(runs, {"nghttpx": "not installed"})
    assert summary["rounds"] == 3
    assert summary["rows"]["podproxy"]["rps"] == 99.0
    assert summary["rows"]["haproxy"]["rps"] == 100.0
    paired = summary["paired"]
    assert paired["rps_peer"] == paired["cpu_peer"] == "haproxy"
    assert paired["per_rival"]["haproxy"]["rounds"] == 3
    assert paired["rps"] == 0.9  # ratios 0.9, 1.2 and 0.9
    assert paired["cpu_us"] == 2.0  # ratios 1, 2 and 3
    text = "\n".join(h2bench.markdown(summary, {"proxy": 0, "load": 1}))
    assert "- ÷ haproxy, 3 rounds: req/s 0.90 (0.90–1.20), CPU µs/req 2.00 (1.00–3.00)" in text, \
        text
    assert "req/s 0.90 (target ≥ 1), CPU µs/req 2.00 (target ≤ 1)" in text, text
    assert "| nghttpx | skipped | skipped | skipped |" in text


def test_the_verdict_compares_with_the_best_peer_not_with_each_rounds_luckier_rival():
    # Three contestants of the same speed whose runs scatter by ±10 %: in every round one rival
    # is ahead of podproxy. The better of two noisy rivals beats podproxy in each round, though
    # neither rival is faster than podproxy over the rounds.
    scatter = [(100.0, 110.0, 90.0), (100.0, 90.0, 110.0), (110.0, 100.0, 90.0),
               (90.0, 110.0, 100.0), (100.0, 100.0, 100.0)]
    runs = []
    for rnd, (mine, nghttpx, haproxy) in enumerate(scatter, 1):
        runs += [run("podproxy", rnd, mine, 20.0), run("nghttpx", rnd, nghttpx, 21.0),
                 run("haproxy", rnd, haproxy, 19.0)]
    paired = h2bench.summarize(runs, {})["paired"]
    assert paired["per_rival"]["nghttpx"]["rps"] == 1.0  # 0.91, 1.11, 1.1, 0.82, 1.0
    assert paired["per_rival"]["haproxy"]["rps"] == 1.0  # 1.11, 0.91, 1.22, 0.9, 1.0
    assert paired["rps"] == 1.0
    assert paired["cpu_peer"] == "haproxy" and paired["cpu_us"] == 20.0 / 19.0


def test_a_run_is_disturbed_when_others_take_five_percent_of_either_cpu():
    assert not h2bench.disturbed(run("podproxy", 1, 1.0, 1.0, proxy_cpu_foreign=0.049))
    assert h2bench.disturbed(run("podproxy", 1, 1.0, 1.0, proxy_cpu_foreign=0.05))
    assert h2bench.disturbed(run("podproxy", 1, 1.0, 1.0, load_cpu_foreign=0.2))


def test_the_report_counts_runs_measured_again_and_those_still_disturbed():
    runs = [run("podproxy", 1, 100.0, 20.0, attempt=2, disturbed=True),
            run("haproxy", 1, 100.0, 20.0, attempt=1, disturbed=False),
            run("podproxy", 2, 100.0, 20.0), run("haproxy", 2, 100.0, 20.0)]
    summary = h2bench.summarize(runs, {})
    assert summary["rows"]["podproxy"]["remeasured"] == 2
    assert summary["rows"]["podproxy"]["disturbed"] == 1
    assert summary["rows"]["haproxy"]["disturbed"] == 0
    text = "\n".join(h2bench.markdown(summary, {"proxy": 0, "load": 1}))
    assert "3 run(s) were measured again" in text, text
    assert "Still disturbed after 2 more tries (runs per contestant): podproxy 1;" in text, text


def test_a_disturbed_run_is_measured_again_at_most_twice():
    def measurer(foreign):
        runs = iter(foreign)

        def measure():
            return run("podproxy", 1, 100.0, 20.0, proxy_cpu_foreign=next(runs))
        return measure

    retried = []
    calm_second = h2bench.measure_undisturbed(measurer([0.3, 0.01, 0.9]), retried.append)
    assert (calm_second["attempt"], calm_second["disturbed"]) == (1, False)
    assert [r["proxy_cpu_foreign"] for r in retried] == [0.3]
    # Never calm: the third run is kept, flagged, and no fourth is made (next() would raise).
    always = h2bench.measure_undisturbed(measurer([0.2, 0.3, 0.4]))
    assert (always["attempt"], always["disturbed"], always["proxy_cpu_foreign"]) == (2, True, 0.4)
    calm_first = h2bench.measure_undisturbed(measurer([0.0]))
    assert (calm_first["attempt"], calm_first["disturbed"]) == (0, False)
