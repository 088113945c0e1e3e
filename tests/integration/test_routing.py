"""Routing: virtual hosts by Host, routes by path / method / headers, weighted clusters,
redirects, direct responses, rewrites and header edits, per-route timeouts. Several echo
upstreams stand for several clusters; each names itself in `x-upstream`."""

import time

import pytest

from harness import RawConnection, bootstrap, cluster, curl, curl_http, http_get, http_request

NAMES = ("alpha", "beta", "gamma", "delta")


@pytest.fixture
def upstreams(make_http_upstream):
    """Four echo upstreams, one per cluster, named like their cluster."""
    return {name: make_http_upstream(name=name) for name in NAMES}


def fwd(match, cluster_name, timeout="2s", name=None, **action):
    """A route forwarding `match` to `cluster_name`; extra keywords go into `route:`."""
    r = {"match": match, "route": {"cluster": cluster_name, "timeout": timeout, **action}}
    if name:
        r["name"] = name
    return r


def vhost(name, domains, routes, **extra):
    return {"name": name, "domains": list(domains), "routes": routes, **extra}


def config_with(upstreams, virtual_hosts, **http_options):
    listener = {"name": "ingress", "address": "127.0.0.1:0",
                "http": {"route_config": {"virtual_hosts": virtual_hosts}, **http_options}}
    return bootstrap([listener], [cluster(n, [u]) for n, u in upstreams.items()])


def request(port, path="/", host="h.test", method="GET", headers=None, body=None):
    """One request on a new connection with the given Host; returns HttpResponse."""
    all_headers = {"Host": host, **(headers or {})}
    return http_request(port, method, path, body=body, headers=all_headers)


def served_by(response):
    return response.header("x-upstream")


def total_requests(upstreams):
    return sum(u.request_count for u in upstreams.values())


# -- virtual hosts ---------------------------------------------------------------------------

def test_virtual_host_is_chosen_by_host_header(make_proxy, upstreams):
    proxy = make_proxy(config_with(upstreams, [
        vhost("suffix", ["*.example.com"], [fwd({"prefix": "/"}, "beta")]),
        vhost("exact", ["api.example.com"], [fwd({"prefix": "/"}, "alpha")]),
        vhost("prefix", ["api.*"], [fwd({"prefix": "/"}, "gamma")]),
        vhost("fallback", ["*"], [fwd({"prefix": "/"}, "delta")]),
    ]))
    port = proxy.port("ingress")

    cases = {
        "api.example.com": "alpha",        # exact beats *.example.com and api.*
        "API.Example.COM:8080": "alpha",   # case-insensitive, port ignored
        "www.example.com": "beta",         # *.example.com
        "a.b.example.com": "beta",
        "api.other.org": "gamma",          # api.*
        "unknown.test": "delta",           # *
        "example.com": "delta",            # "*.example.com" needs at least one character
        "127.0.0.1": "delta",
    }
    seen = {host: served_by(request(port, "/vh", host)) for host in cases}

    assert seen == cases
    # Each upstream saw exactly the Host it was chosen by.
    assert [r.header("host") for r in upstreams["alpha"].requests] == \
        ["api.example.com", "API.Example.COM:8080"]
    assert [r.header("host") for r in upstreams["gamma"].requests] == ["api.other.org"]


def test_longest_suffix_and_prefix_wildcards_win(make_proxy, upstreams):
    proxy = make_proxy(config_with(upstreams, [
        vhost("short-suffix", ["*.example.com"], [fwd({"prefix": "/"}, "alpha")]),
        vhost("long-suffix", ["*.eu.example.com"], [fwd({"prefix": "/"}, "beta")]),
        vhost("short-prefix", ["api.*"], [fwd({"prefix": "/"}, "gamma")]),
        vhost("long-prefix", ["api.eu.*"], [fwd({"prefix": "/"}, "delta")]),
    ]))
    port = proxy.port("ingress")

    assert served_by(request(port, "/", "x.example.com")) == "alpha"
    assert served_by(request(port, "/", "x.eu.example.com")) == "beta"
    assert served_by(request(port, "/", "api.us.test")) == "gamma"
    assert served_by(request(port, "/", "api.eu.test")) == "delta"


