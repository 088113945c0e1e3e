"""Builders for podproxy config dicts (written to YAML by the Proxy). Field names follow
config/model.h; every builder returns a plain dict that a test may edit before starting."""


def route(prefix="/", cluster="backend", timeout="2s", name="default", **action):
    """A route sending paths under `prefix` to `cluster`; extra keywords go into `route:`."""
    return {"name": name, "match": {"prefix": prefix},
            "route": {"cluster": cluster, "timeout": timeout, **action}}


def http_listener(name="ingress", cluster="backend", address="127.0.0.1:0", routes=None,
                  domains=("*",), options=None, timeout="2s"):
    http = {"route_config": {"virtual_hosts": [{
        "name": "all", "domains": list(domains),
        "routes": routes if routes is not None else [route("/", cluster, timeout)]}]}}
    if options:
        http.update(options)  # HttpOptions fields sit directly under "http:"
    return {"name": name, "address": address, "http": http}


def tcp_listener(name="tcp_in", cluster="backend", address="127.0.0.1:0", **tcp):
    return {"name": name, "address": address, "tcp": {"cluster": cluster, **tcp}}


def cluster(name="backend", endpoints=(), **extra):
    """endpoints: "host:port" strings, ports, or objects with an `address` ("host:port")."""
    def addr(e):
        if isinstance(e, int):
            return f"127.0.0.1:{e}"
        return e if isinstance(e, str) else e.address
    return {"name": name, "endpoints": [addr(e) for e in endpoints], **extra}


def bootstrap(listeners, clusters, admin_address="127.0.0.1:0", **extra):
    return {"admin": {"address": admin_address}, "listeners": list(listeners),
            "clusters": list(clusters), **extra}


def basic_config(upstream, tcp_upstream=None, timeout="2s"):
    """The usual shape: HTTP listener "ingress" and TCP listener "tcp_in", both to cluster
    "backend" at `upstream` (TCP to `tcp_upstream` via cluster "tcp_backend" when given)."""
    clusters = [cluster("backend", [upstream])]
    tcp_cluster = "backend"
    if tcp_upstream is not None:
        clusters.append(cluster("tcp_backend", [tcp_upstream]))
        tcp_cluster = "tcp_backend"
    return bootstrap([http_listener("ingress", "backend", timeout=timeout),
                      tcp_listener("tcp_in", tcp_cluster)], clusters)
