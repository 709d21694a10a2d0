//! The format through the public API: what the encoder writes the decoder reads back; a buffer
//! of another version, or cut short, is refused with the matching error; no input, however
//! malformed, makes parsing or any accessor panic; and steady-state encoding keeps its memory.

use proptest::prelude::*;
use tailsift_abi::{
    Baseline, DecodeError, Encoder, OriginFacts, SpanFacts, TraceBuf, TraceFacts, TraceFlags,
    Value, HEADER_LEN, VERSION,
};

/// An attribute value that owns its data, for generating inputs.
#[derive(Clone, Debug)]
enum Owned {
    Empty,
    Str(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Vec<u8>),
    Array(u64),
    KvList(u64),
}

impl Owned {
    fn wire(&self) -> Value<'_> {
        match self {
            Owned::Empty => Value::Empty,
            Owned::Str(s) => Value::Str(s),
            Owned::Bool(b) => Value::Bool(*b),
            Owned::Int(i) => Value::Int(*i),
            Owned::Double(d) => Value::Double(*d),
            Owned::Bytes(b) => Value::Bytes(b),
            Owned::Array(n) => Value::Array { len: *n },
            Owned::KvList(n) => Value::KvList { len: *n },
        }
    }
}

/// Equal, with doubles compared by bits (so NaN equals itself).
fn same(a: Value<'_>, b: Value<'_>) -> bool {
    match (a, b) {
        (Value::Double(x), Value::Double(y)) => x.to_bits() == y.to_bits(),
        (a, b) => a == b,
    }
}

type Attrs = Vec<(String, Owned)>;

#[derive(Clone, Debug)]
struct OriginInput {
    service: String,
    scope_name: String,
    scope_version: String,
    resource: Attrs,
    scope: Attrs,
}

#[derive(Clone, Debug)]
struct SpanInput {
    id: u64,
    parent: u64,
    start: u64,
    end: u64,
    name: String,
    kind: u8,
    status: u8,
    flags: u32,
    origin: usize,
    trace_state: String,
    attributes: Attrs,
}

#[derive(Clone, Debug)]
struct TraceInput {
    trace_id: [u8; 16],
    numbers: [u64; 6],
    error_count: u32,
    root: Option<u32>,
    flags: [bool; 4],
    baseline: Option<[u64; 4]>,
    root_service: String,
    root_name: String,
    origins: Vec<OriginInput>,
    spans: Vec<SpanInput>,
    critical_path: Option<Vec<u32>>,
    parents: Option<Vec<Option<u32>>>,
}

fn any_owned() -> impl Strategy<Value = Owned> {
    prop_oneof![
        Just(Owned::Empty),
        prop_oneof![Just("GET".to_owned()), "[a-z/é]{0,6}"].prop_map(Owned::Str),
        any::<bool>().prop_map(Owned::Bool),
        any::<i64>().prop_map(Owned::Int),
        prop_oneof![Just(f64::NAN), Just(-0.0), any::<f64>()].prop_map(Owned::Double),
        proptest::collection::vec(any::<u8>(), 0..6).prop_map(Owned::Bytes),
        (0u64..4).prop_map(Owned::Array),
        (0u64..4).prop_map(Owned::KvList),
    ]
}

fn any_attrs() -> impl Strategy<Value = Attrs> {
    let key = prop_oneof![Just("http.route".to_owned()), "[a-z.]{0,5}"];
    proptest::collection::vec((key, any_owned()), 0..5)
}

fn any_origin() -> impl Strategy<Value = OriginInput> {
    (
        prop_oneof![
            Just("checkout".to_owned()),
            Just(String::new()),
            "[a-z]{1,4}"
        ],
        "[a-z]{0,4}",
        "[0-9.]{0,4}",
        any_attrs(),
        any_attrs(),
    )
        .prop_map(
            |(service, scope_name, scope_version, resource, scope)| OriginInput {
                service,
                scope_name,
                scope_version,
                resource,
                scope,
            },
        )
}

