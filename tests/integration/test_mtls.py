"""Mesh mTLS between two podproxy sidecars on loopback: the client side's cluster is `mutual`
(workload certificate, peer SPIFFE ID verified), the server side's listener is `mtls: strict`
or `permissive`; x-forwarded-client-cert reaches the app; authorization by SPIFFE ID, path,
method and source; and each refusal."""

import re
import socket
import ssl

import pytest

from harness import bootstrap, cluster, curl_http, http_get, http_listener, tcp_listener
from harness import raw_request, wait_until
from harness.tls import Certs, s_client

CLIENT_ID = "spiffe://cluster.local/ns/shop/sa/frontend"
SERVER_ID = "spiffe://cluster.local/ns/shop/sa/payments"


@pytest.fixture
def certs(tmp_path):
    c = Certs(tmp_path / "certs")
    c.make("ca")
    c.make("frontend", ca="ca", namespace="shop", sa="frontend")
    c.make("payments", ca="ca", namespace="shop", sa="payments")
    return c


def server_sidecar(make_proxy, certs, app, mtls="strict", authorization=None, identity="payments",
                   tcp_app=None, direction=None):
    listeners = [http_listener("inbound", "app")]
    clusters = [cluster("app", [app])]
    if tcp_app is not None:
        listeners.append(tcp_listener("tcp_inbound", "tcp_app"))
        clusters.append(cluster("tcp_app", [tcp_app]))
    for listener in listeners:
        listener["mtls"] = mtls
        if direction:
            listener["direction"] = direction
        if authorization:
            listener["authorization"] = authorization
    return make_proxy(bootstrap(listeners, clusters,
                                workload_identity=certs.workload_identity(identity, "ca")),
                      name="payments-sidecar")


def client_sidecar(make_proxy, target_port, certs, identity="frontend", ca="ca", **mutual):
    upstream = cluster("payments", [target_port], mutual=True, **mutual)
    return make_proxy(bootstrap([http_listener("outbound", "payments")], [upstream],
                                workload_identity=certs.workload_identity(identity, ca)),
                      name="frontend-sidecar")


def test_sidecars_speak_mtls_and_the_app_sees_the_client_identity(make_proxy, http_upstream,
                                                                  certs):
    server = server_sidecar(make_proxy, certs, http_upstream)
    client = client_sidecar(make_proxy, server.port("inbound"), certs,
                            peer_spiffe_ids=[SERVER_ID])
    for i in range(3):
        r = http_get(client.port("outbound"), f"/pay/{i}")
        assert r.status == 200, r.body
    xfcc = http_upstream.last_request.header("x-forwarded-client-cert")
    assert re.fullmatch(f"By={re.escape(SERVER_ID)};Hash=[0-9a-f]{{64}};URI={re.escape(CLIENT_ID)}",
                        xfcc), xfcc
    assert http_upstream.last_request.header("x-forwarded-proto") == "https"
    entry = server.wait_for_log(lambda e: e.get("path") == "/pay/2", listener_name="inbound")
    assert entry["downstream_peer_uri_san"] == CLIENT_ID
    stats = server.stats()
    assert stats["tls.mesh_inbound.handshakes"] >= 1, stats
    assert 29 * 86400 < stats["tls.workload_cert_expiry_seconds"] <= 30 * 86400, stats
    prom = http_get(server.admin_port, "/stats/prometheus").body.decode()
    assert re.search(r"^podproxy_workload_cert_expiry_seconds \d+$", prom, re.M), prom


def test_client_refuses_a_server_with_the_wrong_spiffe_id(make_proxy, http_upstream, certs):
    server = server_sidecar(make_proxy, certs, http_upstream)
    client = client_sidecar(make_proxy, server.port("inbound"), certs,
                            peer_spiffe_ids=["spiffe://cluster.local/ns/shop/sa/orders"])
    r = http_get(client.port("outbound"), "/")
    assert r.status == 503
    assert (f"tls_handshake_failed: peer SPIFFE ID {SERVER_ID} is not allowed"
            in r.body.decode()), r.body
    assert http_upstream.request_count == 0


def test_client_refuses_another_trust_domain_by_default(make_proxy, http_upstream, certs):
    certs.make("foreign", ca="ca", trust_domain="other.local", sa="payments")
    server = server_sidecar(make_proxy, certs, http_upstream, identity="foreign")
    client = client_sidecar(make_proxy, server.port("inbound"), certs)
    r = http_get(client.port("outbound"), "/")
    assert r.status == 503
    assert "spiffe://other.local/ns/default/sa/payments is not allowed" in r.body.decode(), r.body


