"""Fake upstreams for integration tests: in-process servers on loopback, port 0, in threads."""

from .base import ThreadedServer, reset_socket
from .http_echo import HttpEchoUpstream, Request, Response, pattern_bytes, sha256_hex
from .tcp import BannerUpstream, TcpEchoUpstream

__all__ = ["ThreadedServer", "reset_socket", "HttpEchoUpstream", "Request", "Response",
           "pattern_bytes", "sha256_hex", "TcpEchoUpstream", "BannerUpstream"]
