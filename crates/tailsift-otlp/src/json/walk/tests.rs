//! The OTLP/JSON walk against the mirrors and `convert`. The walk takes what writers write,
//! with keys in any order, and gives the same spans; what it declines, and any damage to the
//! text, ends as the mirrors and `convert` end it.

use proptest::prelude::*;
use serde_json::Value as Json;
use tailsift::Value;

use super::*;
use crate::common;
use crate::json::{append_spans_from_slice, from_slice, spans_from_slice, to_string, JsonError};
use crate::spans_from_request;

/// What the mirrors and `convert` make of `json`: the spans, or the error's text.
fn by_mirror(json: &[u8], interner: &Interner) -> Result<Vec<Span>, String> {
    let request = from_slice(json).map_err(|e| JsonError::Parse(e).to_string())?;
    spans_from_request(&request, interner).map_err(|e| JsonError::Convert(e).to_string())
}

/// What the walk alone makes of `json`: `None` where it declines.
fn walked(json: &[u8], interner: &Interner) -> Option<Vec<Span>> {
    let mut out = Vec::new();
    walk(json, interner, &mut out).ok()?;
    Some(out)
}

/// `spans_from_slice` as a comparable result.
fn read(json: &[u8], interner: &Interner) -> Result<Vec<Span>, String> {
    spans_from_slice(json, interner).map_err(|e| e.to_string())
}

/// The walk takes `json`, and it and `spans_from_slice` give what the mirrors give.
fn assert_walked_as_mirror(json: &str) {
    let interner = Interner::default();
    let expected = by_mirror(json.as_bytes(), &interner).expect("a valid request");
    assert_eq!(
        walked(json.as_bytes(), &interner).expect("the walk takes it"),
        expected
    );
    assert_eq!(read(json.as_bytes(), &interner), Ok(expected));
}

/// The walk declines `json`, and `spans_from_slice` gives what the mirrors give.
fn assert_declined_as_mirror(json: &str) {
    let interner = Interner::default();
    assert!(
        walked(json.as_bytes(), &interner).is_none(),
        "the walk declines {json}"
    );
    assert_eq!(
        read(json.as_bytes(), &interner),
        by_mirror(json.as_bytes(), &interner)
    );
}

/// `span` (the fields of one span object) in a request of one resource and one scope.
fn one_span(span: &str) -> String {
    format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{span}]}}]}}]}}"#)
}

const IDS: &str = r#""traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174""#;

/// A span with `fields` besides its ids.
fn span_with(fields: &str) -> String {
    one_span(&format!("{{{IDS},{fields}}}"))
}

/// `json` written again with every object's keys in reverse order.
fn reversed(json: &Json) -> String {
    match json {
        Json::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.reverse();
            let fields: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Json::String(k.clone()), reversed(v)))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Json::Array(items) => {
            let items: Vec<String> = items.iter().map(reversed).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_walk_takes_what_writers_write_and_gives_what_the_mirrors_give(
        request in common::request(),
    ) {
        let json = to_string(&request);
        let interner = Interner::default();
        let expected = by_mirror(json.as_bytes(), &interner).expect("a valid request");
        prop_assert_eq!(walked(json.as_bytes(), &interner), Some(expected.clone()));
        prop_assert_eq!(read(json.as_bytes(), &interner), Ok(expected));
    }

    #[test]
    fn keys_in_another_order_give_the_same_spans(request in common::request()) {
        // Schema URLs before their spans, resources after their scopes, values before their
        // keys, ids last.
        let json = to_string(&request);
        let parsed: Json = serde_json::from_str(&json).expect("valid JSON");
        let other = reversed(&parsed);
        let interner = Interner::default();
        let expected = by_mirror(json.as_bytes(), &interner).expect("a valid request");
        prop_assert_eq!(walked(other.as_bytes(), &interner), Some(expected.clone()));
        prop_assert_eq!(read(other.as_bytes(), &interner), Ok(expected));
    }

    #[test]
    fn damaged_text_ends_as_the_mirrors_end_it(
        request in common::request(),
        damage in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>()), 1..4),
    ) {
        let mut json = to_string(&request).into_bytes();
        for (at, how, byte) in damage {
            let i = at.index(json.len().max(1));
            match how {
                0 if i < json.len() => json[i] ^= byte | 1,
                1 if i < json.len() => { json.remove(i); }
                2 => json.insert(i.min(json.len()), byte),
                _ => json.truncate(i),
            }
        }
        let interner = Interner::default();
        // By their text: a damaged double may be NaN, which is not equal to itself.
        let text = |r: Result<Vec<Span>, String>| format!("{r:?}");
        prop_assert_eq!(text(read(&json, &interner)), text(by_mirror(&json, &interner)));
        if let Some(spans) = walked(&json, &interner) {
            prop_assert_eq!(text(Ok(spans)), text(by_mirror(&json, &interner)));
        }
    }
}

