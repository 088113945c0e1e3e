"""The sidecar under test, started in the pod namespace as uid/gid 1337 (the uid podproxy-init
exempts): the real `podproxy sidecar`, or relay.py, a stand-in that does only what the kernel
side needs (SO_ORIGINAL_DST and forwarding) so the namespaces and rules are verified on their own.
"""

import os
import shutil
import subprocess
from pathlib import Path

import yaml

import netns
from netns import DECLARED_TCP_PORTS, SERVER_HTTP_PORT, VIP, VIP6, VIP_PORT

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PYTHON = "/usr/bin/python3"
PROXY_UID = 1337


def podproxy_binary():
    path = os.environ.get("PODPROXY_BIN") or str(REPO / "build" / "podproxy")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise AssertionError(f"podproxy binary not found at {path}: build it or set PODPROXY_BIN")
    return path


class _Sidecar:
    kind = "?"

    def __init__(self, pod, workdir, inbound_target="loopback"):
        self.pod = pod
        self.inbound_target = inbound_target
        self.workdir = Path(workdir)
        self.proc = None

    def _wait_ready(self, timeout=10.0):
        ready = self.proc.wait_for_log(lambda e: e.get("msg") == "ready", timeout=timeout)
        if not ready:
            state = "exited" if not self.proc.running() else "still running"
            raise AssertionError(f"{self.kind} not ready within {timeout}s ({state}); command "
                                 f"{self.proc.cmd}\n{self.proc.tail()}")

    def running(self):
        return self.proc is not None and self.proc.running()

    def stop(self):
        if self.proc is not None:
            return self.proc.stop()
        return None

    def tail(self, n=20):
        return self.proc.tail(n) if self.proc else ""

    def log_mark(self):
        return len(self.proc.lines)

    def logs(self, start=0):
        return self.proc.logs(start)


class RelaySidecar(_Sidecar):
    kind = "relay"

    def start(self):
        script = self.workdir / "relay.py"
        shutil.copy(HERE / "relay.py", script)  # readable by uid 1337 wherever the repo is
        script.chmod(0o755)
        args = ["--service", f"{VIP}:{VIP_PORT}={netns.SERVER_IP}:{SERVER_HTTP_PORT}",
                "--inbound-target", self.inbound_target]
        if self.pod.ipv6:
            args += ["--ipv6", "--service",
                     f"[{VIP6}]:{VIP_PORT}=[{netns.SERVER_IP6}]:{SERVER_HTTP_PORT}"]
        self.proc = self.pod.spawn("relay", self.pod.pod, PYTHON, script, *args, uid=PROXY_UID)
        self._wait_ready()
        return self

    def stats(self):
        return None  # the relay keeps no counters; the tests use its log lines

    def connections(self, start=0, listener=None):
        """The connections the relay accepted since log line `start`."""
        return [e for e in self.logs(start) if e.get("msg") == "connection"
                and (listener is None or e.get("listener") == listener)]


def sidecar_config(pod, binary):
    """The embedded sidecar config (`podproxy print-default --sidecar`, run inside the pod so
    it includes the IPv6 listeners when the pod has IPv6) plus what the test needs: clusters
    whose service addresses are the VIPs, and declared TCP ports."""
    r = pod.exec(pod.pod, str(binary), "print-default", "--sidecar", check=False)
    if r.returncode != 0:
        raise AssertionError(f"podproxy print-default --sidecar failed ({r.returncode}):\n"
                             f"{r.stdout}{r.stderr}")
    config = yaml.safe_load(r.stdout)
    config.setdefault("clusters", [])
    config["clusters"].append({
        "name": "vip_backend",
        "service_addresses": [f"{VIP}:{VIP_PORT}"],
        "endpoints": [f"{netns.SERVER_IP}:{SERVER_HTTP_PORT}"],
    })
    if pod.ipv6:
        config["clusters"].append({
            "name": "vip_backend6",
            "service_addresses": [f"[{VIP6}]:{VIP_PORT}"],
            "endpoints": [f"[{netns.SERVER_IP6}]:{SERVER_HTTP_PORT}"],
        })
    outbound = [listener for listener in config.get("listeners", [])
                if (listener.get("capture") or {}).get("direction") == "outbound"]
    if not outbound:
        raise AssertionError(f"the embedded sidecar config has no outbound capture listener:\n"
                             f"{r.stdout}")
    for listener in outbound:
        listener["capture"]["tcp_ports"] = list(DECLARED_TCP_PORTS)
    return config


class PodproxySidecar(_Sidecar):
    kind = "podproxy"

    def start(self):
        binary = self.workdir / "podproxy"
        shutil.copy(podproxy_binary(), binary)  # executable by uid 1337 wherever the build is
        binary.chmod(0o755)
        config_path = self.workdir / "sidecar.yaml"
        config_path.write_text(yaml.safe_dump(sidecar_config(self.pod, binary), sort_keys=False))
        config_path.chmod(0o644)
        check = subprocess.run([str(binary), "validate", "-c", str(config_path)],
                               capture_output=True, text=True, timeout=10)
        if check.returncode != 0:
            raise AssertionError(f"podproxy rejects the test's sidecar config:\n{check.stdout}"
                                 f"{check.stderr}\n{config_path.read_text()}")
        self.proc = self.pod.spawn("podproxy", self.pod.pod, binary, "sidecar", "-c",
                                   config_path, "--concurrency", "1", "--inbound-target",
                                   self.inbound_target, uid=PROXY_UID)
        self._wait_ready()
        return self

    def connections(self, start=0, listener=None):
        return None  # podproxy logs no line per connection; the tests use kernel counters

    def stats(self):
        """The admin API's /stats as {name: int}."""
        out = {}
        for line in self.admin("/stats").splitlines():
            name, sep, value = line.partition(": ")
            if sep and value.strip().lstrip("-").isdigit():
                out[name.strip()] = int(value)
        if not out:
            raise AssertionError(f"no stats from podproxy's admin API\n{self.tail()}")
        return out

    def admin(self, path):
        """GET on the admin API (127.0.0.1:15000 inside the pod) -> text."""
        r = self.pod.exec(self.pod.pod, "curl", "-sS", "--max-time", "3",
                          f"http://127.0.0.1:15000{path}", check=False)
        return r.stdout