fn any_span(origins: usize) -> impl Strategy<Value = SpanInput> {
    (
        (any::<u64>(), 0u64..6, any::<u64>(), any::<u64>()),
        prop_oneof![Just("GET /cart".to_owned()), "[a-z:]{0,6}"],
        (0u8..7, 0u8..4, any::<u32>(), 0..origins),
        prop_oneof![Just(String::new()), Just("ot=th:8".to_owned())],
        any_attrs(),
    )
        .prop_map(
            |(
                (id, parent, start, end),
                name,
                (kind, status, flags, origin),
                trace_state,
                attributes,
            )| {
                SpanInput {
                    id,
                    parent,
                    start,
                    end,
                    name,
                    kind,
                    status,
                    flags,
                    origin,
                    trace_state,
                    attributes,
                }
            },
        )
}

fn any_trace() -> impl Strategy<Value = TraceInput> {
    proptest::collection::vec(any_origin(), 1..4).prop_flat_map(|origins| {
        let n = origins.len();
        (
            (
                any::<[u8; 16]>(),
                any::<[u64; 6]>(),
                any::<u32>(),
                proptest::option::of(0u32..12),
                any::<[bool; 4]>(),
                proptest::option::of(any::<[u64; 4]>()),
            ),
            ("[a-z]{0,4}", "[a-z]{0,4}"),
            Just(origins),
            proptest::collection::vec(any_span(n), 0..10),
            proptest::option::of(proptest::collection::vec(0u32..12, 0..5)),
            proptest::option::of(proptest::collection::vec(
                proptest::option::of(0u32..12),
                0..12,
            )),
        )
            .prop_map(
                |(
                    (trace_id, numbers, error_count, root, flags, baseline),
                    (root_service, root_name),
                    origins,
                    spans,
                    critical_path,
                    parents,
                )| TraceInput {
                    trace_id,
                    numbers,
                    error_count,
                    root,
                    flags,
                    baseline,
                    root_service,
                    root_name,
                    origins,
                    spans,
                    critical_path,
                    parents,
                },
            )
    })
}

fn wire(attrs: &Attrs) -> impl Iterator<Item = (&str, Value<'_>)> {
    attrs.iter().map(|(k, v)| (k.as_str(), v.wire()))
}

fn encode<'e>(encoder: &'e mut Encoder, t: &TraceInput) -> &'e [u8] {
    let [start, end, duration, now, randomness, bytes] = t.numbers;
    let [incomplete, early, timed_out, shutdown] = t.flags;
    let mut trace = encoder.begin(&TraceFacts {
        trace_id: t.trace_id,
        start_unix_nano: start,
        end_unix_nano: end,
        duration_nanos: duration,
        now_nanos: now,
        randomness,
        estimated_bytes: bytes,
        error_count: t.error_count,
        root: t.root,
        flags: TraceFlags {
            incomplete,
            early,
            timed_out,
            shutdown,
        },
        baseline: t.baseline.map(|[p50, p95, p99, samples]| Baseline {
            p50_nanos: p50,
            p95_nanos: p95,
            p99_nanos: p99,
            samples,
        }),
        root_service: &t.root_service,
        root_name: &t.root_name,
    });
    let origins: Vec<u32> = t
        .origins
        .iter()
        .map(|o| {
            trace.push_origin(
                &OriginFacts {
                    service: &o.service,
                    scope_name: &o.scope_name,
                    scope_version: &o.scope_version,
                },
                wire(&o.resource),
                wire(&o.scope),
            )
        })
        .collect();
    for s in &t.spans {
        trace.push_span(
            &SpanFacts {
                span_id: s.id.to_be_bytes(),
                parent_span_id: s.parent.to_be_bytes(),
                start_unix_nano: s.start,
                end_unix_nano: s.end,
                name: &s.name,
                kind: s.kind,
                status: s.status,
                flags: s.flags,
                origin: origins[s.origin],
                trace_state: &s.trace_state,
            },
            wire(&s.attributes),
        );
    }
    if let Some(path) = &t.critical_path {
        trace.set_critical_path(path);
    }
    if let Some(parents) = &t.parents {
        trace.set_parents(parents.iter().copied());
    }
    trace.finish().expect("a small trace fits")
}

