"""TLS helpers for tests: certificates made by `podproxy certs` (a CA, workload certificates
with SPIFFE IDs, expired ones), `openssl s_client` runs, and a TLS HTTP upstream built on
Python's ssl module that records the SNI and client certificate it saw."""

import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .proxy import run_podproxy


class Certs:
    """<root>/<name>/{ca.pem, ca-key.pem, cert.pem, key.pem}: make(name) creates a CA and a
    workload certificate; make(name, ca=other) signs with another directory's CA."""

    def __init__(self, root):
        self.root = Path(root)
        self.generation = 0  # of mounted Secret versions (..genN)

    def make(self, name, ca=None, namespace="default", sa="default", days=30, dns=(),
             trust_domain="cluster.local", spiffe_id=None):
        args = ["certs", "--out", str(self.dir(name)), "--namespace", namespace,
                "--service-account", sa, "--days", str(days), "--trust-domain", trust_domain]
        if ca:
            args += ["--ca", str(self.dir(ca))]
        if spiffe_id:
            args += ["--spiffe-id", spiffe_id]
        for d in dns:
            args += ["--dns", d]
        proc = run_podproxy(args)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.split(": ", 1)[1].strip()  # the SPIFFE ID

    def dir(self, name):
        return self.root / name

    def file(self, name, f):
        return str(self.root / name / f)

    def cert(self, name):
        return {"cert_file": self.file(name, "cert.pem"), "key_file": self.file(name, "key.pem")}

    def workload_identity(self, name, ca=None):
        return {"cert_file": self.file(name, "cert.pem"), "key_file": self.file(name, "key.pem"),
                "ca_file": self.file(ca or name, "ca.pem")}

    def mount(self, name, ca=None, at=None):
        """A Kubernetes-style Secret mount: <at>/..data -> <at>/..<gen>/, and cert.pem, key.pem,
        ca.pem symlinked through ..data. Returns the directory."""
        at = Path(at or self.root / f"mount-{name}")
        at.mkdir(parents=True, exist_ok=True)
        self.rotate(at, name, ca)
        for f in ("cert.pem", "key.pem", "ca.pem"):
            link = at / f
            if not link.is_symlink():
                link.symlink_to(f"..data/{f}")
        return at

    def rotate(self, at, name, ca=None):
        """Swaps the mount at `at` to `name`'s files the way the kubelet does (atomic rename
        of a new ..data symlink)."""
        self.generation += 1
        version = Path(at) / f"..gen{self.generation}"
        version.mkdir()
        shutil.copy(self.file(name, "cert.pem"), version / "cert.pem")
        shutil.copy(self.file(name, "key.pem"), version / "key.pem")
        shutil.copy(self.file(ca or name, "ca.pem"), version / "ca.pem")
        tmp = Path(at) / "..data_tmp"
        if tmp.is_symlink():
            tmp.unlink()
        tmp.symlink_to(version.name)
        os.replace(tmp, Path(at) / "..data")


def s_client(port, *args, input=b"", timeout=10):
    """openssl s_client against 127.0.0.1:port; returns (returncode, combined text output)."""
    proc = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *args],
                          input=input, capture_output=True, timeout=timeout)
    return proc.returncode, (proc.stdout + proc.stderr).decode(errors="replace")


class TlsHttpUpstream:
    """An HTTPS server on 127.0.0.1:0 answering 200 with a JSON echo: path, headers, the SNI it
    was asked for, and the client certificate's URI SANs when one was sent."""

    def __init__(self, cert_file, key_file, client_ca=None, alpn=None):
        self.requests = []
        self.server_names = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        if client_ca:
            context.load_verify_locations(client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
        if alpn:
            context.set_alpn_protocols(alpn)
        context.sni_callback = lambda sock, name, ctx: self.server_names.append(name) and None
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                peer = self.connection.getpeercert() or {}
                uris = [v for k, v in peer.get("subjectAltName", ()) if k == "URI"]
                body = json.dumps({"path": self.path, "headers": list(self.headers.items()),
                                   "client_uris": uris}).encode()
                upstream.requests.append(json.loads(body))
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True,
                                                 do_handshake_on_connect=False)
        self.port = self.server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
