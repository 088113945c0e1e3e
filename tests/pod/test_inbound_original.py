"""Inbound target "original": the sidecar forwards a captured inbound connection to its original
destination (the Pod IP and port) from source 127.0.0.6 (::6), which podproxy-init exempts
from capture. Runs with the stand-in relay and with `podproxy sidecar --inbound-target original`.

Proof of the proxy path: the app sees the peer 127.0.0.6, an address only this hop uses (a
direct connection shows the client, 10.200.1.1); the nat counters show one inbound capture and
one exempted passthrough hop, and no second capture (a loop)."""

import pytest

import netns
from netns import APP_LOCALHOST_ONLY_PORT, APP_POD_IP_ONLY_PORT, APP_PORT
from podtest import Captures, counts, curl, url


def test_app_listening_on_pod_ip_only_is_reached(pod, sidecar_original):
    c = Captures(pod)
    status, echo, err = curl(pod, pod.client,
                             url(netns.POD_CLIENT_SIDE_IP, APP_POD_IP_ONLY_PORT, "/orig"))
    assert status == 200, f"curl failed: {err}\n{sidecar_original.tail()}"
    assert echo["local"] == f"{netns.POD_CLIENT_SIDE_IP}:{APP_POD_IP_ONLY_PORT}"
    assert echo["peer"].startswith("127.0.0.6:"), echo
    assert c.delta() == counts(inbound=1, passthrough_src=1)


def test_app_listening_on_any_address_is_reached_from_127_0_0_6(pod, sidecar_original):
    c = Captures(pod)
    status, echo, err = curl(pod, pod.client, url(netns.POD_CLIENT_SIDE_IP, APP_PORT, "/any"))
    assert status == 200, f"curl failed: {err}\n{sidecar_original.tail()}"
    assert echo["peer"].startswith("127.0.0.6:"), echo
    assert c.delta() == counts(inbound=1, passthrough_src=1)


def test_app_listening_on_localhost_only_stays_private(pod, sidecar_original):
    c = Captures(pod)
    status, _, _ = curl(pod, pod.client,
                        url(netns.POD_CLIENT_SIDE_IP, APP_LOCALHOST_ONLY_PORT, "/lo"), timeout=3)
    # Captured, then refused at 10.200.1.2:8084: as private as without a sidecar.
    assert status != 200
    assert c.delta()["inbound"] == 1


def test_ipv6_original_target(pod, sidecar_original):
    if not pod.ipv6:
        pytest.skip("the kernel offers no IPv6 (or no ip6tables nat) in namespaces")
    c = Captures(pod, family=6)
    status, echo, err = curl(pod, pod.client,
                             url(netns.POD_CLIENT_SIDE_IP6, APP_POD_IP_ONLY_PORT, "/orig6"))
    assert status == 200, f"curl failed: {err}\n{sidecar_original.tail()}"
    assert echo["peer"].startswith("[::6]:"), echo
    assert c.delta() == counts(inbound=1, passthrough_src=1)