def test_unknown_host_without_fallback_gets_404(make_proxy, upstreams):
    proxy = make_proxy(config_with(upstreams, [
        vhost("only", ["known.test"], [fwd({"prefix": "/"}, "alpha")]),
    ]))
    port = proxy.port("ingress")

    known = request(port, "/", "known.test")
    unknown = request(port, "/", "other.test")

    assert known.status == 200 and served_by(known) == "alpha"
    assert unknown.status == 404
    assert served_by(unknown) is None
    assert total_requests(upstreams) == 1


# -- routes ----------------------------------------------------------------------------------

def test_routes_match_by_prefix_exact_path_and_regex_first_match_wins(make_proxy, upstreams):
    proxy = make_proxy(config_with(upstreams, [vhost("all", ["*"], [
        fwd({"path": "/exact"}, "beta"),
        fwd({"regex": "/items/[0-9]+"}, "gamma"),
        fwd({"prefix": "/api"}, "alpha"),
        fwd({"prefix": "/api/special"}, "beta"),  # shadowed by /api
        fwd({"prefix": "/CaSe/", "case_sensitive": False}, "beta"),
        fwd({"prefix": "/"}, "delta"),
    ])]))
    port = proxy.port("ingress")

    cases = {
        "/exact": "beta",
        "/exact?x=1": "beta",        # the query is not part of the path
        "/exact/": "delta",
        "/exactly": "delta",
        "/items/42": "gamma",
        "/items/42?q=9": "gamma",
        "/items/4x": "delta",        # regex must match the whole path
        "/items/42/more": "delta",
        "/api": "alpha",
        "/api/v1/users": "alpha",
        "/apix": "alpha",            # a prefix is a string prefix
        "/api/special/x": "alpha",   # the first matching route wins
        "/case/Mixed": "beta",
        "/CASE/x": "beta",
        "/other": "delta",
    }
    seen = {path: served_by(request(port, path)) for path in cases}

    assert seen == cases
    assert upstreams["gamma"].requests[1].target == "/items/42?q=9"


def test_case_sensitive_prefix_by_default(make_proxy, upstreams):
    proxy = make_proxy(config_with(upstreams, [vhost("all", ["*"], [
        fwd({"prefix": "/Upper"}, "alpha"),
        fwd({"prefix": "/"}, "beta"),
    ])]))
    port = proxy.port("ingress")

    assert served_by(request(port, "/Upper/x")) == "alpha"
    assert served_by(request(port, "/upper/x")) == "beta"


def test_method_matcher(make_proxy, upstreams):
    proxy = make_proxy(config_with(upstreams, [vhost("all", ["*"], [
        fwd({"prefix": "/m", "methods": ["POST", "PUT"]}, "alpha"),
        fwd({"prefix": "/m"}, "beta"),
    ])]))
    port = proxy.port("ingress")

    assert served_by(request(port, "/m", method="POST", body=b"x")) == "alpha"
    assert served_by(request(port, "/m", method="PUT", body=b"y")) == "alpha"
    assert served_by(request(port, "/m", method="GET")) == "beta"
    assert served_by(request(port, "/m", method="DELETE")) == "beta"
    assert [r.method for r in upstreams["alpha"].requests] == ["POST", "PUT"]
    assert [r.body for r in upstreams["alpha"].requests] == [b"x", b"y"]


def test_header_matchers_exact_present_regex_prefix_and_invert(make_proxy, upstreams):
    proxy = make_proxy(config_with(upstreams, [vhost("all", ["*"], [
        fwd({"prefix": "/exact", "headers": [{"name": "x-env", "exact": "canary"}]}, "alpha"),
        fwd({"prefix": "/present", "headers": [{"name": "X-Debug", "present": True}]}, "alpha"),
        fwd({"prefix": "/regex", "headers": [{"name": "x-tenant", "regex": "[a-z]{2,4}"}]},
            "alpha"),
        fwd({"prefix": "/pfx", "headers": [{"name": "content-type", "prefix": "application/"}]},
            "alpha"),
        fwd({"prefix": "/invert",
             "headers": [{"name": "x-block", "exact": "yes", "invert": True}]}, "alpha"),
        fwd({"prefix": "/both", "headers": [{"name": "x-a", "present": True},
                                            {"name": "x-b", "exact": "2"}]}, "alpha"),
        fwd({"prefix": "/"}, "beta"),
    ])]))
    port = proxy.port("ingress")

    def by(path, headers=None):
        return served_by(request(port, path, headers=headers))

    assert by("/exact", {"x-env": "canary"}) == "alpha"
    assert by("/exact", {"x-env": "Canary"}) == "beta"  # exact is case-sensitive
    assert by("/exact", {"x-env": "canary2"}) == "beta"
    assert by("/exact") == "beta"
    assert by("/present", {"x-debug": ""}) == "alpha"   # present, even if empty
    assert by("/present", {"x-debug": "1"}) == "alpha"
    assert by("/present") == "beta"
    assert by("/regex", {"x-tenant": "abc"}) == "alpha"
    assert by("/regex", {"x-tenant": "abcde"}) == "beta"  # full match only
    assert by("/regex", {"x-tenant": "AB"}) == "beta"
    assert by("/pfx", {"content-type": "application/json"}) == "alpha"
    assert by("/pfx", {"content-type": "text/plain"}) == "beta"
    assert by("/invert") == "alpha"                     # absent: inverted matcher accepts
    assert by("/invert", {"x-block": "no"}) == "alpha"
    assert by("/invert", {"x-block": "yes"}) == "beta"
    assert by("/both", {"x-a": "1", "x-b": "2"}) == "alpha"
    assert by("/both", {"x-a": "1", "x-b": "3"}) == "beta"
    assert by("/both", {"x-b": "2"}) == "beta"


