"""Filter-chain choice by TLS server name: one TLS listener whose `filter_chains` send each SNI
(exact or wildcard) to its own HTTP routes or tcp_proxy, and every other name to the default."""

import socket
import ssl

import pytest

from harness import bootstrap, cluster, curl_http, http_listener, route
from harness.tls import Certs, s_client


@pytest.fixture
def certs(tmp_path):
    return Certs(tmp_path / "certs")


def chain_http(cluster_name, stat_prefix):
    return {"stat_prefix": stat_prefix,
            "route_config": {"virtual_hosts": [{"name": cluster_name, "domains": ["*"],
                                                "routes": [route("/", cluster_name)]}]}}


@pytest.fixture
def sni_proxy(make_proxy, make_http_upstream, make_tcp_upstream, certs):
    certs.make("ca")
    certs.make("server", ca="ca",
               dns=["localhost", "api.example.com", "web.example.com", "a.apps.example.com",
                    "other.example.com"])
    upstreams = {name: make_http_upstream(name=name) for name in ("default", "api", "web", "apps")}
    tcp = make_tcp_upstream(name="tcp-echo")
    listener = http_listener("ingress", "default")
    listener["tls"] = {"certificates": [certs.cert("server")]}
    listener["filter_chains"] = [
        {"server_names": ["api.example.com"], "http": chain_http("api", "api")},
        {"server_names": ["WEB.example.com"], "http": chain_http("web", "web")},
        {"server_names": ["*.apps.example.com"], "http": chain_http("apps", "apps")},
        # The chain's own idle timeout closes s_client's session once the echo came back.
        {"server_names": ["db.example.com"], "tcp": {"cluster": "db", "idle_timeout": "1s"}},
    ]
    clusters = [cluster(name, [u]) for name, u in upstreams.items()]
    clusters.append(cluster("db", [tcp]))
    proxy = make_proxy(bootstrap([listener], clusters))
    return proxy, upstreams, tcp


def https(proxy, certs, host, path="/", extra=()):
    port = proxy.port("ingress")
    return curl_http(f"https://{host}:{port}{path}",
                     extra_args=["--cacert", certs.file("ca", "ca.pem"),
                                 "--resolve", f"{host}:{port}:127.0.0.1", *extra])


def test_each_server_name_gets_its_own_chain(sni_proxy, certs):
    proxy, upstreams, _ = sni_proxy
    r = https(proxy, certs, "api.example.com", "/v1")
    assert r.status == 200, r.reason
    assert r.json()["upstream"] == "api"
    assert r.json()["path"] == "/v1"
    r = https(proxy, certs, "web.example.com", "/index")
    assert r.status == 200, r.reason
    assert r.json()["upstream"] == "web"
    assert upstreams["api"].request_count == 1
    assert upstreams["web"].request_count == 1
    assert upstreams["default"].request_count == 0
    # The HTTP Host header does not choose the chain: the TLS server name does.
    r = https(proxy, certs, "api.example.com", "/", extra=["-H", "Host: web.example.com"])
    assert r.json()["upstream"] == "api"


def test_wildcard_name_chooses_its_chain(sni_proxy, certs):
    proxy, upstreams, _ = sni_proxy
    r = https(proxy, certs, "a.apps.example.com")
    assert r.status == 200, r.reason
    assert r.json()["upstream"] == "apps"
    assert upstreams["apps"].request_count == 1


def test_unknown_or_missing_name_gets_the_default_chain(sni_proxy, certs):
    proxy, upstreams, _ = sni_proxy
    r = https(proxy, certs, "other.example.com")
    assert r.status == 200, r.reason
    assert r.json()["upstream"] == "default"
    # An IP literal sends no SNI.
    r = curl_http(f"https://127.0.0.1:{proxy.port('ingress')}/",
                  extra_args=["--cacert", certs.file("ca", "ca.pem"), "--insecure"])
    assert r.status == 200, r.reason
    assert r.json()["upstream"] == "default"
    assert upstreams["default"].request_count == 2
    assert sum(upstreams[n].request_count for n in ("api", "web", "apps")) == 0


def test_tcp_chain_for_one_name(sni_proxy, certs):
    proxy, upstreams, tcp = sni_proxy
    port = proxy.port("ingress")
    _, out = s_client(port, "-servername", "db.example.com", "-ign_eof",
                      input=b"ping over tls\n")
    assert "ping over tls" in out, out
    assert tcp.received() == b"ping over tls\n"
    # And with Python's ssl, both directions on one connection.
    context = ssl.create_default_context(cafile=certs.file("ca", "ca.pem"))
    context.check_hostname = False
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="db.example.com") as conn:
            conn.sendall(b"echo me\n")
            got = b""
            while len(got) < 8:
                chunk = conn.recv(100)
                if not chunk:
                    break
                got += chunk
    assert got == b"echo me\n"
    assert sum(u.request_count for u in upstreams.values()) == 0
