"""Backpressure through an echo: a client writes into a proxied connection whose echo it does
not read, so every buffer on the way fills and the writes must stall; then it reads it all."""

import threading
import time

from .proxy import rss_bytes
from .wait import wait_until


def echo_with_a_stalled_reader(sock, pid, payload, timeout=60):
    """Sends `payload` from a thread while nobody reads, until the writer stalls (15 s at most);
    then reads the echo back. Returns (bytes the writer got rid of before stalling, the echo,
    the peak RSS of process `pid` seen meanwhile)."""
    sent = [0]

    def send():
        view = memoryview(payload)
        try:
            while view:
                n = sock.send(view[:256 * 1024])
                view = view[n:]
                sent[0] += n
        except OSError:
            pass

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    last = [-1]

    def stalled():
        before, last[0] = last[0], sent[0]
        return before == last[0]
    wait_until(stalled, timeout=15, interval=0.5, message="the writer to stall")
    stalled_at = last[0]
    peak = rss_bytes(pid)
    echoed = bytearray()
    deadline = time.monotonic() + timeout
    sock.settimeout(5)
    while len(echoed) < len(payload) and time.monotonic() < deadline:
        chunk = sock.recv(256 * 1024)
        if not chunk:
            break
        echoed += chunk
        if len(echoed) % (4 * 1024 * 1024) < 256 * 1024:
            peak = max(peak, rss_bytes(pid))
    sender.join(10)
    return stalled_at, bytes(echoed), peak
