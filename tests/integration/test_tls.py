"""TLS termination and origination with real certificates made by `podproxy certs`: curl and
openssl s_client against TLS listeners (SNI certificate choice, ALPN, session resumption),
upstream TLS to a Python ssl server, and each refusal with its reason."""

import re
import socket
import ssl
import time

import pytest

from harness import bootstrap, cluster, curl_http, http_get, http_listener, tcp_listener
from harness.tls import Certs, TlsHttpUpstream, s_client


@pytest.fixture
def certs(tmp_path):
    return Certs(tmp_path / "certs")


def tls_listener(certs_list, *, name="ingress", cluster_name="backend", **tls):
    listener = http_listener(name, cluster_name)
    listener["tls"] = {"certificates": certs_list, **tls}
    return listener


def https(proxy, certs, ca, path="/", host="localhost", extra=()):
    port = proxy.port("ingress")
    return curl_http(f"https://{host}:{port}{path}",
                     extra_args=["--cacert", certs.file(ca, "ca.pem"),
                                 "--resolve", f"{host}:{port}:127.0.0.1", *extra])


def test_terminates_tls_and_forwards_plaintext(make_proxy, http_upstream, certs):
    certs.make("server")
    proxy = make_proxy(bootstrap([tls_listener([certs.cert("server")])],
                                 [cluster("backend", [http_upstream])]))
    r = https(proxy, certs, "server", "/hello")
    assert r.status == 200, r.reason
    assert r.json()["path"] == "/hello"
    seen = http_upstream.last_request
    assert seen.header("x-forwarded-proto") == "https"
    # No client certificate: nothing to say about the client, and nothing a client says passes.
    assert seen.header("x-forwarded-client-cert") is None
    r = https(proxy, certs, "server", "/x", extra=["-H", "x-forwarded-client-cert: By=evil"])
    assert r.status == 200
    assert http_upstream.last_request.header("x-forwarded-client-cert") is None


def test_plain_http_to_a_tls_listener_is_refused(make_proxy, http_upstream, certs):
    certs.make("server")
    proxy = make_proxy(bootstrap([tls_listener([certs.cert("server")])],
                                 [cluster("backend", [http_upstream])]))
    r = curl_http(proxy.url("ingress", "/"))
    assert r.status == 0
    assert http_upstream.request_count == 0


def test_a_client_that_never_finishes_its_handshake_is_closed(make_proxy, http_upstream, certs):
    """A TLS slowloris (a few bytes of a ClientHello, then silence) holds a connection only for the
    10 s handshake budget; the listener serves others meanwhile."""
    certs.make("server")
    listener = tls_listener([certs.cert("server")])
    # The HTTP header timeout defaults to the same 10 s: lift it so only the handshake budget
    # can close the stalled connection in time.
    listener["http"]["request_headers_timeout"] = "60s"
    proxy = make_proxy(bootstrap([listener], [cluster("backend", [http_upstream])]))
    stalled = socket.create_connection(("127.0.0.1", proxy.port("ingress")), timeout=20)
    try:
        stalled.sendall(b"\x16\x03\x01")  # the start of a TLS record header, never completed
        started = time.monotonic()
        assert https(proxy, certs, "server", "/meanwhile").status == 200
        # EOF (b"") or a reset: either way the proxy let go; a hang fails on the 20 s timeout.
        try:
            data = stalled.recv(1024)
        except ConnectionResetError:
            data = b""
        waited = time.monotonic() - started
        assert data == b""
        assert 9.0 <= waited < 15.0, waited
    finally:
        stalled.close()
    assert http_upstream.request_count == 1


