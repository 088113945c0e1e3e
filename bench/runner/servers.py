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
CONTESTANTS = ["direct", "podproxy", "nginx", "haproxy"]


class Server:
    """A started server: the process to measure and the port wrk should hit."""

    def __init__(self, name, proc, port, version="", tls_port=None):
        self.name = name
        self.proc = proc
        self.port = port
        self.version = version
        self.tls_port = tls_port  # the same proxy behind TLS termination (None: no TLS rows)


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


def _render(template_name, out_path, **values):
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
            or None)


def _started(procs, name, proc, port, log_path):
    if not wait_for_port(port, proc):
        procs.stop(proc)
        tail = ""
        if os.path.exists(log_path):
            with open(log_path, errors="replace") as f:
                tail = f.read()[-2000:]
        raise RuntimeError(f"{name} did not start listening on 127.0.0.1:{port}\n{tail}")
    procs.remember_tree(proc)
    return proc


def start_backend(procs, tmp, cpus, nofile, conn_limit):
    docroot = os.path.join(tmp, "docroot")
    os.makedirs(docroot, exist_ok=True)
    with open(os.path.join(docroot, "small"), "wb") as f:
        f.write(SMALL_BODY)
    with open(os.path.join(docroot, "16k"), "wb") as f:
        f.write(BIG_BODY)
    port = free_port()
    conf = _render(
        "backend-nginx.conf",
        os.path.join(tmp, "backend-nginx.conf"),
        user_line=_nginx_user_line(),
        dir=tmp,
        docroot=docroot,
        port=port,
        nofile=nofile,
        worker_connections=conn_limit,
    )
    log = os.path.join(tmp, "backend.out")
    argv = ["nginx", "-p", tmp, "-e", os.path.join(tmp, "backend-error.log"), "-c", conf]
    proc = procs.spawn("backend nginx", argv, cpus, nofile, log)
    _started(procs, "backend nginx", proc, port, log)
    return Server("backend", proc, port)


def start_contestant(name, procs, tmp, cpus, nofile, conn_limit, backend, podproxy_bin, tls):
    """Starts one contestant pinned to `cpus`; `direct` is the backend itself. `tls`: the
    (cert, key, pem) paths of make_certificate(), for a second, TLS-terminating port."""
    if name == "direct":
        return Server("direct", backend.proc, backend.port)
    port = free_port()
    tls_port = free_port()
    cert_file, key_file, pem_file = tls
    log = os.path.join(tmp, f"{name}.out")
    if name == "nginx":
        conf = _render(
            "proxy-nginx.conf",
            os.path.join(tmp, "proxy-nginx.conf"),
            user_line=_nginx_user_line(),
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
        conf = _render(
            "haproxy.cfg",
            os.path.join(tmp, "haproxy.cfg"),
            port=port,
            backend_port=backend.port,
            maxconn=conn_limit,
            nofile=nofile,
            tls_port=tls_port,
            pem_file=pem_file,
        )
        argv = ["haproxy", "-db", "-f", conf]
    elif name == "podproxy":
        conf = _render(
            "podproxy.yaml", os.path.join(tmp, "podproxy.yaml"),
            port=port, backend_port=backend.port, tls_port=tls_port, cert_file=cert_file,
            key_file=key_file
        )
        argv = [podproxy_bin, "-c", conf, "--concurrency", "1", "--log-level", "warn"]
    else:
        raise ValueError(f"unknown contestant {name}")
    proc = procs.spawn(name, argv, cpus, nofile, log)
    _started(procs, name, proc, port, log)
    if not wait_for_port(tls_port, proc):
        procs.stop(proc)
        raise RuntimeError(f"{name} did not start listening on its TLS port 127.0.0.1:{tls_port}")
    return Server(name, proc, port, tls_port=tls_port)


def tool_version(argv):
    """First line of a tool's version output (some print it on stderr), or 'unknown'."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (out.stdout + out.stderr).strip()
    return text.splitlines()[0].strip() if text else "unknown"