fn assert_attrs(found: tailsift_abi::Attributes<'_>, expected: &Attrs) {
    assert_eq!(found.len(), expected.len());
    for (a, (key, value)) in found.zip(expected) {
        assert_eq!(a.key(), Some(key.as_str()));
        let v = a.value().expect("a written value reads back");
        assert!(same(v, value.wire()), "{v:?} != {value:?}");
    }
}

fn assert_round_trip(t: &TraceInput, trace: &TraceBuf<'_>) {
    let [start, end, duration, now, randomness, bytes] = t.numbers;
    assert_eq!(trace.version(), VERSION);
    assert_eq!(trace.trace_id(), t.trace_id);
    assert_eq!(
        [
            trace.start_unix_nano(),
            trace.end_unix_nano(),
            trace.duration_nanos(),
            trace.now_nanos(),
            trace.randomness(),
            trace.estimated_bytes()
        ],
        [start, end, duration, now, randomness, bytes]
    );
    assert_eq!(trace.error_count(), t.error_count);
    assert_eq!(trace.root_index(), t.root.map(|r| r as usize));
    let f = trace.flags();
    assert_eq!([f.incomplete, f.early, f.timed_out, f.shutdown], t.flags);
    assert_eq!(
        trace
            .baseline()
            .map(|b| [b.p50_nanos, b.p95_nanos, b.p99_nanos, b.samples]),
        t.baseline
    );
    assert_eq!(trace.root_service(), Some(t.root_service.as_str()));
    assert_eq!(trace.root_name(), Some(t.root_name.as_str()));
    assert_eq!(trace.span_count(), t.spans.len());
    assert_eq!(trace.origin_count(), t.origins.len());
    for (span, s) in trace.spans().zip(&t.spans) {
        assert_eq!(span.span_id(), s.id.to_be_bytes());
        assert_eq!(span.parent_span_id(), s.parent.to_be_bytes());
        assert_eq!(span.start_unix_nano(), s.start);
        assert_eq!(span.end_unix_nano(), s.end);
        assert_eq!(span.name(), Some(s.name.as_str()));
        assert_eq!(
            (span.kind(), span.status(), span.flags()),
            (s.kind, s.status, s.flags)
        );
        assert_eq!(span.trace_state(), Some(s.trace_state.as_str()));
        let origin = span.origin().expect("the span's origin");
        let o = &t.origins[s.origin];
        assert_eq!(origin.index(), s.origin);
        assert_eq!(span.service(), Some(o.service.as_str()));
        assert_eq!(origin.scope_name(), Some(o.scope_name.as_str()));
        assert_eq!(origin.scope_version(), Some(o.scope_version.as_str()));
        assert_attrs(origin.resource_attributes(), &o.resource);
        assert_attrs(origin.scope_attributes(), &o.scope);
        assert_attrs(span.attributes(), &s.attributes);
        for (key, _) in &s.attributes {
            let first = s.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v);
            let found = span.attribute(key);
            assert!(matches!((found, first), (Some(a), Some(b)) if same(a, b.wire())));
        }
        assert_eq!(span.attribute("no such key"), None);
    }
    let path = trace.critical_path();
    assert_eq!(
        path.map(|p| p.iter().collect::<Vec<_>>()),
        t.critical_path
            .as_ref()
            .map(|p| p.iter().map(|&i| i as usize).collect())
    );
    assert_eq!(trace.has_parents(), t.parents.is_some());
    for span in trace.spans() {
        let expected = t
            .parents
            .as_ref()
            .and_then(|p| p.get(span.index()).copied().flatten());
        assert_eq!(span.parent_index(), expected.map(|p| p as usize));
    }
}

