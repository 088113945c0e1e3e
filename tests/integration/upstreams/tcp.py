"""Raw TCP upstreams: TcpEchoUpstream (half-close aware echo) and BannerUpstream (server-first)."""

import socket
import time

from .base import ThreadedServer


class TcpEchoUpstream(ThreadedServer):
    """Echoes every byte back. When the client shuts down its write side, the upstream finishes
    echoing what it has and then shuts down its own write side (a clean half-close both ways),
    and waits (bounded) for the client to close before closing the socket.

    Counters: connections_accepted, bytes_received, half_closes (client FINs seen).
    """

    def __init__(self, host="127.0.0.1", port=0, name=None, *, linger_after_fin=5.0):
        super().__init__(host, port, name)
        self.linger_after_fin = linger_after_fin
        self.bytes_received = 0
        self.half_closes = 0
        self._received = {}  # conn_id -> bytearray of everything received on it

    def received(self, conn_id=None):
        """Bytes received on one connection (default: the latest one)."""
        with self._lock:
            if conn_id is None:
                conn_id = max(self._received, default=None)
            return bytes(self._received.get(conn_id, b""))

    def on_accept(self, sock, conn_id):
        """Hook for server-first protocols."""

    def handle_connection(self, sock, conn_id):
        with self._lock:
            self._received[conn_id] = bytearray()
        self.on_accept(sock, conn_id)
        while True:
            data = self.recv_some(sock)
            if data is None:
                return  # stopped
            if not data:
                break
            with self._lock:
                self.bytes_received += len(data)
                self._received[conn_id] += data
            if not self.send_all(sock, data):
                return
        with self._lock:
            self.half_closes += 1
        sock.shutdown(socket.SHUT_WR)
        # Wait for the client's close so our FIN is not followed by an RST for unread data.
        deadline = time.monotonic() + self.linger_after_fin
        while True:
            data = self.recv_some(sock, deadline=deadline)
            if not data:
                return


class BannerUpstream(TcpEchoUpstream):
    """Server-first: sends `banner` as soon as it accepts, then echoes like TcpEchoUpstream.
    A proxy that waits for the client to speak first (protocol sniffing) never shows the banner."""

    def __init__(self, host="127.0.0.1", port=0, name=None, *, banner=b"220 podproxy-test ready\r\n",
                 **kwargs):
        super().__init__(host, port, name, **kwargs)
        self.banner = banner

    def on_accept(self, sock, conn_id):
        self.send_all(sock, self.banner)
