"""Opens N keep-alive connections, sends one GET on each, reads the response and keeps them open.

Run as its own process (pinned by the runner):
    idle_client.py PORT COUNT
Prints one JSON line when all connections are idle ({"idle": n, "failed": n}), then
waits for a line on stdin (bounded), closes everything and prints {"closed": n}.
"""

import errno
import json
import resource
import selectors
import socket
import sys
import time

WINDOW = 64  # requests in flight at once, so the proxy needs few upstream connections
REQUEST = b"GET /small HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: podproxy-bench\r\n\r\n"
OPEN_DEADLINE_S = 120.0
HOLD_DEADLINE_S = 300.0


def _response_complete(buf):
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    head = buf[:end].decode("latin-1").lower()
    body = len(buf) - end - 4
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip() == "content-length":
            return body >= int(value.strip())
        if name.strip() == "transfer-encoding" and "chunked" in value:
            return buf.endswith(b"0\r\n\r\n")
    return True  # no body framing on a 200 to GET: treat the head as the whole reply


def _ok(buf):
    return buf.startswith(b"HTTP/1.1 200") or buf.startswith(b"HTTP/1.0 200")


def open_idle(port, count):
    sel = selectors.DefaultSelector()
    idle, failed, started = [], 0, 0
    in_flight = {}  # socket -> bytearray of the response so far
    deadline = time.monotonic() + OPEN_DEADLINE_S
    while (started < count or in_flight) and time.monotonic() < deadline:
        while started < count and len(in_flight) < WINDOW:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            started += 1
            rc = s.connect_ex(("127.0.0.1", port))
            if rc not in (0, errno.EINPROGRESS):
                s.close()
                failed += 1
                continue
            in_flight[s] = None  # None: not sent yet
            sel.register(s, selectors.EVENT_WRITE)
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            if in_flight[s] is None:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err == 0:
                    try:
                        s.sendall(REQUEST)  # tiny: fits the empty send buffer in one go
                        in_flight[s] = bytearray()
                        sel.modify(s, selectors.EVENT_READ)
                        continue
                    except OSError:
                        pass
                sel.unregister(s)
                del in_flight[s]
                s.close()
                failed += 1
                continue
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if data:
                in_flight[s] += data
                if not _response_complete(in_flight[s]):
                    continue
            sel.unregister(s)
            buf = in_flight.pop(s)
            if data and _ok(buf):
                idle.append(s)
            else:
                s.close()
                failed += 1
    for s in list(in_flight):
        sel.unregister(s)
        s.close()
        failed += 1
    sel.close()
    return idle, failed


def main():
    port, count = int(sys.argv[1]), int(sys.argv[2])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = count + 256
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(hard, need)))
    idle, failed = open_idle(port, count)
    print(json.dumps({"idle": len(idle), "failed": failed}), flush=True)
    # Hold the connections until the runner has read the proxy's RSS (or the deadline passes).
    sel = selectors.DefaultSelector()
    sel.register(sys.stdin, selectors.EVENT_READ)
    sel.select(timeout=HOLD_DEADLINE_S)
    sel.close()
    for s in idle:
        s.close()
    print(json.dumps({"closed": len(idle)}), flush=True)


if __name__ == "__main__":
    main()