/// Calls every accessor, as a policy walking the whole buffer would; returns a checksum so
/// nothing is optimized away.
fn walk(trace: &TraceBuf<'_>) -> u64 {
    let mut sum = u64::from(trace.version())
        ^ u64::from(trace.trace_id()[0])
        ^ trace.start_unix_nano()
        ^ trace.end_unix_nano()
        ^ trace.duration_nanos()
        ^ trace.now_nanos()
        ^ trace.randomness()
        ^ trace.estimated_bytes()
        ^ u64::from(trace.error_count())
        ^ u64::from(trace.flags().early)
        ^ trace.baseline().map_or(0, |b| b.p95_nanos)
        ^ trace.root_service().map_or(0, |s| s.len() as u64)
        ^ trace.root_name().map_or(0, |s| s.len() as u64)
        ^ trace.root().map_or(0, |r| r.start_unix_nano())
        ^ trace.root_index().map_or(0, |r| r as u64)
        ^ u64::from(trace.has_parents());
    let _ = format!("{trace:?}");
    for i in 0..trace.string_count() + 2 {
        sum ^= trace.string(i).map_or(0, |s| s.len() as u64);
        sum ^= trace.string_bytes(i).map_or(0, |s| s.len() as u64);
    }
    let attributes = |attrs: tailsift_abi::Attributes<'_>| {
        let mut sum = 0;
        for a in attrs {
            sum ^= a.key().map_or(1, |k| k.len() as u64);
            sum ^= a.key_bytes().map_or(1, |k| k.len() as u64);
            sum ^= match a.value() {
                Some(Value::Str(s)) => s.len() as u64,
                Some(Value::Bytes(b)) => b.len() as u64,
                Some(Value::Int(i)) => i as u64,
                Some(Value::Double(d)) => d.to_bits(),
                Some(v) => v.as_bool().map_or(3, u64::from),
                None => 7,
            };
        }
        sum
    };
    for span in trace.spans() {
        sum ^= span.span_id()[0] as u64 ^ span.parent_span_id()[1] as u64;
        sum ^= span.start_unix_nano() ^ span.end_unix_nano() ^ span.duration_nanos();
        sum ^= span.name().map_or(0, |s| s.len() as u64);
        sum ^= u64::from(span.kind()) ^ u64::from(span.status()) ^ u64::from(span.is_error());
        sum ^= u64::from(span.flags());
        sum ^= span.trace_state().map_or(0, |s| s.len() as u64);
        sum ^= span.service().map_or(0, |s| s.len() as u64);
        sum ^= span.parent_index().map_or(0, |p| p as u64);
        sum ^= span.parent().map_or(0, |p| p.index() as u64);
        sum ^= span.attribute("http.route").map_or(0, |_| 1);
        if let Some(origin) = span.origin() {
            sum ^= attributes(origin.resource_attributes());
            sum ^= attributes(origin.scope_attributes());
        }
        sum ^= attributes(span.attributes());
    }
    assert!(trace.span(trace.span_count()).is_none());
    for i in 0..trace.origin_count() + 1 {
        if let Some(origin) = trace.origin(i) {
            sum ^= origin.service().map_or(0, |s| s.len() as u64);
            sum ^= origin.scope_name().map_or(0, |s| s.len() as u64);
            sum ^= origin.scope_version().map_or(0, |s| s.len() as u64);
            sum ^= origin.resource_attribute("service.name").map_or(0, |_| 1);
            sum ^= attributes(origin.resource_attributes());
            sum ^= attributes(origin.scope_attributes());
        }
    }
    if let Some(path) = trace.critical_path() {
        for i in path.iter() {
            sum ^= trace.span(i).map_or(5, |s| s.end_unix_nano());
        }
        sum ^= path.get(path.len()).map_or(0, |_| 1) ^ u64::from(path.contains(0));
        sum ^= u64::from(path.is_empty());
    }
    sum
}