def test_no_matching_route_gets_404_and_nothing_upstream(make_proxy, upstreams):
    proxy = make_proxy(config_with(upstreams, [vhost("all", ["*"], [
        fwd({"prefix": "/api"}, "alpha"),
        fwd({"path": "/ping", "methods": ["GET"]}, "alpha"),
    ])]))
    port = proxy.port("ingress")

    with RawConnection(port) as conn:
        conn.send(b"GET /nothing HTTP/1.1\r\nHost: h\r\n\r\n")
        missing = conn.read_response()
        # A 404 is a normal answer: the connection stays usable.
        conn.send(b"GET /api/x HTTP/1.1\r\nHost: h\r\n\r\n")
        found = conn.read_response()
    with RawConnection(port) as conn:
        conn.send(b"POST /ping HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi")
        wrong_method = conn.read_response()
        # Answered before its body was read: closing is allowed, a garbled stream is not.
        if wrong_method is not None and wrong_method.header("connection") == "close":
            assert conn.wait_closed(timeout=3)
            assert conn.buf == b""

    assert missing is not None and missing.status == 404
    assert missing.header("server") == "podproxy"
    assert found is not None and found.status == 200 and served_by(found) == "alpha"
    assert wrong_method is not None and wrong_method.status == 404
    assert [r.path for r in upstreams["alpha"].requests] == ["/api/x"]
    assert total_requests(upstreams) == 1


# -- weighted clusters -----------------------------------------------------------------------

def test_weighted_clusters_split_traffic_by_weight(make_proxy, upstreams):
    proxy = make_proxy(config_with(upstreams, [vhost("all", ["*"], [
        {"match": {"prefix": "/"},
         "route": {"weighted_clusters": [{"name": "alpha", "weight": 80},
                                         {"name": "beta", "weight": 20}], "timeout": "2s"}},
    ])]))
    n = 200

    counts = {"alpha": 0, "beta": 0}
    with RawConnection(proxy.port("ingress"), timeout=10) as conn:
        for i in range(n):
            # 204: the echo upstream answers in one segment, which keeps 200 requests fast.
            conn.send(b"GET /status/204?n=%d HTTP/1.1\r\nHost: h\r\n\r\n" % i)
            r = conn.read_response()
            assert r is not None and r.status == 204
            counts[served_by(r)] += 1

    assert counts["alpha"] + counts["beta"] == n
    assert upstreams["alpha"].request_count == counts["alpha"]
    assert upstreams["beta"].request_count == counts["beta"]
    assert counts["beta"] > 0 and counts["alpha"] > 0
    # Binomial(200, 0.8): mean 160, sd ~5.7; +-6 sd.
    assert 125 <= counts["alpha"] <= 195, counts
    assert upstreams["gamma"].request_count == 0


# -- redirects and direct responses ----------------------------------------------------------

def redirect_config(upstreams):
    return config_with(upstreams, [vhost("all", ["*"], [
        {"match": {"prefix": "/secure"}, "redirect": {"scheme": "https"}},
        {"match": {"prefix": "/port"}, "redirect": {"scheme": "https", "port": 8443,
                                                   "response_code": 307}},
        {"match": {"path": "/about.html"},
         "redirect": {"host": "www.example.com", "path": "/about", "strip_query": True,
                      "response_code": 302}},
        {"match": {"prefix": "/old/"},
         "redirect": {"prefix_rewrite": "/new/", "response_code": 308}},
        {"match": {"prefix": "/keepq"}, "redirect": {"path": "/kept"}},
        fwd({"prefix": "/"}, "alpha"),
    ])])