def test_server_refuses_a_client_of_another_ca(make_proxy, http_upstream, certs):
    certs.make("rogue-ca")
    certs.make("rogue", ca="rogue-ca", namespace="shop", sa="frontend")
    server = server_sidecar(make_proxy, certs, http_upstream)
    # The rogue client trusts the real CA (so it accepts the server) but presents its own cert.
    client = client_sidecar(make_proxy, server.port("inbound"), certs, identity="rogue", ca="ca")
    r = http_get(client.port("outbound"), "/")
    # TLS 1.3: the client's handshake is done before the server has checked its certificate; the
    # server's alert then ends the connection, which the client sees as a reset.
    assert r.status == 503, r.body
    assert http_upstream.request_count == 0
    stats = server.stats()
    assert stats["tls.mesh_inbound.handshake_failures"] >= 1, stats


def test_server_refuses_an_expired_client_certificate(make_proxy, http_upstream, certs):
    certs.make("old", ca="ca", namespace="shop", sa="frontend", days=-1)
    server = server_sidecar(make_proxy, certs, http_upstream)
    _, out = s_client(server.port("inbound"), "-CAfile", certs.file("ca", "ca.pem"),
                      "-cert", certs.file("old", "cert.pem"), "-key", certs.file("old", "key.pem"),
                      "-ign_eof", input=b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
    assert "certificate expired" in out, out
    assert http_upstream.request_count == 0


def test_strict_refuses_plaintext_and_clients_without_a_certificate(make_proxy, http_upstream,
                                                                     certs):
    server = server_sidecar(make_proxy, certs, http_upstream)
    port = server.port("inbound")
    assert raw_request(port, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n", timeout=3) == b""
    _, out = s_client(port, "-CAfile", certs.file("ca", "ca.pem"), "-ign_eof",
                      input=b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
    assert "certificate required" in out, out
    assert http_upstream.request_count == 0


def test_permissive_accepts_mtls_and_plaintext_on_one_port(make_proxy, http_upstream, certs):
    server = server_sidecar(make_proxy, certs, http_upstream, mtls="permissive")
    r = http_get(server.port("inbound"), "/plain", headers={"x-forwarded-client-cert": "forged"})
    assert r.status == 200
    assert http_upstream.last_request.header("x-forwarded-client-cert") is None
    client = client_sidecar(make_proxy, server.port("inbound"), certs)
    r = http_get(client.port("outbound"), "/mtls")
    assert r.status == 200
    assert CLIENT_ID in http_upstream.last_request.header("x-forwarded-client-cert")


def test_permissive_tcp_passes_both(make_proxy, tcp_upstream, http_upstream, certs):
    server = server_sidecar(make_proxy, certs, http_upstream, mtls="permissive",
                            tcp_app=tcp_upstream)
    port = server.port("tcp_inbound")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"plain bytes")
        assert s.recv(100) == b"plain bytes"
    context = ssl.create_default_context(cafile=certs.file("ca", "ca.pem"))
    context.load_cert_chain(certs.file("frontend", "cert.pem"), certs.file("frontend", "key.pem"))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"tls bytes")
            assert s.recv(100) == b"tls bytes"
    entry = server.wait_for_log(lambda e: e.get("downstream_peer_uri_san") == CLIENT_ID,
                                listener_name="tcp_inbound", protocol="tcp")
    assert entry["bytes_received"] == len(b"tls bytes")


AUTHZ = {"action": "allow", "rules": [
    {"name": "frontend-reads", "principals": [{"exact": CLIENT_ID}], "methods": ["GET"],
     "paths": ["/api/*"]},
    {"name": "health", "paths": ["/health"]},
]}


def test_authorization_by_spiffe_id_method_and_path(make_proxy, http_upstream, certs):
    certs.make("intruder", ca="ca", namespace="shop", sa="intruder")
    server = server_sidecar(make_proxy, certs, http_upstream, authorization=AUTHZ,
                            mtls="permissive")
    frontend = client_sidecar(make_proxy, server.port("inbound"), certs)
    assert http_get(frontend.port("outbound"), "/api/orders").status == 200
    r = http_get(frontend.port("outbound"), "/admin")
    assert r.status == 403 and r.body == b"RBAC: access denied\n"
    r = curl_http(frontend.url("outbound", "/api/orders"), method="DELETE")
    assert r.status == 403
    # Plaintext has no identity: only the rule without principals lets it in.
    assert http_get(server.port("inbound"), "/api/orders").status == 403
    assert http_get(server.port("inbound"), "/health").status == 200
    intruder = client_sidecar(make_proxy, server.port("inbound"), certs, identity="intruder")
    assert http_get(intruder.port("outbound"), "/api/orders").status == 403
    assert [r.path for r in http_upstream.requests] == ["/api/orders", "/health"]
    stats = server.stats()
    assert stats["listener.inbound.authz.denied"] == 4, stats
    assert stats["listener.inbound.authz.allowed"] == 2, stats


def test_authorization_deny_rules_and_debug_log(make_proxy, http_upstream, certs):
    authz = {"action": "deny", "rules": [
        {"name": "no-frontend-admin", "principals": [{"namespace": "shop"}], "paths": ["/admin*"]},
        {"name": "no-header", "headers": [{"name": "x-block", "present": True}]}]}
    server = server_sidecar(make_proxy, certs, http_upstream, authorization=authz)
    frontend = client_sidecar(make_proxy, server.port("inbound"), certs)
    assert http_get(frontend.port("outbound"), "/api").status == 200
    assert http_get(frontend.port("outbound"), "/admin/users").status == 403
    assert http_get(frontend.port("outbound"), "/api", headers={"x-block": "1"}).status == 403


def test_tcp_authorization_closes_refused_connections(make_proxy, tcp_upstream, http_upstream,
                                                      certs, tmp_path):
    authz = {"action": "allow", "rules": [{"principals": [{"trust_domain": "cluster.local"}]}]}
    server = server_sidecar(make_proxy, certs, http_upstream, mtls="permissive",
                            authorization=authz, tcp_app=tcp_upstream)
    port = server.port("tcp_inbound")
    # Plaintext: no identity, refused before anything connects to the app.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"hello")
        assert s.recv(100) == b""
    assert tcp_upstream.connections_accepted == 0
    context = ssl.create_default_context(cafile=certs.file("ca", "ca.pem"))
    context.load_cert_chain(certs.file("frontend", "cert.pem"), certs.file("frontend", "key.pem"))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"hello")
            assert s.recv(100) == b"hello"
    wait_until(lambda: tcp_upstream.connections_accepted == 1)


