"""podproxy-to-podproxy mTLS between two Pods (network namespaces with podproxy-init's rules and
`podproxy sidecar` as uid 1337), with workload certificates from `podproxy certs`: the client
app's plain HTTP call to a Service VIP leaves its Pod as mTLS and reaches the server app, which
learns the caller's SPIFFE ID. See mesh.py for the topology.

Each check fails when a sidecar is bypassed or TLS is absent: the server app must see
x-forwarded-client-cert (only the server sidecar sets it, from a verified client certificate);
a mangle-table rule in the server pod counts packets to port 8080 that carry a marker string in
clear (the plaintext call from the outsider proves it sees plaintext; the mesh call must leave
it at zero); the server sidecar's counters must show a TLS detection and a handshake; plaintext
sent straight to the server pod must be refused under `mtls: strict`; and a cluster expecting
another SPIFFE ID must get 503.
"""

import shutil
import stat
import tempfile
import uuid
from pathlib import Path

import pytest

import netns
from mesh import (APP_PORT, CLIENT_ID, SERVER_ID, SERVER_POD_OUT_IP, VIP, WRONG_ID_VIP,
                  MeshPods)
from podtest import curl, header, url


@pytest.fixture(scope="module")
def mesh(privileges):
    netns.remove_stale_namespaces()
    workdir = Path(tempfile.mkdtemp(prefix="podproxy-mesh-test-"))
    workdir.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    m = MeshPods(workdir)
    try:
        m.create()
        probe = m.exec(m.spod, "iptables", "-t", "mangle", "-A", "PREROUTING", "-p", "tcp",
                       "-m", "string", "--algo", "bm", "--string", "probe-only", check=False)
        m.wire_check = probe.returncode == 0
        if m.wire_check:
            m.exec(m.spod, "iptables", "-t", "mangle", "-F", "PREROUTING")
        m.start()
        yield m
    finally:
        for proxy in (m.client_proxy, m.server_proxy):
            if proxy is not None:
                print(f"\n--- {proxy.name} output ---\n{proxy.tail(60)}")
        m.close()
        shutil.rmtree(workdir, ignore_errors=True)


class Plaintext:
    """Counts packets reaching the server pod's port 8080 from outside it (another namespace)
    that carry `marker` in clear."""

    def __init__(self, mesh, marker):
        self.mesh, self.marker = mesh, marker
        # Not on lo: the server sidecar's last hop to the app is plaintext over loopback.
        mesh.exec(mesh.spod, "iptables", "-t", "mangle", "-A", "PREROUTING", "!", "-i", "lo",
                  "-p", "tcp", "--dport", str(APP_PORT), "-m", "string", "--algo", "bm",
                  "--string", marker)

    def packets(self):
        out = self.mesh.exec(self.mesh.spod, "iptables-save", "-c", "-t", "mangle").stdout
        for line in out.splitlines():
            if f'--string "{self.marker}"' in line or f"--string {self.marker}" in line:
                return int(line.split("]")[0].lstrip("[").split(":")[0])
        raise AssertionError(f"marker rule not found in:\n{out}")


def delta(before, after, *names):
    missing = [n for n in names if n not in after]
    assert not missing, f"no stat {missing}; podproxy has: {sorted(after)}"
    return {n: after[n] - before.get(n, 0) for n in names}


def test_plain_call_crosses_pods_as_mtls_and_the_app_sees_the_client_identity(mesh):
    marker = f"mesh-{uuid.uuid4().hex[:12]}"
    wire = Plaintext(mesh, marker) if mesh.wire_check else None
    server_before = mesh.stats(mesh.server_proxy)
    client_before = mesh.stats(mesh.client_proxy)
    status, echo, err = curl(mesh, mesh.cpod, url(VIP, APP_PORT, f"/{marker}"))
    assert status == 200, f"curl failed: {err}\n{mesh.client_proxy.tail()}\n" \
                          f"{mesh.server_proxy.tail()}"
    assert echo["path"] == f"/{marker}"
    # Only the server sidecar writes it, and only from a verified client certificate.
    xfcc = header(echo, "x-forwarded-client-cert")
    assert len(xfcc) == 1 and xfcc[0].startswith(f"By={SERVER_ID};Hash="), echo
    assert xfcc[0].endswith(f";URI={CLIENT_ID}"), xfcc
    assert header(echo, "x-forwarded-proto") == ["https"], echo
    # Inbound target loopback: the app is reached by its sidecar, never by the client pod.
    assert echo["peer"].startswith("127.0.0.1:"), echo
    s = delta(server_before, mesh.stats(mesh.server_proxy),
              "listener.inbound.protocol_detection.tls", "tls.mesh_inbound.handshakes")
    assert s["listener.inbound.protocol_detection.tls"] == 1, s
    assert s["tls.mesh_inbound.handshakes"] >= 1, s
    c = delta(client_before, mesh.stats(mesh.client_proxy), "tls.cluster:server.handshakes")
    assert c["tls.cluster:server.handshakes"] >= 1, c
    if wire is not None:
        assert wire.packets() == 0, "the request crossed between the pods in clear"


def test_plaintext_straight_to_the_server_pod_is_refused_under_strict(mesh):
    marker = f"clear-{uuid.uuid4().hex[:12]}"
    wire = Plaintext(mesh, marker) if mesh.wire_check else None
    before = mesh.stats(mesh.server_proxy)
    status, echo, err = curl(mesh, mesh.out, url(SERVER_POD_OUT_IP, APP_PORT, f"/{marker}"),
                             timeout=3)
    assert status == 0 and echo is None, (status, echo)
    s = delta(before, mesh.stats(mesh.server_proxy),
              "listener.inbound.protocol_detection.mtls_plaintext_refused")
    assert s["listener.inbound.protocol_detection.mtls_plaintext_refused"] == 1, s
    if wire is not None:
        # The same rule does see plaintext: the check above is not blind.
        assert wire.packets() >= 1


def test_cluster_expecting_another_spiffe_id_gets_503(mesh):
    before = mesh.stats(mesh.server_proxy)
    status, _, err = curl(mesh, mesh.cpod, url(WRONG_ID_VIP, APP_PORT, "/wrong-id"))
    assert status == 503, (status, err)
    r = mesh.exec(mesh.cpod, "curl", "-sS", "--max-time", "5", url(WRONG_ID_VIP, APP_PORT, "/w"),
                  check=False)
    assert f"peer SPIFFE ID {SERVER_ID} is not allowed" in r.stdout, r.stdout
    # The server sidecar finished its handshakes, but no request reached the app through it.
    s = delta(before, mesh.stats(mesh.server_proxy), "http.inbound.downstream_rq_total")
    assert s["http.inbound.downstream_rq_total"] == 0, s


def test_istio_metrics_carry_the_principals(mesh):
    status, _, err = curl(mesh, mesh.cpod, url(VIP, APP_PORT, "/metrics-call"))
    assert status == 200, err
    for proxy, reporter in ((mesh.server_proxy, "destination"), (mesh.client_proxy, "source")):
        text = mesh.admin(proxy, "/stats/prometheus")
        lines = [l for l in text.splitlines() if l.startswith("istio_requests_total{")
                 and 'response_code="200"' in l]
        want = [f'source_principal="{CLIENT_ID}"', f'destination_principal="{SERVER_ID}"',
                'connection_security_policy="mutual_tls"', f'reporter="{reporter}"']
        assert any(all(w in l for w in want) for l in lines), "\n".join(lines)
