"""A small HTTP/2 (h2c prior knowledge) test client on python3-h2: frame-level control for flow
control, resets and floods that real clients never do on purpose."""

import socket
import time

import h2.config
import h2.connection
import h2.events
import h2.settings


class H2Stream:
    def __init__(self, stream_id):
        self.id = stream_id
        self.headers = None
        self.informational = []
        self.data = bytearray()
        self.trailers = None
        self.ended = False
        self.reset_code = None

    @property
    def status(self):
        return int(self.headers[":status"]) if self.headers else None


class H2Client:
    """h2c with prior knowledge. `window` is our initial stream window (SETTINGS); with
    auto_ack=False received DATA is not acknowledged (no WINDOW_UPDATE): a reader that stopped."""

    def __init__(self, port, host="127.0.0.1", window=65535, auto_ack=True, timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                           validate_inbound_headers=False)
        self.conn = h2.connection.H2Connection(config=config)
        self.conn.local_settings = h2.settings.Settings(
            client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window,
                                         h2.settings.SettingCodes.ENABLE_PUSH: 0})
        self.conn.initiate_connection()
        self.auto_ack = auto_ack
        self.streams = {}
        self.goaway = None  # (error_code, last_stream_id)
        self.pings = 0  # PINGs the server sent (not ACKs)
        self.closed = False
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path, method="GET", headers=(), body=None, trailers=None,
                authority="example.test", end_stream=None):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", "http"), (":authority", authority),
                (":path", path), *headers]
        if end_stream is None:
            end_stream = body is None and trailers is None
        self.conn.send_headers(sid, hdrs, end_stream=end_stream)
        self.streams[sid] = H2Stream(sid)
        self.flush()
        if body is not None:
            self.send_body(sid, body, end_stream=trailers is None)
        if trailers is not None:
            self.conn.send_headers(sid, list(trailers), end_stream=True)
            self.flush()
        return sid

    def send_body(self, sid, body, end_stream=True, deadline=10.0):
        """Sends within the peer's flow-control windows, reading meanwhile."""
        view = memoryview(body)
        end = time.monotonic() + deadline
        while view:
            window = min(self.conn.local_flow_control_window(sid),
                         self.conn.max_outbound_frame_size)
            if window <= 0:
                if time.monotonic() > end:
                    raise TimeoutError("peer never opened its window")
                self.read_some(0.2)
                continue
            chunk, view = view[:window], view[window:]
            self.conn.send_data(sid, bytes(chunk), end_stream=end_stream and not view)
            self.flush()
        if end_stream and not body:
            self.conn.end_stream(sid)
            self.flush()

    def reset(self, sid, code=8):
        self.conn.reset_stream(sid, error_code=code)
        self.flush()

    def ack(self, sid, n):
        self.conn.acknowledge_received_data(n, sid)
        self.flush()

    def read_some(self, timeout=0.5, answer=True):
        """Reads what arrives within `timeout`; returns the number of bytes read. With
        answer=False nothing goes back (no PING or SETTINGS ACK): a peer that went silent."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 20)
        except (socket.timeout, BlockingIOError):
            return 0
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
            return 0
        for event in self.conn.receive_data(data):
            self._on_event(event)
        if answer:
            self.flush()
        return len(data)

    def _on_event(self, event):
        s = self.streams.get(getattr(event, "stream_id", None))
        if isinstance(event, h2.events.ResponseReceived):
            s.headers = dict(event.headers)
        elif isinstance(event, h2.events.InformationalResponseReceived):
            s.informational.append(dict(event.headers))
        elif isinstance(event, h2.events.DataReceived):
            s.data += event.data
            if self.auto_ack:
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.TrailersReceived):
            s.trailers = dict(event.headers)
        elif isinstance(event, h2.events.StreamEnded):
            s.ended = True
        elif isinstance(event, h2.events.StreamReset):
            if s is not None:
                s.reset_code = event.error_code
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = (event.error_code, event.last_stream_id)
        elif isinstance(event, h2.events.PingReceived):
            self.pings += 1

    def wait(self, predicate, timeout=5.0):
        end = time.monotonic() + timeout
        while not predicate():
            if self.closed or time.monotonic() > end:
                return predicate()
            self.read_some(0.1)
        return True

    def wait_stream(self, sid, timeout=5.0):
        s = self.streams[sid]
        self.wait(lambda: s.ended or s.reset_code is not None or self.goaway is not None,
                  timeout)
        return s

    def send_raw(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
