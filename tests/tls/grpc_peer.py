"""A gRPC service and a gRPC client, both on Python's standard grpcio, for the tests of gRPC through tokengate.

  grpc_peer.py serve [CERT KEY] runs demo.Echo on 127.0.0.1:<free port> (with TLS when given a certificate and its
                                key), prints the port, serves until stdin closes
  grpc_peer.py call TARGET ...  calls demo.Echo through TARGET and prints one JSON line per call

The service has no .proto: its methods take and return raw bytes (identity serializers), which is what any gRPC
client sends on the wire for a `bytes` message.
"""
import json
import sys
from concurrent import futures

import grpc


def unary(request, context):
    context.set_trailing_metadata((("x-echo-trailer", "unary"),))
    return b"echo:" + request


def stream(request, context):
    for i in range(3):
        yield b"part-%d:" % i + request
    context.set_trailing_metadata((("x-echo-trailer", "stream"),))


def fail(request, context):
    context.set_trailing_metadata((("x-echo-trailer", "fail"),))
    context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")


def serve(tls):
    handlers = grpc.method_handlers_generic_handler(
        "demo.Echo",
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "Stream": grpc.unary_stream_rpc_method_handler(stream),
            "Fail": grpc.unary_unary_rpc_method_handler(fail),
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handlers,))
    if tls:
        cert, key = (open(p, "rb").read() for p in tls)
        port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, cert)]))
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    sys.stdin.read()
    server.stop(0)


def outcome(call):
    """Runs `call` and describes what the client saw: status, details, messages, trailers."""
    try:
        messages, trailers = call()
        return {"code": "OK", "messages": [m.decode() for m in messages], "trailers": dict(trailers)}
    except grpc.RpcError as e:
        return {
            "code": e.code().name,
            "details": e.details(),
            "headers": dict(e.initial_metadata() or ()),
            "trailers": dict(e.trailing_metadata() or ()),
        }


def call(target, token, ca, name):
    if ca:
        creds = grpc.ssl_channel_credentials(root_certificates=open(ca, "rb").read())
        channel = grpc.secure_channel(target, creds, options=(("grpc.ssl_target_name_override", name),))
    else:
        channel = grpc.insecure_channel(target)
    metadata = (("authorization", "Bearer " + token),) if token else ()

    def unary_call(method):
        def run():
            rpc = channel.unary_unary("/demo.Echo/" + method)
            response, c = rpc.with_call(b"hello", metadata=metadata, timeout=10)
            return [response], c.trailing_metadata()
        return run

    def stream_call():
        rpc = channel.unary_stream("/demo.Echo/Stream")
        responses = rpc(b"hello", metadata=metadata, timeout=10)
        messages = list(responses)
        return messages, responses.trailing_metadata()

    for name_, run in (("unary", unary_call("Unary")), ("stream", stream_call), ("fail", unary_call("Fail"))):
        result = outcome(run)
        result["call"] = name_
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2:4])
    else:
        target, token, ca, name = (sys.argv[2:] + ["", "", ""])[:4]
        call(target, token, ca, name)
