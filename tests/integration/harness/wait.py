"""Bounded waiting: every wait in the harness has a deadline."""

import socket
import time


def wait_until(predicate, timeout=5.0, interval=0.02, message="condition"):
    """Polls predicate() until it returns a truthy value, which is returned.
    Raises TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def wait_for_port(port, host="127.0.0.1", timeout=5.0):
    """Waits until something accepts TCP connections on host:port."""
    def accepting():
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False
    return wait_until(accepting, timeout, 0.05, f"{host}:{port} to accept")


def unused_port(host="127.0.0.1"):
    """A port nothing listens on right now (for "connection refused" endpoints)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