def test_strict_mtls_needs_a_workload_certificate_with_a_spiffe_id(make_proxy, http_upstream,
                                                                   certs, tmp_path):
    inbound = http_listener("inbound", "app")
    inbound["mtls"] = "strict"
    missing = {"cert_file": str(tmp_path / "none.pem"), "key_file": str(tmp_path / "none.pem"),
               "ca_file": str(tmp_path / "none.pem")}
    proxy = make_proxy(bootstrap([inbound], [cluster("app", [http_upstream])],
                                 workload_identity=missing), wait_ready=False)
    assert proxy.wait_exit(10) == 1
    err = proxy.find_logs(msg="cannot load TLS certificates")[0]["error"]
    assert err == f"mesh_inbound: {tmp_path / 'none.pem'}: cannot open: No such file or directory"


def istio_lines(proxy, metric):
    text = http_get(proxy.admin_port, "/stats/prometheus").body.decode()
    return [line for line in text.splitlines() if line.startswith(metric + "{")]


def test_istio_metrics_carry_principals_and_mutual_tls_policy(make_proxy, http_upstream,
                                                              tcp_upstream, certs):
    server = server_sidecar(make_proxy, certs, http_upstream, mtls="permissive",
                            tcp_app=tcp_upstream, direction="inbound")
    client = client_sidecar(make_proxy, server.port("inbound"), certs,
                            peer_spiffe_ids=[SERVER_ID])
    for _ in range(2):
        assert http_get(client.port("outbound"), "/mtls").status == 200
    assert http_get(server.port("inbound"), "/plain").status == 200
    # Outbound (source reporter): we are the source, the verified server the destination.
    out = [l for l in istio_lines(client, "istio_requests_total") if 'response_code="200"' in l]
    assert len(out) == 1, out
    assert f'source_principal="{CLIENT_ID}"' in out[0], out
    assert f'destination_principal="{SERVER_ID}"' in out[0], out
    assert 'connection_security_policy="mutual_tls"' in out[0] and out[0].endswith(" 2"), out
    # The server's listener: one mTLS series (2 requests), one plaintext series (1 request).
    lines = [l for l in istio_lines(server, "istio_requests_total") if 'response_code="200"' in l]
    mtls = [l for l in lines if 'connection_security_policy="mutual_tls"' in l]
    plain = [l for l in lines if 'connection_security_policy="mutual_tls"' not in l]
    assert len(mtls) == 1 and mtls[0].endswith(" 2"), lines
    assert f'source_principal="{CLIENT_ID}"' in mtls[0], mtls
    assert f'destination_principal="{SERVER_ID}"' in mtls[0], mtls
    assert len(plain) == 1 and plain[0].endswith(" 1"), lines
    assert 'source_principal="unknown"' in plain[0] and 'destination_principal="unknown"' in \
        plain[0] and 'connection_security_policy="none"' in plain[0], plain
    assert all('reporter="destination"' in l for l in lines), lines
    # TCP over mTLS: the client's verified ID on istio_tcp_* too.
    context = ssl.create_default_context(cafile=certs.file("ca", "ca.pem"))
    context.load_cert_chain(certs.file("frontend", "cert.pem"), certs.file("frontend", "key.pem"))
    with socket.create_connection(("127.0.0.1", server.port("tcp_inbound")), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"hello")
            assert s.recv(100) == b"hello"
    wait_until(lambda: any('connection_security_policy="mutual_tls"' in l and
                           f'source_principal="{CLIENT_ID}"' in l
                           for l in istio_lines(server, "istio_tcp_connections_closed_total")))
    opened = istio_lines(server, "istio_tcp_connections_opened_total")
    assert any(f'destination_principal="{SERVER_ID}"' in l and l.endswith(" 1")
               for l in opened), opened
