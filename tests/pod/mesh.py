"""Two Pods for the mesh mTLS test, each a network namespace with podproxy-init's rules, an app
and `podproxy sidecar` as uid 1337, plus a third namespace outside the mesh:

    client pod (ns cpod)              server pod (ns spod)               outsider (ns out)
    10.201.1.1/30  <--- veth --->     10.201.1.2/30 | 10.201.2.1/30  <--- veth --->  10.201.2.2/30
    app: curl (uid 0, captured)       app: HTTP echo on 0.0.0.0:8080     curl, plaintext
    podproxy: outbound 15001          podproxy: inbound 15006, mtls strict

The client pod's outbound listener routes the Service VIP 10.96.0.20:8080 (it exists nowhere) to a
`mutual: true` cluster whose endpoint is the server pod's IP:8080; the server pod captures that
connection inbound. The namespaces do not forward packets, so the outsider reaches the server
pod and nothing else. Names are pp-<pid>-<role>; close() (also at exit) removes everything.
"""

import shutil
import subprocess
from pathlib import Path

import yaml

import netns
from sidecar import podproxy_binary

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PYTHON = "/usr/bin/python3"
INIT_SCRIPT = REPO / "docker" / "podproxy-init"
PROXY_UID = 1337

CLIENT_POD_IP, SERVER_POD_IP = "10.201.1.1", "10.201.1.2"
SERVER_POD_OUT_IP, OUTSIDER_IP = "10.201.2.1", "10.201.2.2"
APP_PORT = 8080
VIP = "10.96.0.20"            # the server's Service address, routed to the mutual cluster
WRONG_ID_VIP = "10.96.0.21"   # the same server, through a cluster expecting another identity
TRUST_DOMAIN = "cluster.local"
CLIENT_ID = f"spiffe://{TRUST_DOMAIN}/ns/default/sa/client"
SERVER_ID = f"spiffe://{TRUST_DOMAIN}/ns/default/sa/server"
OTHER_ID = f"spiffe://{TRUST_DOMAIN}/ns/default/sa/other"


