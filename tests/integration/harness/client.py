"""Test clients: raw sockets for malformed or byte-exact traffic, http.client for ordinary
requests, curl for a real-world client, and a small HTTP/1 response parser."""

import http.client
import json
import socket
import subprocess
import time


def _connect(port, host, timeout):
    return socket.create_connection((host, port), timeout=timeout)


def raw_request(port, data, timeout=5.0, host="127.0.0.1", shutdown_write=False):
    """Sends `data` (bytes) and returns everything read until the peer closes or `timeout`
    seconds pass in total. shutdown_write: half-close after sending."""
    with RawConnection(port, host=host, timeout=timeout) as conn:
        conn.send(data)
        if shutdown_write:
            conn.shutdown_write()
        return conn.read_until_close(timeout)


class RawConnection:
    """A client TCP connection for step-by-step exchanges (pipelining, slow sends, half-close)."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0):
        self.sock = _connect(port, host, timeout)
        self.buf = b""
        self.closed = False  # the peer closed (FIN)
        self.reset = False  # the peer reset (RST)

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def _recv(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            self.reset = self.closed = True
            return False
        if not chunk:
            self.closed = True
            return False
        self.buf += chunk
        return True

    def read_until_close(self, timeout=5.0):
        """Everything until close or timeout (drains the buffer)."""
        deadline = time.monotonic() + timeout
        while not self.closed and self._recv(deadline):
            pass
        data, self.buf = self.buf, b""
        return data

    def read_until(self, marker, timeout=5.0):
        """Bytes up to and including `marker`, or None on timeout/close (buffer kept)."""
        deadline = time.monotonic() + timeout
        while marker not in self.buf:
            if self.closed or not self._recv(deadline):
                return None
        end = self.buf.index(marker) + len(marker)
        data, self.buf = self.buf[:end], self.buf[end:]
        return data

    def read_response(self, timeout=5.0, head_request=False):
        """Reads one complete HTTP/1 response; returns HttpResponse or None on timeout/close."""
        deadline = time.monotonic() + timeout
        while True:
            parsed = parse_response(self.buf, head_request, eof=self.closed)
            if parsed is not None:
                response, used = parsed
                self.buf = self.buf[used:]
                return response
            if self.closed or not self._recv(deadline):
                if self.closed:
                    parsed = parse_response(self.buf, head_request, eof=True)
                    if parsed is not None:
                        self.buf = self.buf[parsed[1]:]
                        return parsed[0]
                return None

    def wait_closed(self, timeout=5.0):
        """True if the peer closes within `timeout` (data that arrives meanwhile is kept)."""
        deadline = time.monotonic() + timeout
        while not self.closed and self._recv(deadline):
            pass
        return self.closed

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class HttpResponse:
    def __init__(self, status, reason, headers, body, version="HTTP/1.1"):
        self.status = status
        self.reason = reason
        self.headers = headers  # [(name, value)] as received
        self.body = body
        self.version = version

    def header(self, name):
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name):
        lname = name.lower()
        return [v for k, v in self.headers if k.lower() == lname]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<HttpResponse {self.status} {self.reason} body={len(self.body)}B>"


def parse_response(data, head_request=False, eof=False):
    """Parses one HTTP/1 response from the front of `data`. Returns (HttpResponse, bytes used),
    or None when incomplete. A body without length is complete only at `eof`. 1xx responses are
    returned like any other."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = data[:end].decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    status_text, _, reason = rest.partition(" ")
    status = int(status_text)
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name, value.strip()))
    response = HttpResponse(status, reason, headers, b"", version)
    pos = end + 4
    if head_request or status < 200 or status in (204, 304):
        return response, pos
    te = ",".join(response.header_values("transfer-encoding")).lower()
    if "chunked" in te:
        body = b""
        while True:
            line_end = data.find(b"\r\n", pos)
            if line_end < 0:
                return None
            size = int(data[pos:line_end].split(b";")[0].strip(), 16)
            pos = line_end + 2
            if size == 0:
                trailer_end = data.find(b"\r\n\r\n", pos - 2)
                if trailer_end < 0:
                    return None
                response.body = body
                return response, trailer_end + 4
            if len(data) < pos + size + 2:
                return None
            body += data[pos:pos + size]
            pos += size + 2
    length = response.header("content-length")
    if length is not None:
        n = int(length)
        if len(data) < pos + n:
            return None
        response.body = data[pos:pos + n]
        return response, pos + n
    if not eof:
        return None
    response.body = data[pos:]
    return response, len(data)


def http_request(port, method="GET", path="/", body=None, headers=None, host="127.0.0.1",
                 timeout=10.0):
    """One request on a new connection with http.client. Returns HttpResponse."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return HttpResponse(r.status, r.reason, r.getheaders(), data,
                            "HTTP/1.1" if r.version == 11 else "HTTP/1.0")
    finally:
        conn.close()


def http_get(port, path="/", headers=None, host="127.0.0.1", timeout=10.0):
    return http_request(port, "GET", path, None, headers, host, timeout)


def curl(args, timeout=30.0):
    """Runs curl with `args` (a list); returns CompletedProcess with bytes stdout/stderr."""
    return subprocess.run(["curl", "--silent", "--show-error", "--max-time", str(timeout), *args],
                          capture_output=True, timeout=timeout + 5, stdin=subprocess.DEVNULL)


def curl_http(url, *, method=None, headers=None, data=None, http2_prior_knowledge=False,
              extra_args=(), timeout=30.0):
    """curl one URL; returns HttpResponse built from curl's output (status 0 if curl failed,
    with curl's error in .reason)."""
    args = ["--include", "--output", "-"]
    if method:
        args += ["--request", method]
    for k, v in (headers or {}).items():
        args += ["--header", f"{k}: {v}"]
    if data is not None:
        args += ["--data-binary", "@-"]
    if http2_prior_knowledge:
        args += ["--http2-prior-knowledge"]
    args += [*extra_args, url]
    proc = subprocess.run(["curl", "--silent", "--show-error", "--max-time", str(timeout), *args],
                          capture_output=True, timeout=timeout + 5,
                          input=data if data is not None else None,
                          stdin=None if data is not None else subprocess.DEVNULL)
    if proc.returncode != 0:
        return HttpResponse(0, proc.stderr.decode(errors="replace").strip(), [], proc.stdout)
    out = proc.stdout
    # Skip interim responses (100 Continue) that --include prints before the final one.
    while True:
        end = out.find(b"\r\n\r\n")
        first = out[:end].split(b"\r\n", 1)[0].decode("latin-1")
        parts = first.split(" ", 2)
        status = int(parts[1])
        if 100 <= status < 200 and end >= 0:
            out = out[end + 4:]
            continue
        break
    lines = out[:end].decode("latin-1").split("\r\n")
    headers = [(n, v.strip()) for n, _, v in (line.partition(":") for line in lines[1:])]
    return HttpResponse(status, parts[2] if len(parts) > 2 else "", headers, out[end + 4:],
                        parts[0])


def read_to_clean_eof(sock, timeout=5):
    """Everything until the peer's FIN; a reset (or no FIN within `timeout`) fails the test."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"no FIN within {timeout}s; got {data!r}")