#[test]
fn spans_share_their_origin_as_convert_makes_them() {
    let json = r#"{"resourceSpans":[{"scopeSpans":[
        {"scope":{"name":"a"},"spans":[{IDS},{IDS}],"schemaUrl":"s1"},
        {"scope":{"name":"b"},"spans":[{IDS}]}],
        "resource":{"attributes":[{"key":"service.name","value":{"stringValue":"cart"}}]},
        "schemaUrl":"r"}]}"#
        .replace("{IDS}", &format!("{{{IDS}}}"));
    assert_walked_as_mirror(&json);
    let spans = walked(json.as_bytes(), &Interner::default()).unwrap();
    assert!(Arc::ptr_eq(&spans[0].origin, &spans[1].origin));
    assert!(!Arc::ptr_eq(&spans[0].origin, &spans[2].origin));
    assert!(Arc::ptr_eq(
        &spans[0].origin.resource,
        &spans[2].origin.resource
    ));
    assert_eq!(spans[0].origin.scope.schema_url, "s1");
    assert_eq!(spans[2].origin.scope.name, "b");
    assert_eq!(spans[2].origin.resource.schema_url, "r");
    assert_eq!(spans[2].service_name(), "cart");
}

#[test]
fn what_the_mapping_allows_a_parser_to_accept_is_taken() {
    // Integers as numbers and as strings, exponent form, enum names, upper-case hex, base64
    // in the URL-safe alphabet without padding, doubles as strings, and null for any field.
    assert_walked_as_mirror(&one_span(
        r#"{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
            "parentSpanId":"00f067aa0ba902b7","kind":"SPAN_KIND_SERVER","flags":"257",
            "startTimeUnixNano":1e3,"endTimeUnixNano":"2000","droppedAttributesCount":3,
            "status":{"code":"STATUS_CODE_ERROR","message":"boom"},
            "attributes":[
                {"key":"b","value":{"bytesValue":"-_8"}},
                {"key":"d","value":{"doubleValue":"Infinity"}},
                {"key":"n","value":{"doubleValue":"-Infinity","stringValue":null}},
                {"key":"i","value":{"intValue":7}},
                {"key":"e","value":{}},
                {"key":"z","value":null},
                {"key":"t","value":{"boolValue":true}},
                {"key":"x","value":{"stringValue":"a \"quoted\" \u00e9 value"}},
                {"value":null}
            ],
            "events":[{"timeUnixNano":"5","name":"exception","attributes":null}],
            "links":[{"traceId":"5b8efff798038103d269b633813fc60c",
                      "spanId":"eee19b7ec3c1b174","traceState":"k=v","flags":1}],
            "traceState":null,"name":null,"unknownField":{"nested":[1,2,{"x":null}]}}"#,
    ));
    // No parent: null, or the empty string.
    assert_walked_as_mirror(&span_with(r#""parentSpanId":null"#));
    assert_walked_as_mirror(&span_with(r#""parentSpanId":"""#));
    // Null messages and lists.
    assert_walked_as_mirror(
        &r#"{"resourceSpans":[{"resource":null,"scopeSpans":[{"scope":null,"spans":[{S}],
            "schemaUrl":null}],"schemaUrl":null}],"other":1}"#
            .replace("{S}", &format!("{{{IDS},\"events\":null,\"status\":null}}")),
    );
    // A request without spans.
    assert_walked_as_mirror(r#"{"resourceSpans":[]}"#);
    assert_walked_as_mirror(r#"{"resourceSpans":null}"#);
    assert_walked_as_mirror(r#"{}"#);
}

#[test]
fn resources_and_entities_are_read_whole() {
    assert_walked_as_mirror(
        &r#"{"resourceSpans":[{"resource":{"attributes":[
                {"key":"service.name","value":{"stringValue":"a long service name here"}},
                {"key":"k8s","value":{"kvlistValue":{"values":[{"key":"pod","value":{"arrayValue":{"values":[{"intValue":"1"}]}}}]}}}],
              "droppedAttributesCount":2,
              "entityRefs":[{"schemaUrl":"u","type":"service","idKeys":["service.name"],
                             "descriptionKeys":null}]},
            "scopeSpans":[{"scope":{"name":"io.opentelemetry.jdbc","version":"2.1.0",
                "attributes":[{"key":"a","value":{"stringValue":"a long scope attribute value"}}],
                "droppedAttributesCount":1},"spans":[{S}]}]}]}"#
            .replace("{S}", &format!("{{{IDS}}}")),
    );
}

