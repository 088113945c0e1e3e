"""The sidecar in a Pod built from network namespaces, with podproxy-init's rules installed.

Every test runs twice: with the stand-in relay (verifies namespaces and iptables rules alone)
and with the real `podproxy sidecar`.

How each test proves the traffic went through the sidecar (a bypass must make it fail):
- The pod's nat counters (`iptables-save -c`): nat rules see only the first packet of each
  connection, so the REDIRECT rules' packet counts are the number of connections captured,
  and the uid-1337 RETURN rule's count is the number of the proxy's own connections that
  were exempted. A bypassed call leaves the REDIRECT counters unchanged; a loop (the proxy's
  upstream connection captured again) adds a second REDIRECT.
- Peer addresses: the app sees the client's address when reached directly, and 127.0.0.1 when
  reached through the inbound listener (inbound target "loopback").
- Addresses that exist nowhere (Service VIPs): only the sidecar can answer them.
- Timing: a server-first banner behind protocol detection arrives only after the detection
  window; on a declared TCP port it arrives at once.
- podproxy's own counters (admin /stats): the listener that handled the call, and the
  protocol detection outcome (checked with the real binary only; the relay has none).
- Finally the sidecar is stopped and the same captured calls fail while excluded ones still work.
"""

import time

import pytest

import netns
from netns import (APP_EXCLUDED_PORT, APP_LOCALHOST_ONLY_PORT, APP_POD_IP_ONLY_PORT, APP_PORT,
                   SERVER_BANNER_PORT, SERVER_DECLARED_BANNER_PORT, SERVER_DECLARED_HTTP_PORT,
                   SERVER_EXCLUDED_PORT, SERVER_HTTP_PORT, VIP, VIP6, VIP_PORT)
from podtest import Captures, ProxyStats, banner, counts, curl, url

DETECTION_TIMEOUT = 0.1  # the sidecar config's capture.detection_timeout (default 100ms)


# --- inbound --------------------------------------------------------------------------------


def test_client_reaches_app_through_inbound_listener(pod, sidecar):
    c, s = Captures(pod), ProxyStats(sidecar)
    status, echo, err = curl(pod, pod.client, url(netns.POD_CLIENT_SIDE_IP, APP_PORT, "/in"))
    assert status == 200, f"curl failed: {err}\n{sidecar.tail()}"
    assert echo["path"] == "/in"
    # Reached directly, the app would see the client (10.200.1.1); through the inbound listener
    # with inbound target "loopback" it sees the sidecar's connection from 127.0.0.1.
    assert echo["peer"].startswith("127.0.0.1:"), echo
    # One inbound capture (PREROUTING), and the sidecar's connection to the app exempted once.
    assert c.delta() == counts(inbound=1, proxy_exempt=1)
    if sidecar.kind == "podproxy":
        assert s.delta("http.inbound.downstream_cx_total",
                       "listener.inbound.protocol_detection.http1") == {
            "http.inbound.downstream_cx_total": 1,
            "listener.inbound.protocol_detection.http1": 1}


def test_excluded_inbound_port_reaches_app_directly(pod, sidecar):
    c, s = Captures(pod), ProxyStats(sidecar)
    status, echo, err = curl(pod, pod.client,
                             url(netns.POD_CLIENT_SIDE_IP, APP_EXCLUDED_PORT, "/direct"))
    assert status == 200, err
    # -d 9091: not captured, so the app sees the client's own address.
    assert echo["peer"].startswith(f"{netns.CLIENT_IP}:"), echo
    assert c.delta() == counts()
    if sidecar.kind == "podproxy":
        assert s.delta("http.inbound.downstream_cx_total", "tcp.inbound.cx_total") == {
            "http.inbound.downstream_cx_total": 0, "tcp.inbound.cx_total": 0}


def test_inbound_loopback_reaches_app_listening_on_localhost_only(pod, sidecar):
    # Without the sidecar the client could never reach a socket bound to 127.0.0.1 in the pod:
    # inbound target "loopback" forwards there (the exposure README's section warns about).
    status, echo, err = curl(pod, pod.client,
                             url(netns.POD_CLIENT_SIDE_IP, APP_LOCALHOST_ONLY_PORT, "/lo"))
    assert status == 200, f"curl failed: {err}\n{sidecar.tail()}"
    assert echo["local"] == f"127.0.0.1:{APP_LOCALHOST_ONLY_PORT}"


def test_inbound_loopback_cannot_reach_app_listening_on_pod_ip_only(pod, sidecar):
    c = Captures(pod)
    status, _, _ = curl(pod, pod.client,
                        url(netns.POD_CLIENT_SIDE_IP, APP_POD_IP_ONLY_PORT, "/podip"), timeout=3)
    # Captured, then refused at 127.0.0.1:8083: that app needs inbound target "original".
    assert status != 200
    assert c.delta()["inbound"] == 1


