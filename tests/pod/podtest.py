"""Helpers for the Pod tests: HTTP and banner clients run inside namespaces, and the pod's
capture counters."""

import json
from pathlib import Path

PYTHON = "/usr/bin/python3"
NSAPPS = Path(__file__).resolve().parent / "nsapps.py"


def url(host, port, path):
    return f"http://[{host}]:{port}{path}" if ":" in host else f"http://{host}:{port}{path}"


def curl(pod, ns, target, timeout=5):
    """GET with curl inside a namespace -> (HTTP status or 0, parsed JSON echo or None, error)."""
    r = pod.exec(ns, "curl", "-sS", "--max-time", str(timeout), "-o", "-", "-w",
                 "\n%{http_code}", target, check=False, timeout=timeout + 5)
    body, _, code = r.stdout.rpartition("\n")
    status = int(code) if code.strip().isdigit() else 0
    try:
        echo = json.loads(body) if body else None
    except ValueError:
        echo = None
    return status, echo, r.stderr.strip()


def banner(pod, ns, host, port, send=""):
    args = [PYTHON, str(NSAPPS), "banner", host, str(port)]
    if send:
        args += ["--send", send]
    return json.loads(pod.exec(ns, *args, timeout=15).stdout)


class Captures:
    """Deltas of the pod's capture counters around a call."""

    def __init__(self, pod, family=4):
        self.pod, self.family = pod, family
        self.before = self._read()

    def _read(self):
        counters = self.pod.nat_counters(self.family)
        out = {"outbound": 0, "inbound": 0, "proxy_exempt": 0, "passthrough_src": 0}
        for (chain, rule), packets in counters.items():
            if chain == "PODPROXY_REDIRECT":
                out["outbound"] += packets
            elif chain == "PODPROXY_IN_REDIRECT":
                out["inbound"] += packets
            elif chain == "PODPROXY_OUTPUT" and rule == "-m owner --uid-owner 1337 -j RETURN":
                out["proxy_exempt"] += packets
            elif chain == "PODPROXY_OUTPUT" and rule.endswith("-o lo -j RETURN") and (
                    rule.startswith("-s 127.0.0.6/32") or rule.startswith("-s ::6/128")):
                out["passthrough_src"] += packets
        return out

    def delta(self):
        """Connections seen since construction: outbound/inbound captures, the proxy's own
        connections exempted by uid, and inbound passthrough hops exempted by source."""
        after = self._read()
        return {k: after[k] - self.before[k] for k in after}


def counts(outbound=0, inbound=0, proxy_exempt=0, passthrough_src=0):
    return {"outbound": outbound, "inbound": inbound, "proxy_exempt": proxy_exempt,
            "passthrough_src": passthrough_src}


def header(echo, name):
    return [v for k, v in echo["headers"] if k == name]


class ProxyStats:
    """Deltas of podproxy's own counters (admin /stats) around a call; with the relay, which
    has none, delta() returns None and the tests rely on the kernel counters alone."""

    def __init__(self, sidecar):
        self.sidecar = sidecar
        self.before = sidecar.stats()

    def delta(self, *names):
        if self.before is None:
            return None
        after = self.sidecar.stats()
        missing = [n for n in names if n not in after]
        assert not missing, f"podproxy has no stat {missing}; it has: {sorted(after)}"
        return {n: after[n] - self.before.get(n, 0) for n in names}
