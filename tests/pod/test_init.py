"""docker/podproxy-init on its own, in empty throwaway namespaces: the rules it installs,
idempotence, cleanup, dry run, and usage errors."""

import re
from pathlib import Path

import netns

INIT_SCRIPT = Path(__file__).resolve().parents[2] / "docker" / "podproxy-init"

CHAINS = ["PODPROXY_INBOUND", "PODPROXY_IN_REDIRECT", "PODPROXY_OUTPUT", "PODPROXY_REDIRECT"]


def init(ns, *args, check=True):
    cmd = ["sh", str(INIT_SCRIPT), *args]
    if ns is not None:
        cmd = ["ip", "netns", "exec", ns, *cmd]
    return netns.run(cmd, check=check)


def nat_rules(ns, tool="iptables"):
    """The nat table's rules (-S form), without policies."""
    out = netns.run(["ip", "netns", "exec", ns, tool, "-t", "nat", "-S"]).stdout
    return [line for line in out.splitlines() if not line.startswith("-P ")]


def test_help_lists_every_flag():
    r = init(None, "--help")
    assert r.returncode == 0
    for flag in ["--outbound-port", "--inbound-port", "--proxy-uid", "--proxy-gid",
                 "--inbound-ports", "--exclude-inbound-ports", "--outbound-ranges",
                 "--exclude-outbound-ranges", "--exclude-outbound-ports", "--ipv6", "--cleanup",
                 "--dry-run"]:
        assert flag in r.stdout, flag


def test_bad_usage_exits_2_with_the_reason():
    for args, reason in [(["-p", "abc"], "'abc' is not a port"),
                         (["--bogus"], "unknown argument '--bogus'"),
                         (["-x", "10.0.0.0"], "'10.0.0.0' is not a CIDR"),
                         (["--ipv6", "maybe"], "'maybe' is not auto, on or off"),
                         (["-o"], "needs a value")]:
        r = init(None, *args, check=False)
        assert r.returncode == 2, (args, r.stderr)
        assert reason in r.stderr, (args, r.stderr)


def test_installs_istio_style_rules(scratch_namespace):
    ns = scratch_namespace()
    init(ns, "--ipv6", "off", "-o", "9090", "-d", "9091", "-x", "10.0.0.0/8")
    rules = nat_rules(ns)
    assert "-A PREROUTING -p tcp -j PODPROXY_INBOUND" in rules
    assert "-A OUTPUT -p tcp -j PODPROXY_OUTPUT" in rules
    inbound = [r for r in rules if r.startswith("-A PODPROXY_INBOUND ")]
    assert inbound == [
        "-A PODPROXY_INBOUND -p tcp -m tcp --dport 9091 -j RETURN",
        "-A PODPROXY_INBOUND -p tcp -m tcp --dport 15000 -j RETURN",
        "-A PODPROXY_INBOUND -p tcp -m tcp --dport 15021 -j RETURN",
        "-A PODPROXY_INBOUND -p tcp -m tcp --dport 15090 -j RETURN",
        "-A PODPROXY_INBOUND -p tcp -j PODPROXY_IN_REDIRECT",
    ]
    output = [r for r in rules if r.startswith("-A PODPROXY_OUTPUT ")]
    assert output == [
        "-A PODPROXY_OUTPUT -p tcp -m tcp --dport 9090 -j RETURN",
        "-A PODPROXY_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN",
        "-A PODPROXY_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner --uid-owner 1337 "
        "-j PODPROXY_IN_REDIRECT",
        "-A PODPROXY_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN",
        "-A PODPROXY_OUTPUT -m owner --uid-owner 1337 -j RETURN",
        "-A PODPROXY_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner --gid-owner 1337 "
        "-j PODPROXY_IN_REDIRECT",
        "-A PODPROXY_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN",
        "-A PODPROXY_OUTPUT -m owner --gid-owner 1337 -j RETURN",
        "-A PODPROXY_OUTPUT -d 127.0.0.1/32 -j RETURN",
        "-A PODPROXY_OUTPUT -d 10.0.0.0/8 -j RETURN",
        "-A PODPROXY_OUTPUT -j PODPROXY_REDIRECT",
    ]
    assert "-A PODPROXY_REDIRECT -p tcp -j REDIRECT --to-ports 15001" in rules
    assert "-A PODPROXY_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006" in rules


