"""A minimal RFC 6455 WebSocket server and client on raw sockets, for tunnel tests.

WebSocketUpstream answers an HTTP/1.1 request per connection, by path:
  /echo          101, then every data frame is sent back; a Close frame is answered and the
                 connection closed.
  /stream/<n>    101, then <n> bytes in 64 KiB binary frames (as fast as the peer reads), a Close
                 frame, and the connection closed.
  /refuse        400 with a short body and Content-Length (the upgrade is refused).
  /until-eof     101, then it reads until the client's FIN, answers with one text frame saying
                 how many payload bytes arrived, and closes.
  /bye-then-read 101, then the raw bytes "bye" and a half-close (SHUT_WR) at once; then it reads
                 until the client's FIN and puts (raw bytes read, whether the FIN came) on
                 `after_bye` (a queue) before closing.
  /reset-after-101  101, then it waits for the client's first bytes and resets the connection
                 (SO_LINGER 0: an RST, not a FIN) while the client is still sending.
  /bye-then-reset   the same, after sending "bye" and a half-close (SHUT_WR) first.
  /wrong-accept  101 with a Sec-WebSocket-Accept that does not answer the key; then it closes.
  anything else  (or a request without Upgrade) 200 with "upgrade=<Upgrade header or none>".
Every request head is kept in `requests` as (path, {lower-case name: value}).
"""

import base64
import hashlib
import os
import queue
import socket
import struct
import threading
import time

from .base import ThreadedServer, reset_socket

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_TEXT, OP_BINARY, OP_CLOSE = 0x1, 0x2, 0x8


