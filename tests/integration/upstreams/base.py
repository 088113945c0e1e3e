"""A threaded TCP server on loopback that every fake upstream builds on.

One daemon thread accepts; each accepted connection gets its own daemon thread running
`handle_connection(sock, conn_id)`. Everything polls a stop event with short socket timeouts, so
`stop()` always returns within a bounded time and leaves no thread behind.
"""

import socket
import struct
import threading
import time

POLL_INTERVAL = 0.05  # seconds between checks of the stop event while blocked on a socket


class ThreadedServer:
    """Base class: subclasses implement handle_connection(sock, conn_id)."""

    def __init__(self, host="127.0.0.1", port=0, name=None, backlog=128):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.host = host
        self._listen = socket.socket(family, socket.SOCK_STREAM)
        self._listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listen.bind((host, port))
        self._listen.listen(backlog)
        self._listen.settimeout(POLL_INTERVAL)
        self.port = self._listen.getsockname()[1]
        self.name = name or f"{type(self).__name__}-{self.port}"
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = []
        self._conns = {}  # conn_id -> socket, while the connection is open
        self.connections_accepted = 0
        self.connections_closed = 0
        self._acceptor = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self):
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"{self.name}-accept",
                                          daemon=True)
        self._acceptor.start()
        return self

    def stop(self, timeout=5.0):
        """Stops accepting, closes every open connection and joins all threads (bounded)."""
        self._stop.set()
        try:
            self._listen.close()
        except OSError:
            pass
        with self._lock:
            conns = list(self._conns.values())
            threads = list(self._threads)
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for t in [self._acceptor, *threads]:
            if t is not None:
                t.join(max(0.0, deadline - time.monotonic()))

    @property
    def stopped(self):
        return self._stop.is_set()

    @property
    def address(self):
        """"host:port" as written in a cluster's endpoints."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def open_connections(self):
        with self._lock:
            return len(self._conns)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- internals ---------------------------------------------------------------------------

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                sock, _ = self._listen.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            sock.settimeout(POLL_INTERVAL)
            # A response goes out as several sends (head, then body): with Nagle on, each later
            # send waits for the ACK the proxy delays by 40 ms on a keep-alive connection.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections_accepted += 1
                conn_id = self.connections_accepted
                self._conns[conn_id] = sock
                t = threading.Thread(target=self._run_connection, args=(sock, conn_id),
                                     name=f"{self.name}-conn{conn_id}", daemon=True)
                self._threads.append(t)
                # Forget finished threads so a long test does not keep thousands around.
                self._threads = [x for x in self._threads if x.is_alive() or x is t]
            t.start()

    def _run_connection(self, sock, conn_id):
        try:
            self.handle_connection(sock, conn_id)
        except OSError:
            pass  # the peer went away: nothing to report
        finally:
            with self._lock:
                self._conns.pop(conn_id, None)
                self.connections_closed += 1
            try:
                sock.close()
            except OSError:
                pass

    def handle_connection(self, sock, conn_id):
        raise NotImplementedError

    # -- helpers for subclasses ---------------------------------------------------------------

    def recv_some(self, sock, size=65536, deadline=None):
        """Returns bytes (b"" on EOF), or None when stopped or past the deadline."""
        while not self._stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                return None
            try:
                return sock.recv(size)
            except socket.timeout:
                continue
        return None

    def send_all(self, sock, data):
        """sendall that gives up when the server stops (a stuck peer cannot hang a test)."""
        view = memoryview(data)
        while view and not self._stop.is_set():
            try:
                n = sock.send(view)
            except socket.timeout:
                continue
            view = view[n:]
        return not view

    def sleep(self, seconds):
        """Sleeps unless the server is stopped first. Returns False when stopped."""
        return not self._stop.wait(seconds)


def reset_socket(sock):
    """Closes with SO_LINGER 0 so the peer sees a TCP RST instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
