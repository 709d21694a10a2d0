//! Encoding a [`TraceView`] into the trace-view wire format that WASM policies read.
//!
//! The format itself — header, sections, versioning, the zero-copy decoder — is the
//! `tailsift-abi` crate, which the guest SDK shares; this module is the host's side: it walks a
//! view once and writes its facts, spans, attributes and distinct origins through a
//! [`ViewEncoder`], which keeps its memory from one trace to the next (once it has seen its
//! largest trace, encoding allocates nothing). Facts that cost something to compute — the
//! critical path, the parent index — are included only when [`EncodeOptions`] asks; the view
//! computes them once and shares them with every other policy that asks.
//!
//! Nothing on the engine's ingest or decide path calls this yet: the WASM host will, once per
//! trace that has a WASM policy to run.
//!
//! ```
//! use std::time::Duration;
//! use tailsift::abi::{EncodeOptions, TraceBuf, ViewEncoder};
//! use tailsift::{KeyValue, Span, SpanId, TraceFlags, TraceId, TraceView};
//!
//! let spans = vec![Span {
//!     trace_id: TraceId::from_u128(7),
//!     span_id: SpanId::from_u64(1),
//!     name: "GET /cart".into(),
//!     attributes: vec![KeyValue::new("http.response.status_code", 200i64)].into(),
//!     ..Span::default()
//! }];
//! let view = TraceView::new(TraceId::from_u128(7), &spans, TraceFlags::default(), Duration::ZERO);
//!
//! let mut encoder = ViewEncoder::new();
//! let bytes = encoder.encode(&view, EncodeOptions { critical_path: true, parents: false })?;
//! let trace = TraceBuf::parse(bytes)?;
//! assert_eq!(trace.span_count(), 1);
//! assert_eq!(trace.root().and_then(|r| r.name()), Some("GET /cart"));
//! assert_eq!(trace.critical_path().map(|p| p.len()), Some(1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;

use hashbrown::HashMap;
use tailsift_abi::{Encoder, OriginFacts, SpanFacts, TraceEncoder, TraceFacts};

use crate::clock::nanos;
use crate::span::{KeyValue, Origin, Span, Value};
use crate::view::TraceView;

pub use tailsift_abi::{DecodeError, EncodeError, TraceBuf};

/// The whole format crate (`tailsift-abi`): the decoder's span, origin, attribute and value
/// types, the layout constants and the low-level [`Encoder`].
pub use tailsift_abi as format;

/// What [`ViewEncoder::encode`] includes beyond the spans and the trace's facts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Include the critical path (span indices, root first). Default off: computing it is
    /// O(n log n) in spans, unless another policy has already asked the view for it.
    pub critical_path: bool,
    /// Include each span's parent index. Default off: it needs the view's children index
    /// (one sort of the span ids), unless something has already built it.
    pub parents: bool,
}

/// Encodes trace views into the wire format, reusing its buffers across traces.
///
/// One per thread that encodes (it is not shared: `encode` takes `&mut self`).
#[derive(Debug, Default)]
pub struct ViewEncoder {
    encoder: Encoder,
    origins: Origins,
}

/// The origins of the trace being encoded, for [`ViewEncoder`]: each written once.
#[derive(Debug, Default)]
struct Origins {
    /// This trace's origins written so far, by the address of their `Arc<Origin>`.
    by_address: HashMap<usize, u32, ahash::RandomState>,
    /// The last span's origin address and index: consecutive spans mostly share one.
    last: Option<(usize, u32)>,
    /// For each origin written, the index of the first span that has it, so that an origin
    /// behind another `Arc` but equal in content is written once.
    first_span: Vec<usize>,
}

impl ViewEncoder {
    /// An encoder with nothing allocated yet.
    pub fn new() -> ViewEncoder {
        ViewEncoder::default()
    }