def test_sni_selects_the_certificate(make_proxy, http_upstream, certs):
    certs.make("ca")
    a = certs.make("a", ca="ca", sa="a", dns=["a.example.com"])
    b = certs.make("b", ca="ca", sa="b", dns=["b.example.com"])
    proxy = make_proxy(bootstrap(
        [tls_listener([certs.cert("a"), {**certs.cert("b"), "server_names": ["b.example.com"]}])],
        [cluster("backend", [http_upstream])]))
    port = proxy.port("ingress")
    for sni, sa in (("b.example.com", "b"), ("a.example.com", "a"), ("other.example.com", "a")):
        code, out = s_client(port, "-servername", sni, "-CAfile", certs.file("ca", "ca.pem"))
        assert f"CN = {sa}.default" in out, out
    # And curl verifies each by name.
    assert https(proxy, certs, "ca", host="b.example.com").status == 200
    assert https(proxy, certs, "ca", host="a.example.com").status == 200
    assert a != b


def test_alpn_is_negotiated(make_proxy, http_upstream, certs):
    certs.make("server")
    proxy = make_proxy(bootstrap([tls_listener([certs.cert("server")])],
                                 [cluster("backend", [http_upstream])]))
    port = proxy.port("ingress")
    _, out = s_client(port, "-alpn", "h2,http/1.1", "-CAfile", certs.file("server", "ca.pem"))
    assert "ALPN protocol: http/1.1" in out, out
    _, out = s_client(port, "-alpn", "h2", "-CAfile", certs.file("server", "ca.pem"))
    assert "No ALPN negotiated" in out, out


def test_alpn_h2_serves_http2_over_tls(make_proxy, http_upstream, certs):
    certs.make("server")
    proxy = make_proxy(bootstrap([tls_listener([certs.cert("server")], alpn=["h2", "http/1.1"])],
                                 [cluster("backend", [http_upstream])]))
    r = https(proxy, certs, "server", "/h2", extra=["--http2"])
    assert r.status == 200, r.reason
    assert r.version == "HTTP/2"
    assert r.json()["path"] == "/h2"
    r = https(proxy, certs, "server", "/h1", extra=["--http1.1"])
    assert r.status == 200 and r.version == "HTTP/1.1"


def test_sessions_resume(make_proxy, http_upstream, certs, tmp_path):
    certs.make("server")
    proxy = make_proxy(bootstrap([tls_listener([certs.cert("server")])],
                                 [cluster("backend", [http_upstream])]))
    port = proxy.port("ingress")
    session = str(tmp_path / "session.pem")
    ca = certs.file("server", "ca.pem")
    # TLS 1.3 tickets come after the handshake: send a request so s_client reads them.
    req = b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    _, out = s_client(port, "-CAfile", ca, "-sess_out", session, "-ign_eof", input=req)
    assert "New, TLSv1.3" in out, out
    _, out = s_client(port, "-CAfile", ca, "-sess_in", session, "-ign_eof", input=req)
    assert "Reused, TLSv1.3" in out, out
    for version in ("-tls1_2",):
        _, out = s_client(port, version, "-CAfile", ca, "-sess_out", session)
        assert "New, TLSv1.2" in out, out
        _, out = s_client(port, version, "-CAfile", ca, "-sess_in", session)
        assert "Reused, TLSv1.2" in out, out
    stats = proxy.stats()
    assert stats["tls.listener:ingress.sessions_resumed"] >= 2, stats


def test_client_certificate_required(make_proxy, http_upstream, certs):
    certs.make("ca")
    certs.make("server", ca="ca", sa="server")
    client_id = certs.make("client", ca="ca", sa="client")
    certs.make("stranger", sa="client")  # same name, another CA
    proxy = make_proxy(bootstrap(
        [tls_listener([certs.cert("server")], ca_file=certs.file("ca", "ca.pem"),
                      require_client_certificate=True)],
        [cluster("backend", [http_upstream])]))
    assert https(proxy, certs, "ca").status == 0  # no certificate
    stranger = ["--cert", certs.file("stranger", "cert.pem"),
                "--key", certs.file("stranger", "key.pem")]
    assert https(proxy, certs, "ca", extra=stranger).status == 0
    assert http_upstream.request_count == 0
    mine = ["--cert", certs.file("client", "cert.pem"), "--key", certs.file("client", "key.pem")]
    r = https(proxy, certs, "ca", extra=mine)
    assert r.status == 200, r.reason
    xfcc = http_upstream.last_request.header("x-forwarded-client-cert")
    # Envoy's format: By (our SPIFFE ID), Hash (of the client's certificate), URI (its ID).
    assert re.fullmatch(r"By=spiffe://cluster\.local/ns/default/sa/server;Hash=[0-9a-f]{64};URI="
                        + re.escape(client_id), xfcc), xfcc