fn small_trace() -> TraceInput {
    TraceInput {
        trace_id: [9; 16],
        numbers: [10, 20, 10, 30, 0x12_3456, 400],
        error_count: 1,
        root: Some(0),
        flags: [false, true, false, false],
        baseline: Some([1, 2, 3, 4]),
        root_service: "checkout".into(),
        root_name: "PlaceOrder".into(),
        origins: vec![OriginInput {
            service: "checkout".into(),
            scope_name: "otel".into(),
            scope_version: "1.0".into(),
            resource: vec![("service.name".into(), Owned::Str("checkout".into()))],
            scope: vec![],
        }],
        spans: (0..3)
            .map(|i| SpanInput {
                id: i + 1,
                parent: i,
                start: 10 + i,
                end: 20,
                name: "PlaceOrder".into(),
                kind: 2,
                status: if i == 1 { 2 } else { 0 },
                flags: 1,
                origin: 0,
                trace_state: String::new(),
                attributes: vec![
                    ("http.route".into(), Owned::Str("/cart".into())),
                    ("retries".into(), Owned::Int(i as i64)),
                ],
            })
            .collect(),
        critical_path: Some(vec![0, 2]),
        parents: Some(vec![None, Some(0), Some(1)]),
    }
}

#[test]
fn a_small_trace_reads_back_as_written() {
    let t = small_trace();
    let mut encoder = Encoder::new();
    let bytes = encode(&mut encoder, &t).to_vec();
    let trace = TraceBuf::parse(&bytes).expect("a fresh buffer parses");
    assert_round_trip(&t, &trace);
    walk(&trace);
}

/// Every string of a parsed buffer, as it reads.
fn strings(trace: &TraceBuf<'_>) -> Vec<Option<String>> {
    (0..trace.string_count())
        .map(|i| trace.string(i).map(str::to_owned))
        .collect()
}

/// Checks that the strings read `after` are those read `before`, except those in `bad`, which
/// read as `None`.
fn assert_only_bad_strings_changed(
    before: &[Option<String>],
    after: &[Option<String>],
    bad: &[usize],
) {
    assert_eq!(before.len(), after.len());
    for (i, (b, a)) in before.iter().zip(after).enumerate() {
        if bad.contains(&i) {
            assert_eq!(a, &None, "string {i} is bad");
        } else {
            assert_eq!(a, b, "string {i}");
        }
    }
}

/// `t` encoded, its strings as they read, and the index of `string` among them.
fn encoded_with_string(t: &TraceInput, string: &str) -> (Vec<u8>, Vec<Option<String>>, usize) {
    let mut encoder = Encoder::new();
    let bytes = encode(&mut encoder, t).to_vec();
    let read = strings(&TraceBuf::parse(&bytes).unwrap());
    let index = read
        .iter()
        .position(|s| s.as_deref() == Some(string))
        .unwrap();
    (bytes, read, index)
}

/// Where string `index` starts, as the string offsets section of `bytes` holds it.
fn string_offset_at(bytes: &[u8], index: usize) -> usize {
    let offsets = u32::from_le_bytes(bytes[136..140].try_into().unwrap()) as usize;
    offsets + index * 4
}

#[test]
fn a_string_cut_inside_a_character_reads_as_none_and_the_others_still_read() {
    let mut t = small_trace();
    // The first span's name: strings after it follow in the table.
    t.spans[0].name = "h\u{e9}llo".into();
    let (mut bytes, before, k) = encoded_with_string(&t, "h\u{e9}llo");
    // String k ends, and string k + 1 starts, between the two bytes of the "é": the string
    // bytes are still valid UTF-8 as a whole, the two strings are not.
    let at = string_offset_at(&bytes, k + 1);
    let start = u32::from_le_bytes(bytes[at - 4..at].try_into().unwrap());
    bytes[at..at + 4].copy_from_slice(&(start + 2).to_le_bytes());
    let trace = TraceBuf::parse(&bytes).expect("the offsets are still in order");
    assert_only_bad_strings_changed(&before, &strings(&trace), &[k, k + 1]);
    let first = trace.spans().next().unwrap();
    assert_eq!(first.name(), None);
    assert!(before[k + 1].is_some(), "a string after it, cut too");
    assert_eq!(first.attribute("retries"), Some(Value::Int(0)));
    assert_eq!(trace.root_service(), Some("checkout"));
}