    /// Encodes `view` and returns the buffer, valid until the next call. Errors only if the
    /// buffer would pass the format's 4 GiB limit.
    pub fn encode(
        &mut self,
        view: &TraceView<'_>,
        options: EncodeOptions,
    ) -> Result<&[u8], EncodeError> {
        let spans = view.spans();
        let (root_service, root_name) = view.root_operation();
        let mut trace = self.encoder.begin(&TraceFacts {
            trace_id: view.trace_id().0,
            start_unix_nano: view.start_unix_nano(),
            end_unix_nano: view.end_unix_nano(),
            duration_nanos: nanos(view.duration()),
            now_nanos: nanos(view.now()),
            randomness: view.randomness(),
            estimated_bytes: view.bytes(),
            error_count: u32::try_from(view.error_count()).unwrap_or(u32::MAX),
            root: view.root_index().map(|r| r as u32),
            flags: tailsift_abi::TraceFlags {
                incomplete: view.flags().incomplete,
                early: view.flags().early,
                timed_out: view.flags().timed_out,
                shutdown: view.flags().shutdown,
            },
            baseline: view.baseline().map(|b| tailsift_abi::Baseline {
                p50_nanos: nanos(b.p50),
                p95_nanos: nanos(b.p95),
                p99_nanos: nanos(b.p99),
                samples: b.samples,
            }),
            root_service,
            root_name,
        });
        let origins = &mut self.origins;
        origins.clear();
        for (i, span) in spans.iter().enumerate() {
            let origin = origins.index(&mut trace, spans, i);
            trace.push_span(
                &SpanFacts {
                    span_id: span.span_id.0,
                    parent_span_id: span.parent_span_id.0,
                    start_unix_nano: span.start_time_unix_nano,
                    end_unix_nano: span.end_time_unix_nano,
                    name: &span.name,
                    kind: span.kind as u8,
                    status: span.status_code as u8,
                    flags: span.flags,
                    origin,
                    trace_state: span.trace_state(),
                },
                span.attributes.iter().map(attribute),
            );
        }
        if options.critical_path {
            trace.set_critical_path(view.critical_path().spans());
        }
        if options.parents {
            let children = view.children();
            trace.set_parents((0..spans.len()).map(|i| children.parent(i).map(|p| p as u32)));
        }
        trace.finish()
    }
}

impl Origins {
    fn clear(&mut self) {
        self.by_address.clear();
        self.last = None;
        self.first_span.clear();
    }

    /// The origin index of span `i`'s origin, writing the origin into `trace` first if it is
    /// new.
    fn index<'s>(&mut self, trace: &mut TraceEncoder<'_, 's>, spans: &'s [Span], i: usize) -> u32 {
        let origin: &Arc<Origin> = &spans[i].origin;
        let address = Arc::as_ptr(origin) as usize;
        if let Some((last, index)) = self.last {
            if last == address {
                return index;
            }
        }
        let index = match self.by_address.get(&address) {
            Some(&index) => index,
            None => {
                let same = self
                    .first_span
                    .iter()
                    .position(|&s| *spans[s].origin == **origin);
                let index = match same {
                    Some(index) => index as u32,
                    None => {
                        self.first_span.push(i);
                        trace.push_origin(
                            &OriginFacts {
                                service: origin.resource.service_name(),
                                scope_name: &origin.scope.name,
                                scope_version: &origin.scope.version,
                            },
                            origin.resource.attributes.iter().map(attribute),
                            origin.scope.attributes.iter().map(attribute),
                        )
                    }
                };
                self.by_address.insert(address, index);
                index
            }
        };
        self.last = Some((address, index));
        index
    }
}

fn attribute(kv: &KeyValue) -> (&str, tailsift_abi::Value<'_>) {
    (&kv.key, value(&kv.value))
}

/// The wire form of a value: arrays and key-value lists keep their length only (see
/// `tailsift_abi::Value`).
fn value(v: &Value) -> tailsift_abi::Value<'_> {
    use tailsift_abi::Value as Wire;
    match v {
        Value::Empty => Wire::Empty,
        Value::Str(s) => Wire::Str(s),
        Value::Bool(b) => Wire::Bool(*b),
        Value::Int(i) => Wire::Int(*i),
        Value::Double(d) => Wire::Double(*d),
        Value::Bytes(b) => Wire::Bytes(b),
        Value::Array(a) => Wire::Array {
            len: a.len() as u64,
        },
        Value::KvList(kvs) => Wire::KvList {
            len: kvs.len() as u64,
        },
    }
}
