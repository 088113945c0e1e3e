"""An HTTP/2 cluster whose server sends GOAWAY after a few streams on every connection (python3-h2
on raw sockets): streams in flight when it arrives finish, later ones go to a new connection, and
no client request fails. The GOAWAYs show in the cluster's HTTP/2 metrics."""

import select
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import h2.events
from hyperframe.frame import GoAwayFrame

from harness import bootstrap, cluster, http_get, http_listener
from upstreams.base import ThreadedServer
from upstreams.h2server import h2_server_connection

STREAMS_PER_CONNECTION = 5
ANSWER_DELAY = 0.05  # seconds: requests are in flight when the GOAWAY goes out


class GoawayH2Upstream(ThreadedServer):
    """h2c server: answers GET with its path after ANSWER_DELAY; after STREAMS_PER_CONNECTION
    requests on a connection it sends GOAWAY naming the last of them, ignores later streams,
    answers the ones it accepted, and closes."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.goaways = 0
        self.answered = 0
        self.ignored = 0

    def handle_connection(self, sock, conn_id):
        conn = h2_server_connection(sock)
        paths, pending = {}, {}
        accepted, last_id = 0, None
        while not self.stopped:
            now = time.monotonic()
            for sid, (due, path) in list(pending.items()):
                if due <= now:
                    body = path.encode()
                    conn.send_headers(sid, [(":status", "200"),
                                            ("content-length", str(len(body)))])
                    conn.send_data(sid, body, end_stream=True)
                    del pending[sid]
                    with self._lock:
                        self.answered += 1
            sock.sendall(conn.data_to_send())
            if last_id is not None and not pending:
                return  # every accepted stream answered: close, as servers do after GOAWAY
            readable, _, _ = select.select([sock], [], [], 0.01)
            if not readable:
                continue
            data = sock.recv(65536)
            if not data:
                return
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    paths[event.stream_id] = dict(event.headers)[":path"]
                elif isinstance(event, h2.events.StreamEnded):
                    if last_id is not None and event.stream_id > last_id:
                        with self._lock:
                            self.ignored += 1  # beyond the GOAWAY: the client retries it
                        continue
                    accepted += 1
                    pending[event.stream_id] = (now + ANSWER_DELAY, paths[event.stream_id])
                    if accepted == STREAMS_PER_CONNECTION:
                        last_id = event.stream_id
                        # h2 refuses to send anything after its own GOAWAY, so it goes out as a
                        # raw frame: the streams up to last_id are still answered.
                        sock.sendall(conn.data_to_send())
                        sock.sendall(GoAwayFrame(0, last_stream_id=last_id,
                                                 error_code=0).serialize())
                        with self._lock:
                            self.goaways += 1


def test_upstream_goaway_drains_connections_without_failing_requests(make_proxy):
    upstream = GoawayH2Upstream().start()
    try:
        proxy = make_proxy(bootstrap([http_listener("ingress", "h2", timeout="10s")],
                                     [cluster("h2", [upstream], protocol="http2")]))
        port = proxy.port("ingress")
        lock = threading.Lock()
        failures = []

        def client(n):
            for i in range(6):
                path = f"/c{n}/r{i}"
                r = http_get(port, path)
                if r.status != 200 or r.body != path.encode():
                    with lock:
                        failures.append((path, r.status, r.body[:200]))

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(client, range(8)))

        assert failures == []
        assert upstream.answered == 48
        # 48 requests, at most 5 per connection: many connections. A connection the pool opened
        # while another was still full may close with fewer than 5 streams and no GOAWAY, so
        # only "GOAWAYs happened" is certain; each one must have been drained without a failure.
        assert upstream.connections_accepted >= 48 // STREAMS_PER_CONNECTION
        assert upstream.goaways >= 1
        received = proxy.metric("podproxy_upstream_http2_goaway_total",
                          'cluster="h2",direction="received"')
        assert received == upstream.goaways
        assert proxy.metric("podproxy_upstream_http2_streams_total", 'cluster="h2"') >= 48
        assert proxy.metric("podproxy_local_replies_total",
                      'listener="ingress",response_flags="UR"') == 0
        assert proxy.stop() == 0
    finally:
        upstream.stop()
