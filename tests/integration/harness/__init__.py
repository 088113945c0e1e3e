"""Integration-test harness: run the real podproxy between test clients and fake upstreams.
See tests/integration/README.md."""

from .client import (HttpResponse, RawConnection, curl, curl_http, http_get, http_request,
                     parse_response, raw_request, read_to_clean_eof)
from .config import basic_config, bootstrap, cluster, http_listener, route, tcp_listener
from .proxy import Proxy, ProxyError, podproxy_binary, rss_bytes, run_podproxy, write_config
from .wait import unused_port, wait_for_port, wait_until
from .yamlgen import to_yaml

__all__ = ["HttpResponse", "RawConnection", "curl", "curl_http", "http_get", "http_request",
           "parse_response", "raw_request", "read_to_clean_eof", "basic_config", "bootstrap", "cluster",
           "http_listener", "route", "tcp_listener", "Proxy", "ProxyError", "podproxy_binary",
           "rss_bytes", "run_podproxy", "write_config", "unused_port", "wait_for_port",
           "wait_until", "to_yaml"]