def accept_key(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def encode_frame(opcode, payload, mask):
    head = bytes([0x80 | opcode])
    mask_bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head += bytes([mask_bit | n])
    elif n < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + _unmask(key, payload)


def _unmask(key, payload):
    # XOR by whole 4-byte words through int arithmetic: fast enough for a few MiB.
    n = len(payload)
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


class FrameReader:
    """Parses frames out of a byte stream fed by `recv` (returns b"" on EOF, None to give up)."""

    def __init__(self, recv):
        self._recv = recv
        self._buf = bytearray()

    def feed(self, data):
        self._buf += data

    def _need(self, n):
        while len(self._buf) < n:
            data = self._recv()
            if not data:
                return False
            self._buf += data
        return True

    def read_frame(self):
        """(opcode, payload, masked) or None on EOF."""
        if not self._need(2):
            return None
        b0, b1 = self._buf[0], self._buf[1]
        masked = bool(b1 & 0x80)
        n = b1 & 0x7F
        pos = 2
        if n == 126:
            if not self._need(4):
                return None
            n = struct.unpack("!H", self._buf[2:4])[0]
            pos = 4
        elif n == 127:
            if not self._need(10):
                return None
            n = struct.unpack("!Q", self._buf[2:10])[0]
            pos = 10
        key = b""
        if masked:
            if not self._need(pos + 4):
                return None
            key = bytes(self._buf[pos:pos + 4])
            pos += 4
        if not self._need(pos + n):
            return None
        payload = bytes(self._buf[pos:pos + n])
        del self._buf[:pos + n]
        if masked:
            payload = _unmask(key, payload)
        return b0 & 0x0F, payload, masked


def read_head(recv, buf=b""):
    """Reads an HTTP head; returns (head_text, rest_bytes) or (None, buf) on EOF."""
    while b"\r\n\r\n" not in buf:
        data = recv()
        if not data:
            return None, buf
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head.decode("latin-1"), rest


def parse_headers(lines):
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers


class WebSocketUpstream(ThreadedServer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.requests = []
        self.streamed = {}  # conn_id -> bytes sent by /stream so far
        self.eof_seen = threading.Event()
        self.closed_by_peer = threading.Event()
        self.after_bye = queue.Queue()  # /bye-then-read: (bytes read after the 101, FIN seen)
        self.resets = 0  # /reset-after-101 connections reset

    def handle_connection(self, sock, conn_id):
        recv = lambda: self.recv_some(sock)  # noqa: E731
        head, rest = read_head(recv)
        if head is None:
            return
        lines = head.split("\r\n")
        _method, target, _version = lines[0].split(" ", 2)
        headers = parse_headers(lines[1:])
        with self._lock:
            self.requests.append((target, headers))
        upgrade = headers.get("upgrade")
        if target == "/refuse":
            body = b"no websocket here\n"
            self.send_all(sock, b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\n"
                          b"content-length: %d\r\n\r\n%s" % (len(body), body))
            self._drain_until_eof(sock)
            return
        if upgrade is None or upgrade.lower() != "websocket":
            body = f"upgrade={upgrade or 'none'}\n".encode()
            self.send_all(sock, b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s"
                          % (len(body), body))
            self._drain_until_eof(sock)
            return
        accept = accept_key(headers["sec-websocket-key"])
        if target == "/wrong-accept":
            accept = accept_key("not the key it was sent")
        self.send_all(sock, ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                             f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
                             ).encode())
        frames = FrameReader(recv)
        frames.feed(rest)
        if target == "/echo":
            self._echo(sock, frames)
        elif target.startswith("/stream/"):
            self._stream(sock, conn_id, int(target.rsplit("/", 1)[1]))
        elif target == "/until-eof":
            total = 0
            while (frame := frames.read_frame()) is not None:
                total += len(frame[1])
            self.eof_seen.set()
            self.send_all(sock, encode_frame(OP_TEXT, f"got {total}".encode(), mask=False))
            sock.shutdown(socket.SHUT_WR)
            self._drain_until_eof(sock)
        elif target == "/bye-then-read":
            self.send_all(sock, b"bye")
            sock.shutdown(socket.SHUT_WR)
            data, eof = bytearray(rest), False
            deadline = time.monotonic() + 10
            while (chunk := self.recv_some(sock, deadline=deadline)) is not None:
                if not chunk:
                    eof = True
                    break
                data += chunk
            self.after_bye.put((bytes(data), eof))
        elif target in ("/reset-after-101", "/bye-then-reset"):
            if target == "/bye-then-reset":
                self.send_all(sock, b"bye")
                sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + 10
            while not rest and (chunk := self.recv_some(sock, deadline=deadline)):
                rest = chunk
            with self._lock:
                self.resets += 1
            reset_socket(sock)

    def _echo(self, sock, frames):
        while True:
            frame = frames.read_frame()
            if frame is None:
                self.closed_by_peer.set()
                return
            opcode, payload, masked = frame
            assert masked, "client frames must be masked"
            self.send_all(sock, encode_frame(opcode, payload, mask=False))
            if opcode == OP_CLOSE:
                return

    def _stream(self, sock, conn_id, total):
        chunk = bytes(range(256)) * 256  # 64 KiB
        sent = 0
        while sent < total and not self.stopped:
            n = min(len(chunk), total - sent)
            if not self.send_all(sock, encode_frame(OP_BINARY, chunk[:n], mask=False)):
                return
            sent += n
            self.streamed[conn_id] = sent
        self.send_all(sock, encode_frame(OP_CLOSE, struct.pack("!H", 1000), mask=False))

    def _drain_until_eof(self, sock, seconds=5):
        deadline = time.monotonic() + seconds
        while (data := self.recv_some(sock, deadline=deadline)):
            pass


class WebSocketClient:
    """A client connection: handshake on connect, masked frames out, frames in."""

    def __init__(self, port, path="/echo", host="127.0.0.1", extra_headers="", timeout=10,
                 rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.settimeout(timeout)
        if rcvbuf is not None:
            # Before connecting, so the window is small from the start (a slow reader).
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect((host, port))
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: ws.local\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                           f"Sec-WebSocket-Key: {self.key}\r\n{extra_headers}\r\n").encode())
        head, rest = read_head(self._recv)
        if head is None:
            raise ConnectionError("closed before the handshake answer")
        lines = head.split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        self.headers = parse_headers(lines[1:])
        self.rest = rest  # the body of a refused upgrade starts here
        self.frames = FrameReader(self._recv)
        if self.status == 101:
            self.frames.feed(rest)

    def _recv(self):
        try:
            return self.sock.recv(65536)
        except ConnectionResetError:
            return b""

    def accepted(self):
        return (self.status == 101 and self.headers.get("upgrade", "").lower() == "websocket"
                and self.headers.get("sec-websocket-accept") == accept_key(self.key))

    def send(self, payload, opcode=OP_TEXT):
        self.sock.sendall(encode_frame(opcode, payload, mask=True))

    def recv_frame(self):
        return self.frames.read_frame()

    def close(self):
        self.sock.close()
