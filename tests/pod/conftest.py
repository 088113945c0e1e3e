"""Fixtures for the Pod test: the namespaces (one Pod per session), the app and server
programs, podproxy-init's rules, and the sidecar (the real podproxy, or a stand-in relay that
checks the topology and rules independently of podproxy's features).

When the machine cannot build namespaces (no root, no CAP_NET_ADMIN, no iptables nat) the tests
FAIL with the reason, unless PODPROXY_POD_TEST_OPTIONAL=1 is set, in which case they skip.
"""

import os
import shutil
import signal
import stat
import sys
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

import netns  # noqa: E402
from netns import Pod, SetupError  # noqa: E402
import sidecar as sidecars  # noqa: E402

PYTHON = "/usr/bin/python3"
INIT_SCRIPT = REPO / "docker" / "podproxy-init"
PROXY_UID = 1337

from netns import (APP_EXCLUDED_PORT, APP_LOCALHOST_ONLY_PORT,  # noqa: E402
                   APP_POD_IP_ONLY_PORT, APP_PORT, SERVER_BANNER_PORT,
                   SERVER_DECLARED_BANNER_PORT, SERVER_DECLARED_HTTP_PORT, SERVER_EXCLUDED_PORT,
                   SERVER_HTTP_PORT)


def _setup_problem(message):
    if os.environ.get("PODPROXY_POD_TEST_OPTIONAL") == "1":
        pytest.skip(f"Pod test skipped (PODPROXY_POD_TEST_OPTIONAL=1): {message}")
    pytest.fail(f"Pod test cannot run: {message}. Run as root on Linux with iproute2, iptables "
                "and util-linux, or set PODPROXY_POD_TEST_OPTIONAL=1 to skip it.", pytrace=False)


@pytest.fixture(scope="session")
def shared_dir():
    """A directory readable by uid 1337 (pytest's tmp_path is root-only)."""
    d = Path(tempfile.mkdtemp(prefix="podproxy-pod-test-"))
    d.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def privileges():
    try:
        netns.probe()
    except SetupError as e:
        _setup_problem(str(e))
    except (OSError, netns.subprocess.SubprocessError) as e:
        _setup_problem(f"probe failed: {e}")


@pytest.fixture(scope="session")
def scratch_namespace(privileges):
    """Factory for empty throwaway namespaces (for podproxy-init tests)."""
    made = []

    def make():
        name = f"{netns.PREFIX}{os.getpid()}-s{len(made)}"
        netns.run(["ip", "netns", "add", name])
        made.append(name)
        netns.run(["ip", "-n", name, "link", "set", "lo", "up"])
        return name

    yield make
    for name in made:
        netns.run(["ip", "netns", "del", name], check=False)


@pytest.fixture(scope="session")
def pod(privileges):
    """The Pod: namespaces, links, the app (in pod), the servers (in server), and
    podproxy-init's rules in the pod namespace (-o 9090 -d 9091)."""
    netns.remove_stale_namespaces()
    p = Pod().create()
    try:
        p.init_result = p.exec(p.pod, "sh", str(INIT_SCRIPT),
                               "--exclude-outbound-ports", str(SERVER_EXCLUDED_PORT),
                               "--exclude-inbound-ports", str(APP_EXCLUDED_PORT),
                               "--ipv6", "auto" if p.ipv6 else "off")
        nsapps = str(HERE / "nsapps.py")
        server_args = []
        hosts = [netns.SERVER_IP] + ([f"[{netns.SERVER_IP6}]"] if p.ipv6 else [])
        for host in hosts:
            for port in (SERVER_HTTP_PORT, SERVER_DECLARED_HTTP_PORT, SERVER_EXCLUDED_PORT):
                server_args += ["--http", f"{host}:{port}"]
            for port in (SERVER_BANNER_PORT, SERVER_DECLARED_BANNER_PORT):
                server_args += ["--banner", f"{host}:{port}"]
        p.server_app = p.spawn("server", p.server, PYTHON, nsapps, "serve", *server_args)
        any_host = "[::]" if p.ipv6 else "0.0.0.0"  # [::] is dual-stack here
        app_args = ["--http", f"{any_host}:{APP_PORT}", "--http", f"{any_host}:{APP_EXCLUDED_PORT}",
                    "--http", f"{netns.POD_CLIENT_SIDE_IP}:{APP_POD_IP_ONLY_PORT}",
                    "--http", f"127.0.0.1:{APP_LOCALHOST_ONLY_PORT}"]
        if p.ipv6:
            app_args += ["--http", f"[{netns.POD_CLIENT_SIDE_IP6}]:{APP_POD_IP_ONLY_PORT}"]
        p.app = p.spawn("app", p.pod, PYTHON, nsapps, "serve", *app_args)
        for proc in (p.server_app, p.app):
            if not proc.wait_for_log(lambda e: e.get("msg") == "ready", timeout=10):
                raise AssertionError(f"{proc.name} did not start:\n{proc.tail()}")
        yield p
    finally:
        p.close()


def pytest_configure(config):
    # ctest and CI stop a test with SIGTERM: turn it into SystemExit so fixtures' finally blocks
    # and atexit remove the namespaces and kill what was started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))


def pytest_report_header(config):
    return f"podproxy-init: {INIT_SCRIPT}"


def _start_sidecar(kind, pod, shared_dir, inbound_target):
    cls = sidecars.RelaySidecar if kind == "relay" else sidecars.PodproxySidecar
    s = cls(pod, shared_dir, inbound_target=inbound_target)
    try:
        s.start()
        yield s
    finally:
        s.stop()
        print(f"\n--- {s.kind} output ---\n{s.tail(200)}")


@pytest.fixture(scope="module", params=["relay", "podproxy"])
def sidecar(request, pod, shared_dir):
    """The sidecar in the pod namespace as uid 1337: the stand-in relay (checks the namespaces
    and podproxy-init's rules on their own) or the real podproxy binary."""
    yield from _start_sidecar(request.param, pod, shared_dir, "loopback")


@pytest.fixture(scope="module", params=["relay", "podproxy"])
def sidecar_original(request, pod, shared_dir):
    """The same, with inbound target "original" (forward to the Pod IP from 127.0.0.6)."""
    yield from _start_sidecar(request.param, pod, shared_dir, "original")
