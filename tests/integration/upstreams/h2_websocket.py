"""H2WebSocketUpstream: an HTTP/2 server (python3-h2 on raw sockets, h2c or TLS with ALPN h2) that
takes WebSockets as RFC 8441 extended CONNECTs, for tests of tunnels towards HTTP/2 upstreams.

`enable_connect_protocol`: whether its SETTINGS say SETTINGS_ENABLE_CONNECT_PROTOCOL=1 (without
it, python3-h2 itself refuses a `:protocol`). `withhold_settings`: it reads what comes and never
sends a byte, not even its SETTINGS (`received`: the bytes it read). `tls`: (cert_file, key_file) to speak h2 over TLS
(ALPN h2 only). Extended CONNECTs, by `:path`:
  /echo         200, then every WebSocket frame is sent back (unmasked); the client's END_STREAM
                is answered with END_STREAM.
  /stream/<n>   200, then <n> bytes in 64 KiB binary frames, within the flow-control windows
                (so a reader that stops stops it), a Close frame and END_STREAM. `streamed`
                counts the bytes sent so far.
  /refuse       403 with a short body (the upgrade is refused).
Every request's header block is kept in `requests` as a dict (pseudo-headers included), and the
ALPN of each TLS connection in `negotiated`.
"""

import select
import socket
import ssl
import struct

import h2.events
import h2.exceptions
import h2.settings

from .base import ThreadedServer
from .h2server import h2_server_connection
from .websocket import OP_BINARY, OP_CLOSE, FrameReader, encode_frame

FRAME_CHUNK = 64 * 1024


class H2WebSocketUpstream(ThreadedServer):
    def __init__(self, enable_connect_protocol=True, withhold_settings=False, tls=None, **kwargs):
        super().__init__(**kwargs)
        self.enable_connect_protocol = enable_connect_protocol
        self.withhold_settings = withhold_settings
        self.received = bytearray()
        self.requests = []
        self.negotiated = []
        self.streamed = 0
        self.client_end_streams = 0  # tunnels whose client sent END_STREAM
        self._context = None
        if tls is not None:
            self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._context.load_cert_chain(*tls)
            self._context.set_alpn_protocols(["h2"])

    def handle_connection(self, sock, conn_id):
        if self._context is not None:
            sock.settimeout(5)
            sock = self._context.wrap_socket(sock, server_side=True)
            with self._lock:
                self.negotiated.append(sock.selected_alpn_protocol() or "")
        sock.settimeout(0.05)
        if self.withhold_settings:
            while (data := self.recv_some(sock)):
                with self._lock:
                    self.received += data
            return
        conn = h2_server_connection(sock, {h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL:
                                           1 if self.enable_connect_protocol else 0})
        _Connection(self, sock, conn).run()


class _Connection:
    def __init__(self, server, sock, conn):
        self.server, self.sock, self.conn = server, sock, conn
        self.echo = {}     # stream id -> FrameReader of the client's bytes
        self.stream = {}   # stream id -> bytes still to send
        self.closing = set()  # /stream ids whose Close frame and END_STREAM are due
        self.out = {}      # stream id -> [echo bytes waiting for the window, END_STREAM after]

    def run(self):
        while not self.server.stopped:
            self.pump_streams()
            out = self.conn.data_to_send()
            if out and not self.server.send_all(self.sock, out):
                return
            if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
                readable = True
            else:
                readable = select.select([self.sock], [], [], 0.05)[0]
            if not readable:
                continue
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except (ssl.SSLError, OSError):
                return
            if not data:
                return
            try:
                events = self.conn.receive_data(data)
            except h2.exceptions.ProtocolError:
                self.server.send_all(self.sock, self.conn.data_to_send())
                return
            for event in events:
                if isinstance(event, h2.events.ConnectionTerminated):
                    return
                self.on_event(event)

    def on_event(self, event):
        if isinstance(event, h2.events.RequestReceived):
            headers = dict(event.headers)
            with self.server._lock:
                self.server.requests.append(headers)
            self.on_request(event.stream_id, headers)
        elif isinstance(event, h2.events.DataReceived):
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            reader = self.echo.get(event.stream_id)
            if reader is None:
                return
            reader.feed(event.data)
            pending = self.out.setdefault(event.stream_id, [bytearray(), False])
            while (frame := reader.read_frame()) is not None:
                opcode, payload, _masked = frame
                pending[0] += encode_frame(opcode, payload, mask=False)
        elif isinstance(event, h2.events.StreamEnded):
            with self.server._lock:
                self.server.client_end_streams += 1
            if event.stream_id in self.echo:
                del self.echo[event.stream_id]
                self.out.setdefault(event.stream_id, [bytearray(), False])[1] = True

    def on_request(self, sid, headers):
        path = headers.get(":path", "")
        if headers.get(":method") != "CONNECT" or path == "/refuse":
            body = b"no websocket here\n"
            self.conn.send_headers(sid, [(":status", "403"), ("content-length", str(len(body)))])
            self.conn.send_data(sid, body, end_stream=True)
            return
        self.conn.send_headers(sid, [(":status", "200")])
        if path.startswith("/stream/"):
            self.stream[sid] = int(path.rsplit("/", 1)[1])
        else:
            self.echo[sid] = FrameReader(lambda: b"")

    def pump_streams(self):
        for sid, pending in list(self.out.items()):
            data, end = pending
            while data:
                n = min(len(data), self.conn.local_flow_control_window(sid),
                        self.conn.max_outbound_frame_size)
                if n <= 0:
                    break
                self.conn.send_data(sid, bytes(data[:n]))
                del data[:n]
            if not data and end:
                self.conn.end_stream(sid)
                del self.out[sid]
        chunk = bytes(range(256)) * 256  # 64 KiB, as upstreams/websocket.py sends
        for sid in list(self.stream):
            left = self.stream[sid]
            while left > 0:
                n = min(FRAME_CHUNK, left)
                frame = encode_frame(OP_BINARY, chunk[:n], mask=False)
                if self.conn.local_flow_control_window(sid) < len(frame):
                    break  # the peer's window: wait for its WINDOW_UPDATE
                for off in range(0, len(frame), self.conn.max_outbound_frame_size):
                    self.conn.send_data(sid, frame[off:off + self.conn.max_outbound_frame_size])
                left -= n
                with self.server._lock:
                    self.server.streamed += n
                out = self.conn.data_to_send()
                if out and not self.server.send_all(self.sock, out):
                    return
            self.stream[sid] = left
            if left == 0:
                del self.stream[sid]
                self.closing.add(sid)
        for sid in list(self.closing):
            close = encode_frame(OP_CLOSE, struct.pack("!H", 1000), mask=False)
            if self.conn.local_flow_control_window(sid) < len(close):
                continue
            self.conn.send_data(sid, close, end_stream=True)
            self.closing.discard(sid)
