"""An Upgrade tunnel behind a TLS listener, half-closed from each side. Over TLS a half-close is
a close_notify followed by a FIN: the client drives its TLS by hand (ssl.SSLObject on memory
BIOs) so it can send its close_notify and FIN and still read the answer, and see the proxy's
close_notify arrive before the proxy's FIN."""

import os
import socket
import ssl
import time

import pytest

from harness import bootstrap, cluster, http_listener, route, wait_until
from harness.tls import Certs
from upstreams.websocket import OP_BINARY, OP_TEXT, FrameReader, encode_frame, read_head

TIMEOUT = 5


@pytest.fixture
def certs(tmp_path):
    c = Certs(tmp_path / "certs")
    c.make("server")
    return c


def tls_ws_config(certs, upstream):
    listener = http_listener("ingress", routes=[
        route("/", "backend", "5s", name="ws", upgrade_types=["websocket"])])
    listener["tls"] = {"certificates": [certs.cert("server")]}
    return bootstrap([listener], [cluster("backend", [upstream])])


class ManualTlsClient:
    """TLS over a plain socket with the record layer in our hands: close_notify and FIN are
    separate steps, and reading goes on after our own close_notify."""

    def __init__(self, port, ca_file):
        context = ssl.create_default_context(cafile=ca_file)
        context.check_hostname = False
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_side=False)
        self.peer_fin = False
        self.peer_close_notify = False
        self._retry(self.tls.do_handshake)

    def _flush(self):
        data = self.outgoing.read()
        if data:
            self.sock.sendall(data)

    def _pump(self):
        """Moves one read's worth of ciphertext in; False at the peer's FIN."""
        self.sock.settimeout(TIMEOUT)
        data = self.sock.recv(65536)
        if not data:
            self.peer_fin = True
            self.incoming.write_eof()
            return False
        self.incoming.write(data)
        return True

    def _retry(self, step):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                result = step()
                self._flush()
                return result
            except ssl.SSLWantReadError:
                self._flush()
                if not self._pump():
                    raise ConnectionError("FIN during the TLS exchange")
        raise TimeoutError("TLS step did not finish")

    def send(self, data):
        self.tls.write(data)
        self._flush()

    def recv(self, n=65536):
        """Plaintext; b"" once the peer's close_notify arrived."""
        if self.peer_close_notify:
            return b""
        try:
            return self._retry(lambda: self.tls.read(n))
        except ssl.SSLZeroReturnError:
            self.peer_close_notify = True
            return b""

    def wait_for_fin(self):
        """True once the peer's FIN arrived, with no bytes before it."""
        return not self._pump() and self.peer_fin

    def send_close_notify_and_fin(self):
        try:
            self.tls.unwrap()  # writes our close_notify; the peer's has not come yet
        except ssl.SSLWantReadError:
            pass
        self._flush()
        self.sock.shutdown(socket.SHUT_WR)

    def read_to_close_notify(self):
        data = b""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            chunk = self.recv()
            if not chunk:
                return data
            data += chunk
        raise AssertionError(f"no close_notify within {TIMEOUT}s; got {data!r}")

    def close(self):
        self.sock.close()


def upgrade(client, path):
    client.send(f"GET {path} HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n".encode())
    head, rest = read_head(client.recv)
    assert head is not None, "no response head"
    return int(head.split()[1]), rest


def open_fds(proxy):
    return len(os.listdir(f"/proc/{proxy.pid}/fd"))


def test_client_close_notify_reaches_the_upstream_as_a_fin_and_the_answer_still_arrives(
        make_proxy, ws_upstream, certs):
    proxy = make_proxy(tls_ws_config(certs, ws_upstream))
    fds_before = open_fds(proxy)
    client = ManualTlsClient(proxy.port("ingress"), certs.file("server", "ca.pem"))
    status, rest = upgrade(client, "/until-eof")
    assert status == 101 and rest == b""
    sent = 0
    for n in (10, 1000, 70000):
        frame = encode_frame(OP_BINARY, b"a" * n, mask=True)
        client.send(frame)
        sent += len(frame)
    client.send_close_notify_and_fin()
    assert ws_upstream.eof_seen.wait(TIMEOUT), "the client's close_notify did not reach the upstream"
    # Written after the client's close_notify: TLS still carries it, then the proxy's own
    # close_notify and FIN follow the upstream's FIN.
    answer = client.read_to_close_notify()
    reader = FrameReader(lambda: b"")
    reader.feed(answer)
    assert reader.read_frame() == (OP_TEXT, b"got 71010", False)
    assert client.peer_close_notify
    assert client.wait_for_fin()
    client.close()
    wait_until(lambda: open_fds(proxy) == fds_before, timeout=TIMEOUT)


def test_upstream_fin_becomes_a_close_notify_and_the_client_may_still_send(make_proxy,
                                                                          ws_upstream, certs):
    proxy = make_proxy(tls_ws_config(certs, ws_upstream))
    fds_before = open_fds(proxy)
    client = ManualTlsClient(proxy.port("ingress"), certs.file("server", "ca.pem"))
    status, rest = upgrade(client, "/bye-then-read")
    assert status == 101
    # "bye" and then the upstream's half-close, passed on as a close_notify; the TCP
    # connection stays open for the client's last words.
    assert rest + client.read_to_close_notify() == b"bye"
    assert not client.peer_fin
    client.send(b"last ")
    client.send(b"words")
    client.send_close_notify_and_fin()
    assert ws_upstream.after_bye.get(timeout=TIMEOUT) == (b"last words", True)
    assert client.wait_for_fin()
    client.close()
    wait_until(lambda: open_fds(proxy) == fds_before, timeout=TIMEOUT)