class MeshPods(netns.Namespaces):
    def __init__(self, workdir):
        super().__init__()
        self.cpod, self.spod, self.out = (f"{self.base}-cpod", f"{self.base}-spod",
                                          f"{self.base}-out")
        self.workdir = Path(workdir)
        self.client_proxy = self.server_proxy = None

    # --- topology ---

    def _create(self):
        self.add_namespaces(self.cpod, self.spod, self.out)
        self.ip(self.spod, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
                "netns", self.cpod)
        self.ip(self.spod, "link", "add", "eth1", "type", "veth", "peer", "name", "eth0",
                "netns", self.out)
        for ns, dev, ip in ((self.cpod, "eth0", CLIENT_POD_IP), (self.spod, "eth0", SERVER_POD_IP),
                            (self.spod, "eth1", SERVER_POD_OUT_IP), (self.out, "eth0", OUTSIDER_IP)):
            self.ip(ns, "addr", "add", f"{ip}/30", "dev", dev)
            self.ip(ns, "link", "set", dev, "up")
        # VIPs need a route in the client pod (iptables redirects before any packet leaves).
        self.ip(self.cpod, "route", "add", "default", "via", SERVER_POD_IP)
        self.ip(self.out, "route", "add", "default", "via", SERVER_POD_OUT_IP)
        for ns in (self.cpod, self.spod):
            self.exec(ns, "sh", str(INIT_SCRIPT), "--ipv6", "off")

    # --- certificates, apps, sidecars ---

    def make_certs(self, binary):
        """One CA, two workload identities (client, server), from `podproxy certs`."""
        dirs = {}
        ca_dir = None
        for sa in ("client", "server"):
            d = self.workdir / f"certs-{sa}"
            cmd = [binary, "certs", "--out", str(d), "--namespace", "default",
                   "--service-account", sa, "--trust-domain", TRUST_DOMAIN]
            if ca_dir is not None:
                cmd += ["--ca", str(ca_dir)]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
            if r.returncode != 0:
                raise AssertionError(f"podproxy certs failed: {r.stdout}{r.stderr}")
            ca_dir = ca_dir or d
            for f in d.iterdir():
                f.chmod(0o644)  # readable by uid 1337
            d.chmod(0o755)
            dirs[sa] = d
        return dirs

    def start(self):
        binary = self.workdir / "podproxy"
        shutil.copy(podproxy_binary(), binary)
        binary.chmod(0o755)
        certs = self.make_certs(binary)
        nsapps = HERE / "nsapps.py"
        self.server_app = self.spawn("server-app", self.spod, PYTHON, nsapps, "serve", "--http",
                                     f"0.0.0.0:{APP_PORT}")
        if not self.server_app.wait_for_log(lambda e: e.get("msg") == "ready", timeout=10):
            raise AssertionError(f"server app did not start:\n{self.server_app.tail()}")
        self.server_proxy = self._sidecar("server", binary, certs["server"], self._server_config)
        self.client_proxy = self._sidecar("client", binary, certs["client"], self._client_config)
        return self

    def _base_config(self, binary, ns, cert_dir):
        r = self.exec(ns, binary, "print-default", "--sidecar", check=False)
        if r.returncode != 0:
            raise AssertionError(f"print-default --sidecar failed: {r.stdout}{r.stderr}")
        config = yaml.safe_load(r.stdout)
        # IPv4 only here: the namespaces have no IPv6 addresses.
        config["listeners"] = [l for l in config["listeners"]
                               if not l["address"].startswith("[")]
        config["workload_identity"] = {"cert_file": str(cert_dir / "cert.pem"),
                                       "key_file": str(cert_dir / "key.pem"),
                                       "ca_file": str(cert_dir / "ca.pem")}
        config.setdefault("clusters", [])
        return config

    def _server_config(self, config):
        inbound = [l for l in config["listeners"]
                   if (l.get("capture") or {}).get("direction") == "inbound"]
        assert inbound, f"no inbound capture listener in {config}"
        for l in inbound:
            l["mtls"] = "strict"
        return config

    def _client_config(self, config):
        config["clusters"] += [
            {"name": "server", "service_addresses": [f"{VIP}:{APP_PORT}"],
             "endpoints": [f"{SERVER_POD_IP}:{APP_PORT}"], "mutual": True,
             "peer_spiffe_ids": [SERVER_ID]},
            {"name": "server_wrong_id", "service_addresses": [f"{WRONG_ID_VIP}:{APP_PORT}"],
             "endpoints": [f"{SERVER_POD_IP}:{APP_PORT}"], "mutual": True,
             "peer_spiffe_ids": [OTHER_ID]},
        ]
        return config

    def _sidecar(self, role, binary, cert_dir, edit):
        ns = self.cpod if role == "client" else self.spod
        config = edit(self._base_config(binary, ns, cert_dir))
        path = self.workdir / f"{role}-sidecar.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o644)
        check = subprocess.run([str(binary), "validate", "-c", str(path)], capture_output=True,
                               text=True, timeout=10)
        if check.returncode != 0:
            raise AssertionError(f"podproxy rejects the {role} sidecar config:\n{check.stdout}"
                                 f"{check.stderr}\n{path.read_text()}")
        proc = self.spawn(f"{role}-podproxy", ns, binary, "sidecar", "-c", path,
                          "--concurrency", "1", uid=PROXY_UID)
        if not proc.wait_for_log(lambda e: e.get("msg") == "ready", timeout=10):
            raise AssertionError(f"{role} podproxy not ready within 10s:\n{proc.tail()}")
        proc.ns = ns
        return proc

    # --- probes ---

    def admin(self, proxy, path):
        r = self.exec(proxy.ns, "curl", "-sS", "--max-time", "3", f"http://127.0.0.1:15000{path}",
                      check=False)
        return r.stdout

    def stats(self, proxy):
        out = {}
        for line in self.admin(proxy, "/stats").splitlines():
            name, sep, value = line.partition(": ")
            if sep and value.strip().lstrip("-").isdigit():
                out[name.strip()] = int(value)
        if not out:
            raise AssertionError(f"no stats from podproxy's admin API\n{proxy.tail()}")
        return out