def test_flags_and_environment_change_ports_uid_and_ranges(scratch_namespace):
    ns = scratch_namespace()
    netns.run(["ip", "netns", "exec", ns, "env", "PODPROXY_OUTBOUND_PORT=25001",
               "sh", str(INIT_SCRIPT), "--ipv6", "off", "-z", "25006", "-u", "2000", "-g", "2001",
               "-b", "8080,8443", "-i", "10.96.0.0/12,192.168.0.0/16"])
    rules = nat_rules(ns)
    assert "-A PODPROXY_REDIRECT -p tcp -j REDIRECT --to-ports 25001" in rules
    assert "-A PODPROXY_IN_REDIRECT -p tcp -j REDIRECT --to-ports 25006" in rules
    assert [r for r in rules if r.startswith("-A PODPROXY_INBOUND ")] == [
        "-A PODPROXY_INBOUND -p tcp -m tcp --dport 8080 -j PODPROXY_IN_REDIRECT",
        "-A PODPROXY_INBOUND -p tcp -m tcp --dport 8443 -j PODPROXY_IN_REDIRECT",
    ]
    assert "-A PODPROXY_OUTPUT -m owner --uid-owner 2000 -j RETURN" in rules
    assert "-A PODPROXY_OUTPUT -m owner --gid-owner 2001 -j RETURN" in rules
    assert not any("1337" in r for r in rules)
    redirects = [r for r in rules if r.endswith("-j PODPROXY_REDIRECT")]
    assert redirects == ["-A PODPROXY_OUTPUT -d 10.96.0.0/12 -j PODPROXY_REDIRECT",
                         "-A PODPROXY_OUTPUT -d 192.168.0.0/16 -j PODPROXY_REDIRECT"]


def test_running_twice_leaves_one_set_of_rules(scratch_namespace):
    ns = scratch_namespace()
    init(ns, "-o", "9090")
    once = nat_rules(ns)
    once6 = nat_rules(ns, "ip6tables") if netns.ipv6_available(ns) else []
    init(ns, "-o", "9090")
    assert nat_rules(ns) == once
    assert [r for r in once if r.endswith("-j PODPROXY_OUTPUT")] == [
        "-A OUTPUT -p tcp -j PODPROXY_OUTPUT"]
    if once6:
        assert nat_rules(ns, "ip6tables") == once6
        # ::6 on lo, for inbound target "original" over IPv6 (assigned once, not twice).
        lo6 = netns.run(["ip", "-n", ns, "-6", "addr", "show", "dev", "lo"]).stdout
        assert lo6.count("inet6 ::6/128") == 1, lo6
        assert "-A PODPROXY_OUTPUT -d ::1/128 -j RETURN" in once6
        assert "-A PODPROXY_OUTPUT -s ::6/128 -o lo -j RETURN" in once6
    # A changed configuration replaces the old one instead of adding to it.
    init(ns, "-o", "7070")
    rules = nat_rules(ns)
    assert not any("9090" in r for r in rules)
    assert sum("--dport 7070" in r for r in rules) == 1


def test_cleanup_removes_everything_and_only_that(scratch_namespace):
    ns = scratch_namespace()
    other = "-A OUTPUT -d 192.0.2.1/32 -p tcp -j RETURN"
    netns.run(["ip", "netns", "exec", ns, "iptables", "-t", "nat", *other.split()])
    init(ns)
    init(ns, "--cleanup")
    assert nat_rules(ns) == ["-A OUTPUT -d 192.0.2.1/32 -p tcp -j RETURN"]
    if netns.ipv6_available(ns):
        assert nat_rules(ns, "ip6tables") == []
        lo6 = netns.run(["ip", "-n", ns, "-6", "addr", "show", "dev", "lo"]).stdout
        assert "::6/128" not in lo6
    init(ns, "--cleanup")  # nothing left to remove: still succeeds
    assert nat_rules(ns) == ["-A OUTPUT -d 192.0.2.1/32 -p tcp -j RETURN"]


def test_dry_run_prints_commands_and_changes_nothing(scratch_namespace):
    ns = scratch_namespace()
    r = init(ns, "--dry-run", "--ipv6", "off", "-o", "9090")
    assert nat_rules(ns) == []
    commands = [line for line in r.stdout.splitlines() if line.startswith("iptables ")]
    assert "iptables -t nat -A OUTPUT -p tcp -j PODPROXY_OUTPUT" in commands
    assert "iptables -t nat -A PODPROXY_OUTPUT -p tcp --dport 9090 -j RETURN" in commands
    # Every install command printed is one iptables would accept.
    for cmd in commands:
        if " -A " in cmd or " -N " in cmd:
            args = re.sub(r"^iptables ", "", cmd).split()
            netns.run(["ip", "netns", "exec", ns, "iptables", *args])
    assert "-A OUTPUT -p tcp -j PODPROXY_OUTPUT" in nat_rules(ns)


def test_ipv6_on_fails_clearly_without_ip6tables_nat(scratch_namespace):
    ns = scratch_namespace()
    if netns.ipv6_available(ns):
        init(ns, "--ipv6", "on")
        assert "-A OUTPUT -p tcp -j PODPROXY_OUTPUT" in nat_rules(ns, "ip6tables")
    else:
        r = init(ns, "--ipv6", "on", check=False)
        assert r.returncode == 1 and "not available" in r.stderr
