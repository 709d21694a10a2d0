"""Writes OTLP trace fixtures with the real OpenTelemetry Python SDK and its own OTLP encoder.

tailsift-otlp's tests read the files this writes, to check that the bridge understands what a
real SDK sends, not only what the bridge itself writes. Run it through generate.sh, which
installs the pinned packages into a venv under target/; the output is deterministic (fixed ids,
fixed timestamps), so a rerun with the same pins writes the same bytes.

Output, in the directory given as the only argument:

- python-sdk.binpb: two ExportTraceServiceRequest messages, each prefixed with its length as
  a protobuf varint (what prost's decode_length_delimited reads). The messages are the bytes of
  the SDK's encoder, `encode_spans(...)`, unchanged.
- python-sdk.jsonl: the same two requests as OTLP/JSON, one per line. Python has no OTLP/JSON
  exporter, so this is protobuf's standard JSON mapping (MessageToJson, integer enums) plus
  the one deviation the OTLP specification makes from it: trace and span ids are hex, not
  base64. Everything else in the standard mapping (lowerCamelCase keys, 64-bit integers as
  strings, bytes as base64, defaults omitted) is what OTLP/JSON is.

The spans cover: two resources (two tracer providers), two scopes under one resource, nested
spans, every span kind, attributes of every AnyValue kind (string, bool, int, double, bytes,
homogeneous and mixed arrays, nested maps, empty), events including a recorded exception,
links with attributes, a remote parent, a tracestate, and error and ok statuses.
"""

import base64
import json
import sys
from pathlib import Path

from google.protobuf.json_format import MessageToDict
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

# 2024-01-02T03:04:05Z in nanoseconds; every timestamp is an offset from it.
T0 = 1_704_164_645_000_000_000
MS = 1_000_000


class FixedIds(IdGenerator):
    """Deterministic ids, so the fixtures do not change from run to run."""

    def __init__(self, trace_ids, first_span_id):
        self._trace_ids = list(trace_ids)
        self._next_span = first_span_id

    def generate_trace_id(self):
        return self._trace_ids.pop(0)

    def generate_span_id(self):
        self._next_span += 1
        return self._next_span


def provider(resource, ids):
    exporter = InMemorySpanExporter()
    tp = TracerProvider(resource=resource, id_generator=ids)
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    return tp, exporter


def checkout_trace(tp):
    """Trace 1: a server span with three levels of children, attributes of every kind, an
    exception event and an error status."""
    tracer = tp.get_tracer(
        "shop.checkout",
        "1.4.2",
        schema_url="https://opentelemetry.io/schemas/1.26.0",
        attributes={"scope.team": "payments"},
    )
    db_tracer = tp.get_tracer("shop.db", "0.9.0")
    root = tracer.start_span(
        "POST /checkout",
        kind=SpanKind.SERVER,
        start_time=T0,
        attributes={
            "http.request.method": "POST",
            "http.route": "/checkout",
            "http.response.status_code": 500,
            "server.sampled": True,
            "cart.total": 123.45,
            "cart.items": ["sku-1", "sku-2", "sku-3"],
            "cart.quantities": [1, 2, 3],
            "cart.prices": [9.5, 20.0, 31.25],
            "cart.gift": [True, False],
            "request.digest": b"\x00\x01\xfe\xff",
            "request.meta": {"tenant": "acme", "retries": 2, "nested": {"deep": [1, "two", None]}},
            "request.mixed": ["a", 1, 2.5, False],
            "request.empty_list": [],
            "request.nothing": None,
        },
    )
    root_ctx = trace.set_span_in_context(root)
    charge = tracer.start_span("charge card", context=root_ctx, kind=SpanKind.CLIENT, start_time=T0 + 5 * MS)
    charge.set_attribute("payment.provider", "stripe")
    charge.add_event("retry", attributes={"attempt": 2, "backoff.ms": 12.5}, timestamp=T0 + 20 * MS)
    charge_ctx = trace.set_span_in_context(charge)
    query = db_tracer.start_span(
        "SELECT orders", context=charge_ctx, kind=SpanKind.INTERNAL, start_time=T0 + 8 * MS
    )
    query.set_attribute("db.system.name", "postgresql")
    query.set_attribute("db.query.text", "SELECT * FROM orders WHERE id = $1")
    # Not raised, so the recorded stack trace carries no file paths of this machine.
    query.record_exception(ValueError("card declined"), timestamp=T0 + 30 * MS)
    query.set_status(Status(StatusCode.ERROR, "card declined"))
    query.end(end_time=T0 + 31 * MS)
    charge.set_status(Status(StatusCode.ERROR))
    charge.end(end_time=T0 + 40 * MS)
    root.set_status(Status(StatusCode.ERROR, "checkout failed"))
    root.end(end_time=T0 + 50 * MS)
    return root


def inventory_trace(tp, link_to):
    """Trace 2: a consumer span under a remote parent with a tracestate, linked to trace 1,
    with a producer child and an ok status."""
    tracer = tp.get_tracer("inventory.worker", "2.0.0")
    remote_parent = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "abc"), ("ot", "th:8")]),
    )
    parent_ctx = trace.set_span_in_context(trace.NonRecordingSpan(remote_parent))
    consume = tracer.start_span(
        "orders process",
        context=parent_ctx,
        kind=SpanKind.CONSUMER,
        start_time=T0 + 100 * MS,
        links=[Link(link_to.get_span_context(), attributes={"link.reason": "follows", "link.n": 1})],
        attributes={"messaging.system": "kafka", "messaging.batch.message_count": 3},
    )
    consume_ctx = trace.set_span_in_context(consume)
    publish = tracer.start_span(
        "stock publish", context=consume_ctx, kind=SpanKind.PRODUCER, start_time=T0 + 110 * MS
    )
    publish.add_event("published", timestamp=T0 + 115 * MS)
    publish.end(end_time=T0 + 120 * MS)
    consume.set_status(Status(StatusCode.OK))
    consume.end(end_time=T0 + 130 * MS)


def hex_ids(node):
    """Rewrites base64 trace and span ids as hex, the OTLP/JSON deviation from protobuf's
    JSON mapping. Only id fields of spans and links are ids; attribute bytes stay base64."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                hex_ids(value)
    elif isinstance(node, list):
        for item in node:
            hex_ids(item)


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)

    shop, shop_spans = provider(
        Resource.create(
            {
                "service.name": "checkout",
                "service.instance.id": "checkout-0",
                "service.version": "3.1.0",
                "deployment.environment.name": "staging",
                "host.cpu.count": 8,
            },
            schema_url="https://opentelemetry.io/schemas/1.26.0",
        ),
        FixedIds([0x5B8EFFF798038103D269B633813FC60C], 0x1000),
    )
    inventory, inventory_spans = provider(
        Resource.create({"service.name": "inventory", "service.instance.id": "inventory-0"}),
        FixedIds([], 0x2000),
    )
    root = checkout_trace(shop)
    inventory_trace(inventory, root)

    first = encode_spans(shop_spans.get_finished_spans() + inventory_spans.get_finished_spans())
    second = encode_spans(inventory_spans.get_finished_spans())
    requests = [first, second]

    with open(out / "python-sdk.binpb", "wb") as f:
        for request in requests:
            body = request.SerializeToString(deterministic=True)
            f.write(varint(len(body)))
            f.write(body)

    with open(out / "python-sdk.jsonl", "w") as f:
        for request in requests:
            doc = MessageToDict(request, use_integers_for_enums=True)
            hex_ids(doc)
            f.write(json.dumps(doc, separators=(",", ":"), sort_keys=False) + "\n")


if __name__ == "__main__":
    main()