@pytest.mark.parametrize("path,host,status,location", [
    ("/secure/a?x=1", "shop.test", 301, "https://shop.test/secure/a?x=1"),
    ("/secure", "shop.test:80", 301, "https://shop.test/secure"),
    ("/port/p", "shop.test", 307, "https://shop.test:8443/port/p"),
    ("/about.html?utm=1", "shop.test", 302, "http://www.example.com/about"),
    ("/old/x/y?z=1", "shop.test:8080", 308, "http://shop.test:8080/new/x/y?z=1"),
    ("/keepq?a=b", "shop.test", 301, "http://shop.test/kept?a=b"),
])
def test_redirects(make_proxy, upstreams, path, host, status, location):
    proxy = make_proxy(redirect_config(upstreams))

    r = request(proxy.port("ingress"), path, host)

    assert r.status == status
    assert r.header("location") == location
    assert total_requests(upstreams) == 0


def test_redirect_from_curl_is_followed_to_the_upstream(make_proxy, upstreams):
    proxy = make_proxy(redirect_config(upstreams))

    proc = curl(["--location", "--max-redirs", "2", "--output", "/dev/null",
                 "--write-out", "%{http_code} %{num_redirects}",
                 proxy.url("ingress", "/keepq?a=b")], timeout=10)

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode() == "200 1"
    assert upstreams["alpha"].last_request.target == "/kept?a=b"


def test_direct_response(make_proxy, upstreams):
    proxy = make_proxy(config_with(upstreams, [vhost("all", ["*"], [
        {"match": {"path": "/healthz"},
         "direct_response": {"status": 200, "body": "ok\n", "content_type": "text/plain"}},
        {"match": {"path": "/teapot"},
         "direct_response": {"status": 418, "body": '{"short":"stout"}',
                             "content_type": "application/json"}},
        {"match": {"path": "/empty"}, "direct_response": {"status": 503}},
        fwd({"prefix": "/"}, "alpha"),
    ])]))
    port = proxy.port("ingress")

    health = request(port, "/healthz")
    teapot = request(port, "/teapot")
    empty = request(port, "/empty")
    head = curl_http(proxy.url("ingress", "/healthz"), extra_args=["--head"])

    assert (health.status, health.body, health.header("content-type")) == \
        (200, b"ok\n", "text/plain")
    assert health.header("content-length") == "3"
    assert (teapot.status, teapot.json(), teapot.header("content-type")) == \
        (418, {"short": "stout"}, "application/json")
    assert (empty.status, empty.body) == (503, b"")
    assert head.status == 200 and head.body == b""
    assert total_requests(upstreams) == 0


# -- rewrites and header edits ---------------------------------------------------------------

def test_prefix_rewrite_and_host_rewrite_reach_the_upstream(make_proxy, upstreams):
    proxy = make_proxy(config_with(upstreams, [vhost("all", ["*"], [
        fwd({"prefix": "/svc/"}, "alpha", prefix_rewrite="/internal/",
            host_rewrite="backend.internal"),
        fwd({"path": "/legacy"}, "beta", prefix_rewrite="/v2/current"),
        fwd({"prefix": "/strip"}, "gamma", prefix_rewrite="/"),
    ])]))
    port = proxy.port("ingress")

    a = request(port, "/svc/users/7?expand=1", "public.test")
    b = request(port, "/legacy?x=y", "public.test")
    c = request(port, "/strip/me", "public.test")

    assert (a.status, b.status, c.status) == (200, 200, 200)
    up_a = upstreams["alpha"].last_request
    assert up_a.target == "/internal/users/7?expand=1"
    assert up_a.header_values("host") == ["backend.internal"]
    up_b = upstreams["beta"].last_request
    assert up_b.target == "/v2/current?x=y"
    assert up_b.header_values("host") == ["public.test"]  # no host_rewrite: Host kept
    assert upstreams["gamma"].last_request.target == "//me"