#[test]
fn what_the_mirrors_reject_or_convert_drops_is_left_to_them() {
    // A field given twice; two values in one AnyValue; a key written with escapes.
    assert_declined_as_mirror(&span_with(r#""name":"a","name":"b""#));
    assert_declined_as_mirror(&span_with(
        r#""attributes":[{"key":"k","value":{"stringValue":"a","intValue":1}}]"#,
    ));
    assert_declined_as_mirror(&span_with(r#""na\u006de":"escaped""#));
    assert_declined_as_mirror(&one_span(&format!(
        "{{{IDS},\"spanId\":\"eee19b7ec3c1b174\"}}"
    )));
    // Ids: the wrong length, not hex, absent, null.
    assert_declined_as_mirror(&one_span(
        r#"{"traceId":"5b8e","spanId":"eee19b7ec3c1b174"}"#,
    ));
    assert_declined_as_mirror(&one_span(
        r#"{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b17g"}"#,
    ));
    assert_declined_as_mirror(&one_span(r#"{"spanId":"eee19b7ec3c1b174"}"#));
    assert_declined_as_mirror(&one_span(r#"{"traceId":null,"spanId":"eee19b7ec3c1b174"}"#));
    assert_declined_as_mirror(&span_with(r#""parentSpanId":"00f067aa""#));
    assert_declined_as_mirror(&span_with(
        r#""links":[{"traceId":"5b8efff798038103d269b633813fc60c"}]"#,
    ));
    // A scope or a resource without spans (convert drops them).
    assert_declined_as_mirror(
        &r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{S}]},{"scope":{"name":"x"}}]}]}"#
            .replace("{S}", &format!("{{{IDS}}}")),
    );
    assert_declined_as_mirror(r#"{"resourceSpans":[{"resource":{}}]}"#);
    // The profiles-only fields (convert warns of them).
    assert_declined_as_mirror(&span_with(r#""attributes":[{"key":"k","keyStrindex":3}]"#));
    assert_declined_as_mirror(&span_with(
        r#""attributes":[{"key":"k","value":{"stringValueStrindex":0}}]"#,
    ));
    // A message written as an array, which serde reads as a struct.
    assert_declined_as_mirror(r#"{"resourceSpans":[[null,[]]]}"#);
    // Malformed text, the wrong types, numbers out of range, trailing characters.
    for json in [
        "",
        "{",
        "[]",
        r#"{"resourceSpans":{}}"#,
        &span_with(r#""kind":"SPAN_KIND_NONSENSE""#),
        &span_with(r#""flags":4294967296"#),
        &span_with(r#""startTimeUnixNano":-1"#),
        &span_with(r#""attributes":[{"key":"b","value":{"bytesValue":"%%%"}}]"#),
        &span_with(r#""attributes":[{"key":"b","value":{"arrayValue":{"values":[null]}}}]"#),
        &span_with(r#""name":1"#),
        &format!("{} x", span_with(r#""name":"a""#)),
    ] {
        assert_declined_as_mirror(json);
    }
}

#[test]
fn deep_values_are_left_to_the_mirrors() {
    let nested = |depth: usize| {
        let mut value = r#"{"intValue":"1"}"#.to_owned();
        for _ in 0..depth {
            value = format!(r#"{{"arrayValue":{{"values":[{value}]}}}}"#);
        }
        span_with(&format!(
            r#""attributes":[{{"key":"deep","value":{value}}}]"#
        ))
    };
    assert_walked_as_mirror(&nested(MAX_DEPTH - 1));
    assert_declined_as_mirror(&nested(MAX_DEPTH));
    // Deeper than serde_json's own limit: its error, and no overflow.
    assert_declined_as_mirror(&nested(200));
}

#[test]
fn appending_keeps_what_was_there_on_error() {
    let interner = Interner::default();
    let mut out = spans_from_slice(span_with(r#""name":"kept""#).as_bytes(), &interner).unwrap();
    let bad = span_with(r#""links":[{"traceId":"00"}]"#);
    assert!(matches!(
        append_spans_from_slice(bad.as_bytes(), &interner, &mut out),
        Err(JsonError::Parse(_) | JsonError::Convert(_))
    ));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].name, "kept");
}

#[test]
fn lists_are_as_long_as_their_contents_as_convert_makes_them() {
    let json = span_with(
        r#""events":[{"name":"exception","attributes":[
                {"key":"exception.type","value":{"stringValue":"java.io.IOException"}},
                {"key":"exception.message","value":{"stringValue":"connection reset"}},
                {"key":"exception.stacktrace","value":{"stringValue":"at Foo.bar(Foo.java:1)"}}]}],
            "links":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
                      "attributes":[{"key":"a","value":{"stringValue":"b"}}]}],
            "attributes":[{"key":"list","value":{"arrayValue":{"values":[{"stringValue":"x"}]}}}]"#,
    );
    assert_walked_as_mirror(&json);
    let spans = walked(json.as_bytes(), &Interner::default()).unwrap();
    let by_convert = by_mirror(json.as_bytes(), &Interner::default()).unwrap();
    let (w, c) = (
        spans[0].extra.as_ref().unwrap(),
        by_convert[0].extra.as_ref().unwrap(),
    );
    assert_eq!(w.events.capacity(), c.events.capacity());
    assert_eq!(w.events.capacity(), 1);
    assert_eq!(w.events[0].attributes.capacity(), 3);
    assert_eq!(w.links.capacity(), 1);
    assert_eq!(w.links[0].attributes.capacity(), 1);
    let Value::Array(values) = &spans[0].attributes[0].value else {
        panic!("an array")
    };
    assert_eq!(values.capacity(), 1);
}

#[test]
fn names_and_keys_are_interned_and_values_held_by_their_key_s_rule() {
    let interner = Interner::default();
    let json = span_with(
        r#""name":"GET /api/cart","attributes":[
            {"key":"http.route","value":{"stringValue":"/api/cart/{id}/items"}},
            {"key":"url.full","value":{"stringValue":"https://shop.example/api/cart/7/items"}}]"#,
    );
    let first = walked(json.as_bytes(), &interner).unwrap();
    let second = walked(json.as_bytes(), &interner).unwrap();
    let (a, b) = (&first[0], &second[0]);
    assert!(a.name.is_immortal() && a.attributes[0].key.is_immortal());
    let text = |s: &Span, i: usize| match &s.attributes[i].value {
        Value::Str(t) => t.clone(),
        other => panic!("a string, not {other:?}"),
    };
    assert!(text(a, 0).is_immortal(), "a route is low-cardinality");
    assert!(!text(a, 1).is_immortal(), "a URL is a copy of its own");
    assert_eq!(text(a, 0).as_str().as_ptr(), text(b, 0).as_str().as_ptr());

    // A value before its key is held by its key's rule all the same.
    let json = span_with(
        r#""attributes":[{"value":{"stringValue":"/api/cart/{id}/items"},"key":"http.route"},
            {"value":{"stringValue":"https://shop.example/api/cart/7/items"},"key":"url.full"}]"#,
    );
    assert_walked_as_mirror(&json);
    let spans = walked(json.as_bytes(), &interner).unwrap();
    assert_eq!(
        text(&spans[0], 0).as_str().as_ptr(),
        text(a, 0).as_str().as_ptr()
    );
    assert!(!text(&spans[0], 1).is_immortal());
}
