"""gRPC through podproxy: a real grpcio server behind an HTTP/2 cluster and a real grpcio client
(h2c prior knowledge): unary and bidirectional streaming calls with trailers, status codes,
deadlines (grpc-timeout) and local replies answered in gRPC's terms."""

import time
from concurrent import futures

import grpc
import pytest

from harness import bootstrap, cluster, http_listener, unused_port
from harness.h2client import H2Client

SERVICE = "test.Echo"


def _unary(request, context):
    context.set_trailing_metadata((("x-echo-trailer", "unary"),))
    return b"echo:" + request


def _bidi(requests, context):
    for message in requests:
        yield b"bidi:" + message


def _slow(request, context):
    time.sleep(3)
    return b"late"


def _nap(request, context):
    time.sleep(0.5)
    return b"rested"


def _fail(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")


@pytest.fixture
def grpc_server():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(_unary),
        "Bidi": grpc.stream_stream_rpc_method_handler(_bidi),
        "Slow": grpc.unary_unary_rpc_method_handler(_slow),
        "Fail": grpc.unary_unary_rpc_method_handler(_fail),
        "Nap": grpc.unary_unary_rpc_method_handler(_nap),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port
    server.stop(grace=None)


def grpc_config(port, timeout="30s", **http2):
    extra = {"http2": http2} if http2 else {}
    return bootstrap([http_listener("ingress", "grpc", timeout=timeout)],
                     [cluster("grpc", [port], protocol="http2", **extra)])


def upstream_connections(proxy, name="grpc"):
    return int(proxy.metric("podproxy_upstream_cx_total", f'cluster="{name}"'))


@pytest.fixture
def channel_to(make_proxy):
    channels = []

    def open_channel(proxy):
        ch = grpc.insecure_channel(f"127.0.0.1:{proxy.port('ingress')}")
        channels.append(ch)
        return ch

    yield open_channel
    for ch in channels:
        ch.close()


def method(channel, name, kind="unary_unary"):
    return getattr(channel, kind)(f"/{SERVICE}/{name}")


def test_unary_call_passes_through_with_trailers(make_proxy, grpc_server, channel_to):
    proxy = make_proxy(grpc_config(grpc_server))
    call = method(channel_to(proxy), "Unary")
    response, outcome = call.with_call(b"hello", timeout=10)
    assert response == b"echo:hello"
    assert outcome.code() == grpc.StatusCode.OK
    assert ("x-echo-trailer", "unary") in tuple(outcome.trailing_metadata())


def test_bidi_streaming_call_passes_through(make_proxy, grpc_server, channel_to):
    proxy = make_proxy(grpc_config(grpc_server))
    call = method(channel_to(proxy), "Bidi", "stream_stream")
    messages = [f"m{i}".encode() * (i + 1) for i in range(20)]
    responses = list(call(iter(messages), timeout=10))
    assert responses == [b"bidi:" + m for m in messages]


def test_many_concurrent_calls_share_the_upstream_connections(make_proxy, grpc_server,
                                                              channel_to):
    proxy = make_proxy(grpc_config(grpc_server))
    call = method(channel_to(proxy), "Unary")
    pending = [call.future(f"n{i}".encode(), timeout=10) for i in range(100)]
    assert [f.result() for f in pending] == [f"echo:n{i}".encode() for i in range(100)]


def test_a_full_connection_makes_the_pool_open_another(make_proxy, grpc_server, channel_to):
    # At most 4 streams per upstream connection: 20 calls at once need 5 connections, and the
    # calls that wait for a slot still succeed.
    proxy = make_proxy(grpc_config(grpc_server, max_concurrent_streams=4), concurrency=1)
    call = method(channel_to(proxy), "Nap")
    pending = [call.future(b"x", timeout=10) for _ in range(20)]
    assert [f.result() for f in pending] == [b"rested"] * 20
    assert upstream_connections(proxy) == 5


def test_calls_are_multiplexed_over_one_upstream_connection(make_proxy, grpc_server,
                                                            channel_to):
    proxy = make_proxy(grpc_config(grpc_server), concurrency=1)
    call = method(channel_to(proxy), "Nap")
    pending = [call.future(b"x", timeout=10) for _ in range(50)]
    assert [f.result() for f in pending] == [b"rested"] * 50
    assert upstream_connections(proxy) == 1


def test_server_error_status_reaches_the_client(make_proxy, grpc_server, channel_to):
    proxy = make_proxy(grpc_config(grpc_server))
    with pytest.raises(grpc.RpcError) as err:
        method(channel_to(proxy), "Fail")(b"x", timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == "no such thing"


def test_client_deadline_gives_deadline_exceeded(make_proxy, grpc_server, channel_to):
    proxy = make_proxy(grpc_config(grpc_server))
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as err:
        method(channel_to(proxy), "Slow")(b"x", timeout=0.5)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 2.5


def grpc_frame(message):
    return b"\x00" + len(message).to_bytes(4, "big") + message


def test_grpc_timeout_header_is_the_route_timeout_and_answered_as_grpc(make_proxy, grpc_server):
    # A client without its own timer: only podproxy can end this call, from grpc-timeout.
    proxy = make_proxy(grpc_config(grpc_server, timeout="30s"))
    with H2Client(proxy.port("ingress")) as c:
        started = time.monotonic()
        sid = c.request(f"/{SERVICE}/Slow", method="POST", body=grpc_frame(b"x"),
                        headers=[("content-type", "application/grpc"), ("te", "trailers"),
                                 ("grpc-timeout", "300m")])
        s = c.wait_stream(sid, timeout=5)
        elapsed = time.monotonic() - started
    assert 0.25 < elapsed < 2.0
    assert s.status == 200  # gRPC clients read grpc-status, not the HTTP status
    assert s.headers["grpc-status"] == "4"  # DEADLINE_EXCEEDED, trailers-only
    assert s.headers["content-type"] == "application/grpc"
    assert s.ended and not s.data


def test_unreachable_upstream_is_unavailable_for_grpc_clients(make_proxy, channel_to):
    proxy = make_proxy(grpc_config(unused_port()))
    with pytest.raises(grpc.RpcError) as err:
        method(channel_to(proxy), "Unary")(b"x", timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "upstream connect error" in err.value.details()