#[test]
fn a_string_of_bad_utf8_reads_as_none_and_the_others_still_read() {
    let (mut bytes, before, k) = encoded_with_string(&small_trace(), "/cart");
    let string_bytes = u32::from_le_bytes(bytes[144..148].try_into().unwrap()) as usize;
    let at = string_offset_at(&bytes, k);
    let start = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    bytes[string_bytes + start] = 0xff;
    let trace = TraceBuf::parse(&bytes).expect("UTF-8 is left to the accessors");
    assert_only_bad_strings_changed(&before, &strings(&trace), &[k]);
    let span = trace.spans().next().unwrap();
    assert_eq!(
        span.attribute("http.route"),
        None,
        "the value's string is bad"
    );
    assert_eq!(span.attribute("retries"), Some(Value::Int(0)));
    assert_eq!(span.name(), Some("PlaceOrder"));
}

#[test]
fn header_fields_sit_where_the_layout_table_says() {
    let t = small_trace();
    let mut encoder = Encoder::new();
    let bytes = encode(&mut encoder, &t);
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    assert_eq!(&bytes[..4], b"TSTV");
    assert_eq!(u16::from_le_bytes([bytes[4], bytes[5]]), 1);
    assert_eq!(
        u16::from_le_bytes([bytes[6], bytes[7]]) as usize,
        HEADER_LEN
    );
    assert_eq!(HEADER_LEN, 288);
    assert_eq!(u32_at(8), 19);
    assert_eq!(&bytes[16..32], &[9; 16]);
    assert_eq!(u64_at(32), 10);
    assert_eq!(u64_at(64), 0x12_3456);
    assert_eq!(u32_at(84), 0, "root index");
    assert_eq!(u32_at(88), 0b10, "early");
    assert_eq!(u32_at(92), 0b111, "baseline, critical path, parents");
    assert_eq!(u64_at(104), 2, "p95");
    // The first section (string offsets) starts right after the header; span starts
    // (section 4) hold the spans' starts.
    assert_eq!(u32_at(136), 288);
    let (starts, count) = (u32_at(136 + 4 * 8) as usize, u32_at(136 + 4 * 8 + 4));
    assert_eq!(count, 3);
    assert_eq!(starts % 8, 0);
    assert_eq!(u64_at(starts + 8), 11);
}

#[test]
fn another_version_is_refused_with_the_version_error() {
    let mut encoder = Encoder::new();
    let mut bytes = encode(&mut encoder, &small_trace()).to_vec();
    bytes[4..6].copy_from_slice(&2u16.to_le_bytes());
    let err = TraceBuf::parse(&bytes).unwrap_err();
    assert_eq!(
        err,
        DecodeError::UnsupportedVersion {
            found: 2,
            supported: 1
        }
    );
    assert!(
        err.to_string().contains("version 2 is not supported"),
        "{err}"
    );
    // Even when the rest of the header is too short for version 1.
    assert!(matches!(
        TraceBuf::parse(&bytes[..8]),
        Err(DecodeError::UnsupportedVersion { found: 2, .. })
    ));
}

#[test]
fn a_truncated_header_is_refused() {
    let mut encoder = Encoder::new();
    let bytes = encode(&mut encoder, &small_trace()).to_vec();
    for len in [0, 3, 5, 7, 11, 100, HEADER_LEN - 1] {
        let err = TraceBuf::parse(&bytes[..len]).unwrap_err();
        assert_eq!(
            err,
            DecodeError::Truncated {
                needed: HEADER_LEN,
                len
            },
            "cut at {len}"
        );
        assert!(err.to_string().contains("truncated"));
    }
    // Cut inside the sections: the header is whole, a section is not.
    assert!(matches!(
        TraceBuf::parse(&bytes[..bytes.len() - 1]),
        Err(DecodeError::SectionOutOfBounds { .. })
    ));
}