def test_upstream_tls_verifies_and_sends_sni(make_proxy, certs):
    certs.make("backend", dns=["backend.local"])
    upstream = TlsHttpUpstream(certs.file("backend", "cert.pem"), certs.file("backend", "key.pem"))
    try:
        proxy = make_proxy(bootstrap(
            [http_listener("ingress", "backend")],
            [cluster("backend", [upstream.address],
                     tls={"sni": "backend.local", "ca_file": certs.file("backend", "ca.pem")})]))
        for i in range(3):
            r = http_get(proxy.port("ingress"), f"/over-tls/{i}")
            assert r.status == 200, r.body
            assert r.json()["path"] == f"/over-tls/{i}"
        assert upstream.server_names[0] == "backend.local"
    finally:
        upstream.stop()


@pytest.mark.parametrize("case", ["wrong_ca", "expired", "wrong_name"])
def test_upstream_tls_refusals(make_proxy, certs, case):
    certs.make("ca")
    certs.make("other")
    certs.make("backend", ca="ca", dns=["backend.local"], days=-1 if case == "expired" else 30)
    upstream = TlsHttpUpstream(certs.file("backend", "cert.pem"), certs.file("backend", "key.pem"))
    try:
        tls = {"sni": "other.local" if case == "wrong_name" else "backend.local",
               "ca_file": certs.file("other" if case == "wrong_ca" else "ca", "ca.pem")}
        proxy = make_proxy(bootstrap([http_listener("ingress", "backend")],
                                     [cluster("backend", [upstream.address], tls=tls)]))
        r = http_get(proxy.port("ingress"), "/")
        assert r.status == 503
        body = r.body.decode()
        expected = {"wrong_ca": "unable to get local issuer certificate",
                    "expired": "certificate has expired",
                    "wrong_name": "hostname mismatch"}[case]
        assert "upstream connect error: tls_handshake_failed: certificate verify failed" in body
        assert expected in body, body
        assert upstream.requests == []
    finally:
        upstream.stop()


def test_tcp_listener_terminates_tls(make_proxy, tcp_upstream, certs):
    certs.make("server")
    listener = tcp_listener("tcp_in", "backend")
    listener["tls"] = {"certificates": [certs.cert("server")]}
    proxy = make_proxy(bootstrap([listener], [cluster("backend", [tcp_upstream])]))
    context = ssl.create_default_context(cafile=certs.file("server", "ca.pem"))
    with socket.create_connection(("127.0.0.1", proxy.port("tcp_in")), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"echo me\n")
            got = b""
            while len(got) < 8:
                got += tls.recv(100)
    assert got == b"echo me\n"
    assert tcp_upstream.received() == b"echo me\n"


def test_bad_certificate_files_fail_start_with_the_file_named(make_proxy, http_upstream, certs):
    certs.make("a")
    certs.make("b")
    config = bootstrap([tls_listener([{"cert_file": certs.file("a", "cert.pem"),
                                       "key_file": certs.file("b", "key.pem")}])],
                       [cluster("backend", [http_upstream])])
    proxy = make_proxy(config, wait_ready=False)
    assert proxy.wait_exit(10) == 1
    errors = proxy.find_logs(msg="cannot load TLS certificates")
    assert errors and certs.file("b", "key.pem") in errors[0]["error"]
    assert "does not match the certificate" in errors[0]["error"]
