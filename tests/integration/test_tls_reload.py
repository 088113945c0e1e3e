"""Certificate hot reload: files rotated the way the kubelet updates a mounted Secret (a new
..data symlink swapped in) while wrk runs. New connections get the new certificate, no request
fails, and a bad certificate/key pair is refused with a log line while the old one stays."""

import re
import subprocess
import threading
import time

import pytest

from harness import bootstrap, cluster, http_listener, wait_until
from harness.tls import Certs, s_client


@pytest.fixture
def certs(tmp_path):
    c = Certs(tmp_path / "certs")
    c.make("ca")
    c.make("v1", ca="ca", sa="v1")
    c.make("v2", ca="ca", sa="v2")
    c.make("v3", ca="ca", sa="v3")
    return c


def presented_cn(port, certs):
    _, out = s_client(port, "-CAfile", certs.file("ca", "ca.pem"), "-servername", "localhost")
    m = re.search(r"subject=.*CN = (\S+)", out)
    return m.group(1) if m else out


def reload_proxy(make_proxy, http_upstream, mount):
    listener = http_listener("ingress", "backend")
    listener["tls"] = {"certificates": [{"cert_file": str(mount / "cert.pem"),
                                         "key_file": str(mount / "key.pem")}]}
    return make_proxy(bootstrap([listener], [cluster("backend", [http_upstream])]))


def test_rotation_under_load_fails_no_request(make_proxy, http_upstream, certs, tmp_path):
    mount = certs.mount("v1", ca="ca", at=tmp_path / "secret")
    proxy = reload_proxy(make_proxy, http_upstream, mount)
    port = proxy.port("ingress")
    assert presented_cn(port, certs) == "v1.default"

    def rotate():
        time.sleep(1.0)
        certs.rotate(mount, "v2", ca="ca")
        time.sleep(1.0)
        certs.rotate(mount, "v3", ca="ca")

    rotator = threading.Thread(target=rotate, daemon=True)
    rotator.start()
    # Half the connections keep-alive (they keep their TLS session), half new per request (each
    # a full handshake with whatever certificate is current).
    cmds = [["wrk", "-t1", "-c8", "-d3s", f"https://127.0.0.1:{port}/"],
            ["wrk", "-t1", "-c8", "-d3s", "-H", "Connection: close", f"https://127.0.0.1:{port}/"]]
    runs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for c in cmds]
    outputs = [r.communicate(timeout=30)[0].decode() for r in runs]
    rotator.join(5)
    for out in outputs:
        assert "requests in" in out, out
        assert "Socket errors" not in out, out
        assert "Non-2xx" not in out, out
        assert int(re.search(r"(\d+) requests in", out).group(1)) > 50, out
    # The second reload can land as wrk stops; its line comes through the log sink's thread.
    wait_until(lambda: len(proxy.find_logs(msg="certificate reloaded")) >= 2, timeout=5,
               message="two reloads logged")
    assert presented_cn(port, certs) == "v3.default"


def test_a_bad_pair_is_refused_and_the_old_certificate_stays(make_proxy, http_upstream, certs,
                                                             tmp_path):
    mount = certs.mount("v1", ca="ca", at=tmp_path / "secret")
    proxy = reload_proxy(make_proxy, http_upstream, mount)
    port = proxy.port("ingress")
    # v2's certificate with v3's key: a mismatched pair.
    certs.dir("bad").mkdir()
    for f, src in (("cert.pem", "v2"), ("key.pem", "v3"), ("ca.pem", "ca")):
        (certs.dir("bad") / f).write_bytes((certs.dir(src) / f).read_bytes())
    certs.rotate(mount, "bad", ca="ca")
    entry = proxy.wait_for_log(msg="certificate reload rejected; keeping the current certificate")
    assert "the private key does not match the certificate" in entry["error"], entry
    assert str(mount / "key.pem") in entry["error"]
    assert presented_cn(port, certs) == "v1.default"
    assert proxy.stats()["tls.reload_failures"] == 1
    # A good pair afterwards is taken.
    certs.rotate(mount, "v2", ca="ca")
    proxy.wait_for_log(msg="certificate reloaded")
    wait_until(lambda: presented_cn(port, certs) == "v2.default")