#[test]
fn wrong_magic_and_malformed_header_are_refused() {
    let mut encoder = Encoder::new();
    let bytes = encode(&mut encoder, &small_trace()).to_vec();
    let mut bad = bytes.clone();
    bad[0] = b'X';
    assert!(matches!(
        TraceBuf::parse(&bad),
        Err(DecodeError::BadMagic { .. })
    ));
    let mut bad = bytes.clone();
    bad[8] = 18;
    assert!(matches!(
        TraceBuf::parse(&bad),
        Err(DecodeError::BadHeader {
            section_count: 18,
            ..
        })
    ));
    // Span starts (section 4) moved off the 8-byte grid.
    let mut bad = bytes.clone();
    bad[136 + 32] += 4;
    assert!(matches!(
        TraceBuf::parse(&bad),
        Err(DecodeError::Misaligned { .. })
    ));
}

#[test]
fn steady_state_encoding_does_not_grow_the_encoder() {
    let mut encoder = Encoder::new();
    let first = small_trace();
    encode(&mut encoder, &first);
    let capacity = encoder.capacity_bytes();
    assert!(capacity > 0);
    // Another trace of the same shape, different values.
    let mut second = first.clone();
    second.trace_id = [3; 16];
    for (i, s) in second.spans.iter_mut().enumerate() {
        s.id += 100;
        s.start += 1_000;
        s.attributes[1].1 = Owned::Int(i as i64 * 7);
    }
    for _ in 0..3 {
        encode(&mut encoder, &second);
        assert_eq!(encoder.capacity_bytes(), capacity);
        encode(&mut encoder, &first);
        assert_eq!(encoder.capacity_bytes(), capacity);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn what_is_encoded_is_decoded(t in any_trace()) {
        let mut encoder = Encoder::new();
        // Twice through one encoder: reuse must not leak the previous trace into the next.
        encode(&mut encoder, &small_trace());
        let bytes = encode(&mut encoder, &t).to_vec();
        let trace = TraceBuf::parse(&bytes).expect("a fresh buffer parses");
        assert_round_trip(&t, &trace);
        walk(&trace);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(trace) = TraceBuf::parse(&bytes) {
            walk(&trace);
        }
    }

    #[test]
    fn a_valid_header_over_arbitrary_sections_never_panics(
        spans in 0u32..4,
        attributes in 0u32..6,
        strings in 1u32..6,
        string_bytes in 0u32..24,
        origins in 0u32..3,
        path in 0u32..4,
        offsets in proptest::collection::vec(0u32..300, 19),
        // Mostly zeros, so that offset columns are often in order and the buffer parses.
        rest in proptest::collection::vec(prop_oneof![24 => Just(0u8), 2 => 0u8..3, 1 => any::<u8>()], 500..800),
    ) {
        // The header of a buffer with a baseline, a critical path and parent indices.
        let mut encoder = Encoder::new();
        let mut bytes = encode(&mut encoder, &small_trace())[..HEADER_LEN].to_vec();
        let counts = [
            strings, string_bytes, spans, spans, spans, spans, spans, spans, spans, spans, spans,
            spans, spans + 1, attributes, attributes, attributes, origins, path, spans,
        ];
        for (i, (offset, count)) in offsets.iter().zip(counts).enumerate() {
            let at = 136 + i * 8;
            let offset = HEADER_LEN as u32 + (offset & !7);
            bytes[at..at + 4].copy_from_slice(&offset.to_le_bytes());
            bytes[at + 4..at + 8].copy_from_slice(&count.to_le_bytes());
        }
        bytes.extend_from_slice(&rest);
        if let Ok(trace) = TraceBuf::parse(&bytes) {
            walk(&trace);
        }
    }

    #[test]
    fn mutated_or_truncated_buffers_never_panic(
        t in any_trace(),
        mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut encoder = Encoder::new();
        let mut bytes = encode(&mut encoder, &t).to_vec();
        for (at, byte) in mutations {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        if let Ok(trace) = TraceBuf::parse(&bytes) {
            walk(&trace);
        }
    }
}
