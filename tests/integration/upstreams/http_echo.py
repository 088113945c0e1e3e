"""HttpEchoUpstream: an HTTP/1.1 server that echoes what it received, with per-path behaviours.

Written on raw sockets (not http.server) so a test sees headers exactly as the proxy sent them and
can make the upstream misbehave in precise ways: close an idle keep-alive connection without a
word, reset in the middle of a body, answer slowly, answer chunked. See README.md for the paths.
"""

import hashlib
import json
import threading
import time

from .base import ThreadedServer, reset_socket

MAX_HEAD_BYTES = 1024 * 1024
_PATTERN = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\n"  # 63 bytes

REASONS = {100: "Continue", 200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently",
           302: "Found", 304: "Not Modified", 400: "Bad Request", 403: "Forbidden",
           404: "Not Found", 408: "Request Timeout", 413: "Payload Too Large",
           429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}


def pattern_bytes(n):
    """The deterministic n-byte body that /bytes/<n> and /chunked/<n> send."""
    reps = n // len(_PATTERN) + 1
    return (_PATTERN * reps)[:n]


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


class Request:
    """One request as the upstream received it."""

    def __init__(self, method, target, version, headers, body, peer_port, conn_id, index):
        self.method = method
        self.target = target  # as on the request line, query included
        self.path, _, self.query = target.partition("?")
        self.version = version
        self.headers = headers  # [(name, value)] in received order, names as received
        self.body = body
        self.peer_port = peer_port
        self.conn_id = conn_id  # 1-based, in accept order
        self.index = index  # 1-based position of this request on its connection
        self.time = time.monotonic()

    def header(self, name):
        """First value of `name` (case-insensitive), or None."""
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name):
        lname = name.lower()
        return [v for k, v in self.headers if k.lower() == lname]

    def echo(self, upstream_name):
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "version": self.version,
            "headers": [[k, v] for k, v in self.headers],
            "body_length": len(self.body),
            "body_sha256": sha256_hex(self.body),
            "peer_port": self.peer_port,
            "connection_id": self.conn_id,
            "request_index": self.index,
            "upstream": upstream_name,
        }


class Response:
    """What to send back, and how. Handlers return one of these."""

    def __init__(self, status=200, body=b"", headers=None, *, reason=None, chunked=False,
                 chunk_size=16384, close=False, delay_ms=0, close_idle_ms=None,
                 reset_after_body_bytes=None, reset_without_response=False,
                 close_delimited=False):
        self.status = status
        self.reason = reason or REASONS.get(status, "Status")
        self.body = body if isinstance(body, bytes) else str(body).encode()
        self.headers = list(headers or [])
        self.chunked = chunked  # Transfer-Encoding: chunked, chunk_size bytes per chunk
        self.chunk_size = chunk_size
        self.close = close  # send "Connection: close" and close after the response
        self.delay_ms = delay_ms  # wait before sending anything
        self.close_idle_ms = close_idle_ms  # afterwards, close silently if idle this long
        self.reset_after_body_bytes = reset_after_body_bytes  # RST after this many body bytes
        self.reset_without_response = reset_without_response  # RST instead of any response
        self.close_delimited = close_delimited  # no length: the body ends with the connection


