"""TlsAlpnUpstream: a TLS server that speaks HTTP/2 when ALPN chose h2 and HTTP/1.1 otherwise
(python3-h2 on raw sockets, one thread per connection). Every answer is a JSON echo naming the
protocol the upstream spoke, so a test sees through the proxy which one it used.

`alpn`: what the server accepts, in its preference order (["h2", "http/1.1"], or ["http/1.1"]
for a server without HTTP/2; set_alpn() changes it for later connections). An HTTP/1.1 request
whose path ends in "/close" is answered with `connection: close`, and the connection closed.
`handshake_delay`: seconds to wait after accepting before the
handshake, so requests queue in the proxy while its first connection is still connecting."""

import json
import select
import socket
import ssl
import time

import h2.events

from .base import ThreadedServer
from .h2server import h2_server_connection


class TlsAlpnUpstream(ThreadedServer):
    def __init__(self, cert_file, key_file, alpn=("h2", "http/1.1"), handshake_delay=0.0,
                 **kwargs):
        super().__init__(**kwargs)
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert_file, key_file)
        self._context.set_alpn_protocols(list(alpn))
        self.handshake_delay = handshake_delay
        self.negotiated = []  # ALPN per connection, in accept order ("" for none)
        self.requests = []    # (protocol, path, conn_id)
        self.pings = 0        # PINGs received over h2 (answered, by python3-h2)

    def set_alpn(self, alpn):
        self._context.set_alpn_protocols(list(alpn))

    def handle_connection(self, sock, conn_id):
        if self.handshake_delay:
            time.sleep(self.handshake_delay)
        sock.settimeout(5)
        tls = self._context.wrap_socket(sock, server_side=True)
        alpn = tls.selected_alpn_protocol() or ""
        with self._lock:
            self.negotiated.append(alpn)
        tls.settimeout(0.05)
        if alpn == "h2":
            self._serve_h2(tls, conn_id)
        else:
            self._serve_http1(tls, conn_id)

    def _answer(self, protocol, path, conn_id):
        with self._lock:
            self.requests.append((protocol, path, conn_id))
        return json.dumps({"protocol": protocol, "path": path, "connection": conn_id}).encode()

    def _recv(self, tls):
        while not self.stopped:
            if tls.pending() == 0:
                readable, _, _ = select.select([tls], [], [], 0.05)
                if not readable:
                    continue
            try:
                return tls.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except (ssl.SSLError, OSError):
                return b""
        return b""

    def _serve_h2(self, tls, conn_id):
        conn = h2_server_connection(tls)
        paths = {}
        while not self.stopped:
            data = self._recv(tls)
            if not data:
                return
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    paths[event.stream_id] = dict(event.headers)[":path"]
                elif isinstance(event, h2.events.StreamEnded):
                    body = self._answer("h2", paths.pop(event.stream_id), conn_id)
                    conn.send_headers(event.stream_id, [(":status", "200"),
                                                        ("content-type", "application/json"),
                                                        ("content-length", str(len(body)))])
                    conn.send_data(event.stream_id, body, end_stream=True)
                elif isinstance(event, h2.events.PingReceived):
                    with self._lock:
                        self.pings += 1
                elif isinstance(event, h2.events.ConnectionTerminated):
                    return
            out = conn.data_to_send()
            if out:
                tls.sendall(out)

    def _serve_http1(self, tls, conn_id):
        buf = b""
        while not self.stopped:
            while b"\r\n\r\n" not in buf:
                data = self._recv(tls)
                if not data:
                    return
                buf += data
            head, buf = buf.split(b"\r\n\r\n", 1)  # tests send GETs: no bodies
            path = head.split(b"\r\n", 1)[0].split(b" ")[1].decode()
            body = self._answer("http/1.1", path, conn_id)
            close = path.endswith("/close")
            tls.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                        + (b"connection: close\r\n" if close else b"")
                        + b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            if close:
                return
