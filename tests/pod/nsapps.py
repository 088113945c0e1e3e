#!/usr/bin/python3
"""Small programs the Pod test runs inside its namespaces (standard library only).

  nsapps.py serve --http ADDR:PORT ... --banner ADDR:PORT ...
      HTTP servers that answer every request with a JSON echo of what they saw (peer address,
      local address, method, path, headers) and close; banner servers that send a line first
      (a server-first protocol like SMTP or MySQL), then echo. Each accepted connection is
      also logged as a JSON line: {"msg":"accepted","local":..,"peer":..}. Prints
      {"msg":"ready"} once every socket listens. ADDR may be IPv6 in brackets; "[::]" listens
      dual-stack.
  nsapps.py banner HOST PORT [--send BYTES]
      Connects, measures the time until the first bytes arrive, optionally sends BYTES and
      reads the echo; prints {"elapsed": seconds, "banner": text, "echo": text}.
"""

import argparse
import json
import socket
import sys
import threading
import time

BANNER = b"220 pod-test banner\r\n"


def log(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def split_hostport(s):
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


def fmt(addr):
    host, port = addr[0], addr[1]
    if host.startswith("::ffff:"):
        host = host[len("::ffff:"):]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listen(spec):
    host, port = split_hostport(spec)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if host == "::" else 1)
    s.bind((host, port))
    s.listen(128)
    return s


def read_head(conn, limit=65536):
    data = b""
    while b"\r\n\r\n" not in data and len(data) < limit:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def handle_http(conn, peer, local):
    head = read_head(conn).decode("latin-1")
    lines = head.split("\r\n")
    parts = lines[0].split(" ") if lines and lines[0] else ["", "", ""]
    headers = [line.split(":", 1) for line in lines[1:] if ":" in line]
    body = json.dumps({
        "peer": peer, "local": local, "method": parts[0],
        "path": parts[1] if len(parts) > 1 else "",
        "headers": [[k.strip().lower(), v.strip()] for k, v in headers],
        "raw": head,
    }).encode()
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                 + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)


def handle_banner(conn, peer, local):
    conn.sendall(BANNER)
    while True:
        data = conn.recv(65536)
        if not data:
            break
        conn.sendall(data)


def serve_socket(sock, handler):
    while True:
        conn, addr = sock.accept()
        peer, local = fmt(addr), fmt(conn.getsockname())
        log(msg="accepted", local=local, peer=peer)

        def run(conn=conn, peer=peer, local=local):
            try:
                conn.settimeout(10)
                handler(conn, peer, local)
            except OSError:
                pass
            finally:
                conn.close()

        threading.Thread(target=run, daemon=True).start()


def serve(args):
    sockets = [(listen(s), handle_http) for s in args.http]
    sockets += [(listen(s), handle_banner) for s in args.banner]
    for sock, handler in sockets:
        threading.Thread(target=serve_socket, args=(sock, handler), daemon=True).start()
    log(msg="ready")
    # Runs until killed; the parent test kills it by PID.
    while True:
        time.sleep(3600)


def banner_client(args):
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    out = {"elapsed": None, "banner": "", "echo": "", "error": None}
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(args.timeout)
        try:
            start = time.monotonic()
            s.connect((args.host, args.port))
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            out["elapsed"] = time.monotonic() - start
            out["banner"] = data.decode("latin-1")
            if args.send:
                payload = args.send.encode().decode("unicode_escape").encode("latin-1")
                s.sendall(payload)
                echo = b""
                while len(echo) < len(payload):
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    echo += chunk
                out["echo"] = echo.decode("latin-1")
        except OSError as e:
            out["error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(out))


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve")
    p.add_argument("--http", action="append", default=[])
    p.add_argument("--banner", action="append", default=[])
    p = sub.add_parser("banner")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--send", default="")
    p.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args()
    serve(args) if args.cmd == "serve" else banner_client(args)


if __name__ == "__main__":
    main()