def test_request_header_edits_reach_the_upstream(make_proxy, upstreams):
    route = fwd({"prefix": "/"}, "alpha")
    route["request_headers_to_add"] = [
        {"name": "x-route", "value": "r1"},
        {"name": "x-replaced", "value": "new", "append": False},
        {"name": "x-appended", "value": "from-proxy"},
    ]
    route["request_headers_to_remove"] = ["x-secret"]
    proxy = make_proxy(config_with(upstreams, [vhost(
        "all", ["*"], [route],
        request_headers_to_add=[{"name": "x-vhost", "value": "v"}],
        request_headers_to_remove=["x-vhost-secret"])]))

    r = request(proxy.port("ingress"), "/edit", headers={
        "x-replaced": "old", "x-appended": "from-client", "x-secret": "s3cr3t",
        "x-vhost-secret": "s", "x-untouched": "u"})

    assert r.status == 200
    up = upstreams["alpha"].last_request
    assert up.header_values("x-route") == ["r1"]
    assert up.header_values("x-replaced") == ["new"]
    assert up.header_values("x-appended") == ["from-client", "from-proxy"]
    assert up.header_values("x-vhost") == ["v"]
    assert up.header("x-secret") is None
    assert up.header("x-vhost-secret") is None
    assert up.header_values("x-untouched") == ["u"]


def test_response_header_edits_reach_the_client(make_proxy, make_http_upstream):
    alpha = make_http_upstream(name="alpha",
                               response_headers=[("cache-control", "public"),
                                                 ("x-internal", "leak")])
    route = fwd({"prefix": "/"}, "alpha")
    route["response_headers_to_add"] = [
        {"name": "x-resp", "value": "route"},
        {"name": "cache-control", "value": "no-store", "append": False},
    ]
    route["response_headers_to_remove"] = ["x-internal"]
    proxy = make_proxy(config_with({"alpha": alpha}, [vhost(
        "all", ["*"], [route],
        response_headers_to_add=[{"name": "x-vhost-resp", "value": "vh"}],
        response_headers_to_remove=["x-upstream-connection"])]))

    r = curl_http(proxy.url("ingress", "/resp"))

    assert r.status == 200, r.reason
    assert r.header_values("x-resp") == ["route"]
    assert r.header_values("cache-control") == ["no-store"]
    assert r.header("x-internal") is None
    assert r.header_values("x-vhost-resp") == ["vh"]
    assert r.header("x-upstream-connection") is None
    assert r.header("x-upstream") == "alpha"  # not removed: the edits are precise
    assert alpha.last_request.path == "/resp"


# -- timeouts --------------------------------------------------------------------------------

def test_route_timeout_gives_504_and_the_connection_stays_usable_or_closes(make_proxy,
                                                                         upstreams):
    proxy = make_proxy(config_with(upstreams, [vhost("all", ["*"], [
        fwd({"prefix": "/delay/"}, "alpha", timeout="300ms"),
        fwd({"prefix": "/"}, "beta"),
    ])]))

    with RawConnection(proxy.port("ingress"), timeout=5) as conn:
        started = time.monotonic()
        conn.send(b"GET /delay/2000 HTTP/1.1\r\nHost: h\r\n\r\n")
        response = conn.read_response(timeout=1.5)
        elapsed = time.monotonic() - started
        assert response is not None, "no answer within 1.5 s of a 300 ms route timeout"
        assert response.status == 504
        assert 0.25 <= elapsed < 1.5, elapsed
        if response.header("connection") == "close":
            assert conn.wait_closed(timeout=3)
        else:
            conn.send(b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
            after = conn.read_response(timeout=3)
            assert after is not None and after.status == 200
            assert served_by(after) == "beta"
            # Nothing of the timed-out exchange arrives late on this connection.
            assert conn.read_response(timeout=2.2) is None

    assert upstreams["alpha"].requests[0].path == "/delay/2000"


def test_route_idle_timeout_gives_504_when_the_upstream_goes_silent(make_proxy, upstreams):
    proxy = make_proxy(config_with(upstreams, [vhost("all", ["*"], [
        fwd({"prefix": "/delay/"}, "alpha", timeout="10s", idle_timeout="300ms"),
        fwd({"prefix": "/"}, "beta", timeout="10s", idle_timeout="300ms"),
    ])]))
    with RawConnection(proxy.port("ingress"), timeout=5) as conn:
        conn.send(b"GET /delay/3000 HTTP/1.1\r\nHost: h\r\n\r\n")
        response = conn.read_response(timeout=2.5)
        assert response is not None, "no answer long after the 300 ms idle timeout"
        assert response.status == 504
        assert b"idle" in response.body
    # A request that keeps moving is not cut by the idle timer.
    fast = http_get(proxy.port("ingress"), "/quick")
    assert fast.status == 200
