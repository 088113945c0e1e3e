"""Starts the backend and the contestants from the templates in bench/configs/."""

import http.client
import os
import pwd
import ssl
import string
import subprocess

from procs import free_port, wait_for_port

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs")

SMALL_BODY = b"hello, world\n"
BIG_BODY = bytes((ord("a") + i % 26) for i in range(16 * 1024))

# Contestant order in the table; rounds rotate it.
CONTESTANTS = ["direct", "floor", "podproxy", "podproxy+telemetry", "nginx", "haproxy"]
# The rivals every ratio is taken against ("best of nginx and HAProxy").
RIVALS = ("nginx", "haproxy")

# The backend's mTLS port (mTLS rows): TLS with a client certificate required, signed by the
# mesh CA (make_mesh_certificates), serving the same files.
MTLS_BACKEND = """    server {
        listen 127.0.0.1:$mtls_port ssl backlog=4096;
        ssl_certificate $cert;
        ssl_certificate_key $key;
        ssl_client_certificate $ca;
        ssl_verify_client on;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $docroot;
        location = /small { }
        location = /16k { }
        location / { return 404; }
    }"""

# HAProxy's mTLS rows: TLS from wrk, mutual TLS (client certificate, CA-verified server) upstream.
MTLS_HAPROXY = """frontend bench_mtls
    bind 127.0.0.1:$mtls_port ssl crt $pem_file ssl-min-ver TLSv1.2 backlog 4096
    maxconn $maxconn
    default_backend backend_mtls

backend backend_mtls
    server origin 127.0.0.1:$backend_mtls_port ssl verify required ca-file $ca crt $client_pem"""


class Server:
    """A started server: the process to measure and the port wrk should hit."""

    def __init__(self, name, proc, port, version="", tls_port=None, mtls_port=None,
                 mtls_backend_port=None):
        self.name = name
        self.proc = proc
        self.port = port
        self.version = version
        self.tls_port = tls_port  # the same proxy behind TLS termination (None: no TLS rows)
        self.mtls_port = mtls_port  # TLS in, mutual TLS to the backend (None: no mTLS rows)
        self.mtls_backend_port = mtls_backend_port  # the backend's port for mTLS