class HttpEchoUpstream(ThreadedServer):
    """HTTP/1.1 echo upstream. Options apply to every connection:

    close_after_response: close (FIN, no "Connection: close" header) right after each response.
    idle_close_ms: close a keep-alive connection silently once idle this long.
    response_headers: [(name, value)] added to every response.
    """

    def __init__(self, host="127.0.0.1", port=0, name=None, *, close_after_response=False,
                 idle_close_ms=None, response_headers=None):
        super().__init__(host, port, name)
        self.close_after_response = close_after_response
        self.idle_close_ms = idle_close_ms
        self.response_headers = list(response_headers or [])
        self._requests = []
        self._cond = threading.Condition(self._lock)
        self._handlers = []  # (prefix, fn), longest prefix first
        self.malformed_requests = 0
        for prefix, fn in [("/status/", _status), ("/delay/", _delay), ("/bytes/", _bytes),
                           ("/chunked/", _chunked), ("/close-idle/", _close_idle),
                           ("/close", _close), ("/reset-mid-body", _reset_mid_body),
                           ("/reset", _reset), ("/no-length/", _no_length)]:
            self.route(prefix, fn)

    # -- test-facing API ---------------------------------------------------------------------

    def route(self, prefix, fn):
        """Serves paths starting with `prefix` with fn(request, upstream) -> Response.
        Later registrations of the same prefix replace earlier ones; longest prefix wins."""
        self._handlers = [(p, f) for p, f in self._handlers if p != prefix]
        self._handlers.append((prefix, fn))
        self._handlers.sort(key=lambda pf: len(pf[0]), reverse=True)

    @property
    def requests(self):
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self):
        with self._lock:
            return len(self._requests)

    @property
    def last_request(self):
        with self._lock:
            return self._requests[-1] if self._requests else None

    def wait_for_requests(self, n, timeout=5.0):
        """Waits until at least n requests were received; returns whether they were."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def echo_response(self, request, status=200):
        body = b"" if status in (204, 304) or status < 200 else \
            json.dumps(request.echo(self.name)).encode()
        return Response(status, body, [("content-type", "application/json")])

    # -- connection handling ------------------------------------------------------------------

    def handle_connection(self, sock, conn_id):
        peer_port = sock.getpeername()[1]
        buf = bytearray()
        index = 0
        idle_ms = self.idle_close_ms
        while not self.stopped:
            # Between requests: the idle timeout applies only until the first byte arrives.
            deadline = None if idle_ms is None or buf else time.monotonic() + idle_ms / 1000.0
            head = self._read_head(sock, buf, deadline)
            if head is None:
                return  # EOF, stopped, idle-closed or malformed (already answered)
            method, target, version, headers = head
            index += 1
            body = self._read_body(sock, buf, headers, version)
            if body is None:
                return
            request = Request(method, target, version, headers, body, peer_port, conn_id, index)
            with self._cond:
                self._requests.append(request)
                self._cond.notify_all()
            response = self._dispatch(request)
            if response.delay_ms and not self.sleep(response.delay_ms / 1000.0):
                return
            if response.reset_without_response:
                reset_socket(sock)
                return
            keep_alive = self._send_response(sock, request, response)
            if not keep_alive or self.close_after_response:
                return
            if response.close_idle_ms is not None:
                idle_ms = response.close_idle_ms
                if idle_ms == 0 and not buf:
                    return

    def _dispatch(self, request):
        for prefix, fn in self._handlers:
            if request.path.startswith(prefix):
                try:
                    return fn(request, self)
                except ValueError:
                    return Response(400, b"bad parameter\n", close=True)
        return self.echo_response(request)

    def _read_head(self, sock, buf, deadline):
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(buf) > MAX_HEAD_BYTES:
                return self._malformed(sock)
            chunk = self.recv_some(sock, deadline=deadline)
            if not chunk:
                return None
            deadline = None
            buf += chunk
        raw = bytes(buf[:end]).decode("latin-1")
        del buf[:end + 4]
        lines = raw.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return self._malformed(sock)
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                return self._malformed(sock)
            headers.append((name, value.strip()))
        return parts[0], parts[1], parts[2], headers

    def _read_body(self, sock, buf, headers, version):
        lower = [(k.lower(), v) for k, v in headers]
        te = ",".join(v for k, v in lower if k == "transfer-encoding").lower()
        if "100-continue" in ",".join(v for k, v in lower if k == "expect").lower():
            self.send_all(sock, f"{version} 100 Continue\r\n\r\n".encode())
        if "chunked" in te:
            return self._read_chunked(sock, buf)
        lengths = [v for k, v in lower if k == "content-length"]
        if not lengths:
            return b""
        try:
            n = int(lengths[0])
        except ValueError:
            self._malformed(sock)
            return None
        if not self._fill(sock, buf, n):
            return None
        body = bytes(buf[:n])
        del buf[:n]
        return body

    def _read_chunked(self, sock, buf):
        body = bytearray()
        while True:
            line = self._read_line(sock, buf)
            if line is None:
                return None
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                self._malformed(sock)
                return None
            if size == 0:
                while True:  # trailers, up to the empty line
                    trailer = self._read_line(sock, buf)
                    if trailer is None:
                        return None
                    if trailer == b"":
                        return bytes(body)
            if not self._fill(sock, buf, size + 2):
                return None
            body += buf[:size]
            del buf[:size + 2]

    def _read_line(self, sock, buf):
        while b"\r\n" not in buf:
            chunk = self.recv_some(sock)
            if not chunk:
                return None
            buf += chunk
        end = buf.find(b"\r\n")
        line = bytes(buf[:end])
        del buf[:end + 2]
        return line

    def _fill(self, sock, buf, n):
        while len(buf) < n:
            chunk = self.recv_some(sock)
            if not chunk:
                return False
            buf += chunk
        return True

    def _malformed(self, sock):
        with self._lock:
            self.malformed_requests += 1
        self.send_all(sock, b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n"
                            b"connection: close\r\n\r\n")
        return None

    def _send_response(self, sock, request, r):
        """Sends r; returns whether the connection may be reused."""
        headers = [*r.headers, *self.response_headers, ("x-upstream", self.name),
                   ("x-upstream-connection", str(request.conn_id))]
        no_body = request.method == "HEAD" or r.status in (204, 304) or r.status < 200
        if r.chunked:
            headers.append(("transfer-encoding", "chunked"))
        elif not r.close_delimited and r.status not in (204, 304) and r.status >= 200:
            headers.append(("content-length", str(len(r.body))))
        close = r.close or r.close_delimited or request.version == "HTTP/1.0"
        if close:
            headers.append(("connection", "close"))
        head = f"HTTP/1.1 {r.status} {r.reason}\r\n" + \
            "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
        if not self.send_all(sock, head.encode("latin-1")):
            return False
        if no_body:
            return not close
        if r.reset_after_body_bytes is not None:
            self.send_all(sock, r.body[:r.reset_after_body_bytes])
            self.sleep(0.05)  # let the partial body leave before the RST overtakes it
            reset_socket(sock)
            return False
        if r.chunked:
            for i in range(0, len(r.body), r.chunk_size):
                piece = r.body[i:i + r.chunk_size]
                if not self.send_all(sock, b"%x\r\n" % len(piece) + piece + b"\r\n"):
                    return False
            self.send_all(sock, b"0\r\n\r\n")
        else:
            self.send_all(sock, r.body)
        return not close


# -- built-in path behaviours ------------------------------------------------------------------

def _last_int(request, prefix, default=None):
    rest = request.path[len(prefix):].strip("/")
    if not rest:
        if default is None:
            raise ValueError(request.path)
        return default
    return int(rest.split("/")[0])


def _status(req, up):
    return up.echo_response(req, _last_int(req, "/status/"))


def _delay(req, up):
    r = up.echo_response(req)
    r.delay_ms = _last_int(req, "/delay/")
    return r


def _bytes(req, up):
    return Response(200, pattern_bytes(_last_int(req, "/bytes/")),
                    [("content-type", "application/octet-stream")])


def _chunked(req, up):
    return Response(200, pattern_bytes(_last_int(req, "/chunked/")),
                    [("content-type", "application/octet-stream")], chunked=True)


def _close(req, up):
    r = up.echo_response(req)
    r.close = True
    return r


def _close_idle(req, up):
    r = up.echo_response(req)
    r.close_idle_ms = _last_int(req, "/close-idle/")
    return r


def _reset_mid_body(req, up):
    n = _last_int(req, "/reset-mid-body", 65536)
    return Response(200, pattern_bytes(n), [("content-type", "application/octet-stream")],
                    reset_after_body_bytes=n // 2)


def _reset(req, up):
    return Response(reset_without_response=True)


def _no_length(req, up):
    return Response(200, pattern_bytes(_last_int(req, "/no-length/")),
                    [("content-type", "application/octet-stream")], close_delimited=True)