def test_health_and_metrics_ports_are_served_uncaptured(pod, sidecar):
    if sidecar.kind != "podproxy":
        pytest.skip("the stand-in relay serves no health or metrics port")
    c = Captures(pod)
    # The kubelet probes 15021 and Prometheus scrapes 15090 on the Pod IP: podproxy-init always
    # excludes them, so they reach podproxy's own servers, not the inbound listener.
    status, _, err = curl(pod, pod.client, url(netns.POD_CLIENT_SIDE_IP, 15021, "/healthz/ready"))
    assert status == 200, err
    r = pod.exec(pod.client, "curl", "-sS", "--max-time", "5",
                 url(netns.POD_CLIENT_SIDE_IP, 15090, "/stats/prometheus"))
    assert "# TYPE" in r.stdout, r.stdout[:500]
    assert c.delta() == counts()


# --- outbound -------------------------------------------------------------------------------


def test_outbound_passthrough_is_captured_once_and_forwarded(pod, sidecar):
    c, s = Captures(pod), ProxyStats(sidecar)
    mark = sidecar.log_mark()
    status, echo, err = curl(pod, pod.pod, url(netns.SERVER_IP, SERVER_HTTP_PORT, "/out"))
    assert status == 200, f"curl failed: {err}\n{sidecar.tail()}"
    assert echo["path"] == "/out"
    assert echo["local"] == f"{netns.SERVER_IP}:{SERVER_HTTP_PORT}"
    # Captured exactly once; the sidecar's own upstream connection was exempted by uid, not
    # captured again (a loop would show outbound == 2 and the call would fail).
    assert c.delta() == counts(outbound=1, proxy_exempt=1)
    if sidecar.kind == "podproxy":
        # Detected as HTTP/1 and handled by the HTTP chain: exactly one downstream connection
        # (no second one from a loop), and the request carries the id podproxy generated.
        assert s.delta("http.outbound.downstream_cx_total",
                       "listener.outbound.protocol_detection.http1") == {
            "http.outbound.downstream_cx_total": 1,
            "listener.outbound.protocol_detection.http1": 1}
        assert any(k == "x-request-id" for k, _ in echo["headers"]), echo["raw"]
    conns = sidecar.connections(mark, listener="outbound")
    if conns is not None:
        assert [e["original_dst"] for e in conns] == [f"{netns.SERVER_IP}:{SERVER_HTTP_PORT}"]


def test_outbound_to_service_vip_is_routed_to_cluster(pod, sidecar):
    c, s = Captures(pod), ProxyStats(sidecar)
    # 10.96.0.10 exists nowhere: only a sidecar that maps the VIP to the cluster's endpoint
    # (the server) can answer.
    status, echo, err = curl(pod, pod.pod, url(VIP, VIP_PORT, "/vip"))
    assert status == 200, f"curl failed: {err}\n{sidecar.tail()}"
    assert echo["path"] == "/vip"
    assert echo["local"] == f"{netns.SERVER_IP}:{SERVER_HTTP_PORT}"
    assert c.delta() == counts(outbound=1, proxy_exempt=1)
    if sidecar.kind == "podproxy":
        assert s.delta("http.outbound.downstream_cx_total") == {
            "http.outbound.downstream_cx_total": 1}


def test_excluded_outbound_port_is_not_captured(pod, sidecar):
    c, s = Captures(pod), ProxyStats(sidecar)
    mark = sidecar.log_mark()
    status, echo, err = curl(pod, pod.pod, url(netns.SERVER_IP, SERVER_EXCLUDED_PORT, "/x"))
    assert status == 200, err
    # -o 9090: neither captured nor seen by the sidecar.
    assert c.delta() == counts()
    assert sidecar.connections(mark) in (None, [])
    if sidecar.kind == "podproxy":
        assert s.delta("http.outbound.downstream_cx_total", "tcp.outbound.cx_total") == {
            "http.outbound.downstream_cx_total": 0, "tcp.outbound.cx_total": 0}


def test_server_first_protocol_gets_its_banner_within_200ms(pod, sidecar):
    c, s = Captures(pod), ProxyStats(sidecar)
    r = banner(pod, pod.pod, netns.SERVER_IP, SERVER_BANNER_PORT, send="hello\\r\\n")
    assert r["error"] is None, f"{r}\n{sidecar.tail()}"
    assert r["banner"] == "220 pod-test banner\r\n"
    assert r["elapsed"] < 0.2, r
    assert r["echo"] == "hello\r\n"
    assert c.delta() == counts(outbound=1, proxy_exempt=1)
    if sidecar.kind == "podproxy":
        # The client sent nothing, so podproxy waited out the detection window before treating
        # the connection as TCP: a banner faster than that did not come through podproxy.
        assert r["elapsed"] >= DETECTION_TIMEOUT * 0.9, r
        assert s.delta("listener.outbound.protocol_detection.timeout", "tcp.outbound.cx_total") == {
            "listener.outbound.protocol_detection.timeout": 1, "tcp.outbound.cx_total": 1}