def make_mesh_certificates(tmp, podproxy_bin):
    """A mesh CA with two SPIFFE workload certificates, made by `podproxy certs`: one the mTLS
    backend presents, one the proxies present to it. Returns a dict of paths, or None when
    podproxy is missing or fails (then there are no mTLS rows)."""
    if not podproxy_bin or not os.access(podproxy_bin, os.X_OK):
        return None
    server_dir, client_dir = os.path.join(tmp, "mesh-backend"), os.path.join(tmp, "mesh-proxy")
    try:
        subprocess.run([podproxy_bin, "certs", "--out", server_dir, "--namespace", "bench",
                        "--service-account", "backend", "--days", "2"],
                       check=True, capture_output=True, timeout=30)
        subprocess.run([podproxy_bin, "certs", "--out", client_dir, "--ca", server_dir,
                        "--namespace", "bench", "--service-account", "proxy", "--days", "2"],
                       check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    mesh = {"ca": os.path.join(server_dir, "ca.pem"),
            "server_cert": os.path.join(server_dir, "cert.pem"),
            "server_key": os.path.join(server_dir, "key.pem"),
            "client_cert": os.path.join(client_dir, "cert.pem"),
            "client_key": os.path.join(client_dir, "key.pem"),
            "client_pem": os.path.join(client_dir, "haproxy.pem")}
    with open(mesh["client_pem"], "w") as out:
        for f in (mesh["client_cert"], mesh["client_key"]):
            with open(f) as part:
                out.write(part.read())
    return mesh


def make_certificate(tmp):
    """One self-signed EC P-256 certificate every contestant presents (TLS rows): cert.pem,
    key.pem and, for HAProxy, both in bench.pem. Returns the three paths."""
    cert, key, pem = (os.path.join(tmp, f) for f in ("cert.pem", "key.pem", "bench.pem"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days",
                    "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True, timeout=30)
    with open(pem, "w") as out:
        for f in (cert, key):
            with open(f) as part:
                out.write(part.read())
    return cert, key, pem


def render_config(template_name, out_path, **values):
    """Fills a bench/configs template ($-placeholders) into `out_path`; returns the path."""
    with open(os.path.join(CONFIG_DIR, template_name)) as f:
        text = string.Template(f.read()).substitute(**values)
    with open(out_path, "w") as f:
        f.write(text)
    return out_path


def _nginx_user_line():
    # As root, nginx workers would drop to `nobody`; keep them as the runner's user so they can
    # read the temp dir and so /proc accounting stays simple. Not root: the directive is ignored.
    if os.geteuid() != 0:
        return ""
    return f"user {pwd.getpwuid(os.geteuid()).pw_name};"


def _check_get(port, path, expected_body):
    """One request on a fresh connection; returns an error string or None."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            return f"GET {path} -> {resp.status}"
        if body != expected_body:
            return f"GET {path} -> {len(body)}-byte body, expected {len(expected_body)}"
        return None
    except OSError as e:
        return f"GET {path} failed: {e}"
    finally:
        conn.close()


def _check_tls_get(port, path, expected_body):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the benchmark's throwaway self-signed certificate
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=context)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200 or body != expected_body:
            return f"GET https {path} -> {resp.status}, {len(body)}-byte body"
        return None
    except OSError as e:
        return f"GET https {path} failed: {e}"
    finally:
        conn.close()


def warm_up(server):
    """Checks both paths answer correctly through `server`; returns an error string or None."""
    return (_check_get(server.port, "/small", SMALL_BODY)
            or _check_get(server.port, "/16k", BIG_BODY)
            or (server.tls_port and _check_tls_get(server.tls_port, "/small", SMALL_BODY))
            or (server.mtls_port and _check_tls_get(server.mtls_port, "/small", SMALL_BODY))
            or None)


def spawn_listening(procs, name, argv, cpus, nofile, log, ports, stdout=None, timeout_s=10.0):
    """Starts `argv` and waits until it accepts on every port in `ports` (None entries skipped);
    stops it and raises with the tail of its log if it does not."""
    proc = procs.spawn(name, argv, cpus, nofile, log, stdout=stdout)
    for port in ports:
        if port is not None and not wait_for_port(port, proc, timeout_s):
            procs.stop(proc)
            tail = ""
            if os.path.exists(log):
                with open(log, errors="replace") as f:
                    tail = f.read()[-2000:]
            raise RuntimeError(f"{name} did not start listening on 127.0.0.1:{port}\n{tail}")
    procs.remember_tree(proc)
    return proc


def start_backend(procs, tmp, cpus, nofile, conn_limit, mesh=None):
    """The origin nginx; with `mesh` (make_mesh_certificates) also an mTLS port."""
    docroot = os.path.join(tmp, "docroot")
    os.makedirs(docroot, exist_ok=True)
    with open(os.path.join(docroot, "small"), "wb") as f:
        f.write(SMALL_BODY)
    with open(os.path.join(docroot, "16k"), "wb") as f:
        f.write(BIG_BODY)
    port = free_port()
    mtls_port = free_port() if mesh else None
    mtls_server = "" if not mesh else string.Template(MTLS_BACKEND).substitute(
        mtls_port=mtls_port, cert=mesh["server_cert"], key=mesh["server_key"], ca=mesh["ca"],
        docroot=docroot)
    conf = render_config(
        "backend-nginx.conf",
        os.path.join(tmp, "backend-nginx.conf"),
        user_line=_nginx_user_line(),
        dir=tmp,
        docroot=docroot,
        port=port,
        nofile=nofile,
        worker_connections=conn_limit,
        mtls_server=mtls_server,
    )
    log = os.path.join(tmp, "backend.out")
    argv = ["nginx", "-p", tmp, "-e", os.path.join(tmp, "backend-error.log"), "-c", conf]
    proc = spawn_listening(procs, "backend nginx", argv, cpus, nofile, log, [port])
    return Server("backend", proc, port, mtls_backend_port=mtls_port)


def start_contestant(name, procs, tmp, cpus, nofile, conn_limit, backend, bins, tls, mesh=None,
                     wrap=(), start_timeout_s=10.0, concurrency=1):
    """Starts one contestant pinned to `cpus`; `direct` is the backend itself.

    bins: {"podproxy": path, "floor": path}. tls: the (cert, key, pem) paths of
    make_certificate(), for a second, TLS-terminating port (not floor, not podproxy+telemetry).
    mesh: make_mesh_certificates(), for a third port with mutual TLS upstream (podproxy, HAProxy).
    wrap: an argv prefix (valgrind) that makes the process one that exits on SIGTERM and keeps
    nginx to one process (master_process off)."""
    if name == "direct":
        return Server("direct", backend.proc, backend.port)
    os.makedirs(tmp, exist_ok=True)
    port = free_port()
    tls_port = mtls_port = None
    cert_file, key_file, pem_file = tls
    log = os.path.join(tmp, f"{name}.out")
    stdout = None
    if name == "nginx":
        tls_port = free_port()
        conf = render_config(
            "proxy-nginx.conf",
            os.path.join(tmp, "proxy-nginx.conf"),
            user_line=_nginx_user_line(),
            master_process="off" if wrap else "on",
            dir=tmp,
            port=port,
            backend_port=backend.port,
            nofile=nofile,
            worker_connections=conn_limit,
            tls_port=tls_port,
            cert_file=cert_file,
            key_file=key_file,
        )
        argv = ["nginx", "-p", tmp, "-e", os.path.join(tmp, "proxy-nginx-error.log"), "-c", conf]
    elif name == "haproxy":
        tls_port = free_port()
        mtls_section = ""
        if mesh and backend.mtls_backend_port:
            mtls_port = free_port()
            mtls_section = string.Template(MTLS_HAPROXY).substitute(
                mtls_port=mtls_port, pem_file=pem_file, maxconn=conn_limit,
                backend_mtls_port=backend.mtls_backend_port, ca=mesh["ca"],
                client_pem=mesh["client_pem"])
        conf = render_config(
            "haproxy.cfg",
            os.path.join(tmp, "haproxy.cfg"),
            port=port,
            backend_port=backend.port,
            maxconn=conn_limit,
            nofile=nofile,
            tls_port=tls_port,
            pem_file=pem_file,
            mtls_section=mtls_section,
        )
        argv = ["haproxy", "-db", "-f", conf]
    elif name == "podproxy":
        if not (mesh and backend.mtls_backend_port):
            raise RuntimeError("no mesh certificates (podproxy certs failed)")
        tls_port, mtls_port = free_port(), free_port()
        conf = render_config(
            "podproxy.yaml", os.path.join(tmp, "podproxy.yaml"),
            port=port, backend_port=backend.port, tls_port=tls_port, cert_file=cert_file,
            key_file=key_file, mtls_port=mtls_port, backend_mtls_port=backend.mtls_backend_port,
            mesh_cert=mesh["client_cert"], mesh_key=mesh["client_key"], mesh_ca=mesh["ca"]
        )
        argv = [bins["podproxy"], "-c", conf, "--concurrency", str(concurrency),
                "--log-level", "warn"]
    elif name == "podproxy+telemetry":
        conf = render_config("podproxy-telemetry.yaml", os.path.join(tmp, "podproxy-telemetry.yaml"),
                       port=port, backend_port=backend.port)
        argv = [bins["podproxy"], "-c", conf, "--concurrency", "1", "--log-level", "warn"]
        stdout = subprocess.DEVNULL  # the access log: formatted and written, not stored
    elif name == "floor":
        argv = [bins["floor"], "--listen", f"127.0.0.1:{port}",
                "--upstream", f"127.0.0.1:{backend.port}"]
    else:
        raise ValueError(f"unknown contestant {name}")
    proc = spawn_listening(procs, name, list(wrap) + argv, cpus, nofile, log,
                           (port, tls_port, mtls_port), stdout=stdout, timeout_s=start_timeout_s)
    return Server(name, proc, port, tls_port=tls_port, mtls_port=mtls_port)


def tool_version(argv):
    """First line of a tool's version output (some print it on stderr), or 'unknown'."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (out.stdout + out.stderr).strip()
    return text.splitlines()[0].strip() if text else "unknown"
