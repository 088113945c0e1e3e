#!/usr/bin/python3
"""A stand-in sidecar for the Pod test: a plain TCP relay that recovers each captured
connection's original destination with SO_ORIGINAL_DST, as podproxy does. It lets the test
check the namespaces and podproxy-init's rules independently of podproxy's own features.

  relay.py [--outbound-port 15001] [--inbound-port 15006] [--service VIP:PORT=ENDPOINT ...]
           [--inbound-target loopback|original] [--ipv6]

Outbound (15001): connects to the original destination (or to ENDPOINT when the original
destination is a --service VIP). Inbound (15006): connects to 127.0.0.1 / ::1 at the original
port, or with --inbound-target original to the original destination from source 127.0.0.6 /
::6. Refuses connections whose original destination is one of its own ports (loop guard).
Logs JSON lines: listening, ready, and one "connection" line per accepted connection.
"""

import argparse
import json
import socket
import struct
import sys
import threading
import time

SO_ORIGINAL_DST = 80  # also IP6T_SO_ORIGINAL_DST


def log(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def original_dst(conn, family):
    if family == socket.AF_INET:
        raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
        port, = struct.unpack("!H", raw[2:4])
        return socket.inet_ntop(socket.AF_INET, raw[4:8]), port
    raw = conn.getsockopt(socket.IPPROTO_IPV6, SO_ORIGINAL_DST, 28)
    port, = struct.unpack("!H", raw[2:4])
    return socket.inet_ntop(socket.AF_INET6, raw[8:24]), port


def fmt(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def handle(conn, family, direction, args, own_ports):
    try:
        host, port = original_dst(conn, family)
        peer = conn.getpeername()
        if port in own_ports:
            log(msg="connection", listener=direction, original_dst=fmt(host, port),
                peer=fmt(peer[0], peer[1]), refused="loop")
            return
        source = None
        if direction == "inbound" and args.inbound_target == "original":
            # The app's own address, from the source podproxy-init exempts from capture.
            target = (host, port)
            source = ("127.0.0.6" if family == socket.AF_INET else "::6", 0)
        elif direction == "inbound":
            target = ("127.0.0.1" if family == socket.AF_INET else "::1", port)
        else:
            target = args.services.get(fmt(host, port), (host, port))
        log(msg="connection", listener=direction, original_dst=fmt(host, port),
            peer=fmt(peer[0], peer[1]), upstream=fmt(*target))
        up = socket.create_connection(target, timeout=5, source_address=source)
        up.settimeout(None)
        conn.settimeout(None)
        t = threading.Thread(target=pump, args=(up, conn), daemon=True)
        t.start()
        pump(conn, up)
        t.join(30)
        up.close()
    except OSError as e:
        log(msg="error", listener=direction, error=str(e))
    finally:
        conn.close()


def serve(sock, family, direction, args, own_ports):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=handle, args=(conn, family, direction, args, own_ports),
                         daemon=True).start()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--outbound-port", type=int, default=15001)
    parser.add_argument("--inbound-port", type=int, default=15006)
    parser.add_argument("--service", action="append", default=[])
    parser.add_argument("--ipv6", action="store_true")
    parser.add_argument("--inbound-target", choices=["loopback", "original"], default="loopback")
    args = parser.parse_args()
    args.services = {}
    for spec in args.service:
        vip, _, endpoint = spec.partition("=")
        host, _, port = endpoint.rpartition(":")
        args.services[vip] = (host.strip("[]"), int(port))
    own_ports = {args.outbound_port, args.inbound_port}
    families = [(socket.AF_INET, "0.0.0.0")] + ([(socket.AF_INET6, "::")] if args.ipv6 else [])
    for direction, port in (("outbound", args.outbound_port), ("inbound", args.inbound_port)):
        for family, host in families:
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((host, port))
            s.listen(128)
            log(msg="listening", listener=direction, address=fmt(host, port))
            threading.Thread(target=serve, args=(s, family, direction, args, own_ports),
                             daemon=True).start()
    log(msg="ready")
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