def test_declared_tcp_port_is_not_sniffed(pod, sidecar):
    c, s = Captures(pod), ProxyStats(sidecar)
    r = banner(pod, pod.pod, netns.SERVER_IP, SERVER_DECLARED_BANNER_PORT, send="ping\\r\\n")
    assert r["error"] is None, f"{r}\n{sidecar.tail()}"
    assert r["banner"] == "220 pod-test banner\r\n"
    assert r["echo"] == "ping\r\n"
    # tcp_ports: connected upstream at once, no detection window.
    assert r["elapsed"] < DETECTION_TIMEOUT * 0.8, r
    assert c.delta() == counts(outbound=1, proxy_exempt=1)
    if sidecar.kind == "podproxy":
        assert s.delta("listener.outbound.protocol_detection.declared_tcp",
                       "listener.outbound.protocol_detection.timeout") == {
            "listener.outbound.protocol_detection.declared_tcp": 1,
            "listener.outbound.protocol_detection.timeout": 0}


def test_http_on_declared_tcp_port_is_forwarded_as_bytes(pod, sidecar):
    c, s = Captures(pod), ProxyStats(sidecar)
    status, echo, err = curl(pod, pod.pod,
                             url(netns.SERVER_IP, SERVER_DECLARED_HTTP_PORT, "/declared"))
    assert status == 200, f"curl failed: {err}\n{sidecar.tail()}"
    assert c.delta() == counts(outbound=1, proxy_exempt=1)
    # Forwarded as opaque TCP: the request arrives exactly as curl sent it, with none of the
    # headers an HTTP proxy adds.
    names = [k for k, _ in echo["headers"]]
    assert names == ["host", "user-agent", "accept"], echo["raw"]
    if sidecar.kind == "podproxy":
        assert s.delta("listener.outbound.protocol_detection.declared_tcp",
                       "listener.outbound.protocol_detection.http1",
                       "tcp.outbound.cx_total") == {
            "listener.outbound.protocol_detection.declared_tcp": 1,
            "listener.outbound.protocol_detection.http1": 0, "tcp.outbound.cx_total": 1}


# --- IPv6 -----------------------------------------------------------------------------------


def test_ipv6_inbound_and_outbound(pod, sidecar):
    if not pod.ipv6:
        pytest.skip("the kernel offers no IPv6 (or no ip6tables nat) in namespaces")
    c = Captures(pod, family=6)
    status, echo, err = curl(pod, pod.client, url(netns.POD_CLIENT_SIDE_IP6, APP_PORT, "/in6"))
    assert status == 200, f"inbound: {err}\n{sidecar.tail()}"
    assert echo["peer"].startswith("[::1]:"), echo  # the inbound listener's hop to the app
    assert c.delta() == counts(inbound=1, proxy_exempt=1)

    c = Captures(pod, family=6)
    status, echo, err = curl(pod, pod.pod, url(netns.SERVER_IP6, SERVER_HTTP_PORT, "/out6"))
    assert status == 200, f"outbound: {err}\n{sidecar.tail()}"
    assert echo["local"] == f"[{netns.SERVER_IP6}]:{SERVER_HTTP_PORT}"
    assert c.delta() == counts(outbound=1, proxy_exempt=1)

    c = Captures(pod, family=6)
    status, echo, err = curl(pod, pod.pod, url(VIP6, VIP_PORT, "/vip6"))
    assert status == 200, f"vip: {err}\n{sidecar.tail()}"
    assert echo["path"] == "/vip6"
    assert c.delta() == counts(outbound=1, proxy_exempt=1)


# --- without the sidecar (last: stops it) ---------------------------------------------------


def test_captured_calls_fail_without_the_sidecar(pod, sidecar):
    sidecar.stop()
    deadline = time.monotonic() + 5
    while sidecar.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not sidecar.running()
    # The rules still redirect to 15006/15001 where nothing listens now: refused. This proves
    # the successes above went through the sidecar, not around it.
    status, _, err = curl(pod, pod.client, url(netns.POD_CLIENT_SIDE_IP, APP_PORT, "/"), 3)
    assert status == 0, "inbound call succeeded without the sidecar: capture is not working"
    status, _, err = curl(pod, pod.pod, url(netns.SERVER_IP, SERVER_HTTP_PORT, "/"), 3)
    assert status == 0, "outbound call succeeded without the sidecar: capture is not working"
    # Excluded ports never depended on it.
    status, _, err = curl(pod, pod.pod, url(netns.SERVER_IP, SERVER_EXCLUDED_PORT, "/"), 3)
    assert status == 200, err
    status, _, err = curl(pod, pod.client, url(netns.POD_CLIENT_SIDE_IP, APP_EXCLUDED_PORT, "/"))
    assert status == 200, err
