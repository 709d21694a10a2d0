//! The scalar rules of the protobuf JSON mapping, as OTLP/JSON amends them, for reading:
//! `null` as the default, integers as numbers or decimal strings (range-checked), doubles as
//! numbers or `"NaN"`/`"Infinity"` strings, bytes as base64 in either alphabet, ids as hex,
//! enums as integers (or, leniently, their names).

use std::fmt;
use std::marker::PhantomData;

use base64::Engine as _;
use opentelemetry_proto::tonic::trace::v1 as trace;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};

/// `null` or a list.
pub(super) fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// `null` or a string.
pub(super) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// `null` or an integer: a JSON number, or a decimal string (how 64-bit integers are written).
pub(super) fn int<'de, D: Deserializer<'de>, T: IntTarget>(d: D) -> Result<T, D::Error> {
    Ok(Option::<Int<T>>::deserialize(d)?.map_or_else(T::default, |i| i.0))
}

/// `null` or hex-encoded bytes, either case (trace and span ids).
pub(super) fn hex<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let Some(s) = Option::<std::borrow::Cow<'de, str>>::deserialize(d)? else {
        return Ok(Vec::new());
    };
    decode_hex(&s).ok_or_else(|| {
        de::Error::custom(format_args!(
            "invalid id {s:?}: trace and span ids are hex strings (32 and 16 hex digits)"
        ))
    })
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if s.len() % 2 != 0 {
        return None;
    }
    s.chunks_exact(2)
        .map(|pair| Some(hex_digit(pair[0])? << 4 | hex_digit(pair[1])?))
        .collect()
}

/// The value of one hex digit, either case.
pub(super) fn hex_digit(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

pub(super) fn span_kind<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    enum_value(d, |name| {
        trace::span::SpanKind::from_str_name(name).map(|k| k as i32)
    })
}

pub(super) fn status_code<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    enum_value(d, |name| {
        trace::status::StatusCode::from_str_name(name).map(|c| c as i32)
    })
}

/// An enum: an integer as OTLP/JSON writes it. The protobuf JSON mapping's name strings
/// (`"SPAN_KIND_SERVER"`) are not valid OTLP/JSON, but some producers write them and their
/// meaning is unambiguous, so they are read too.
fn enum_value<'de, D: Deserializer<'de>>(
    d: D,
    by_name: fn(&str) -> Option<i32>,
) -> Result<i32, D::Error> {
    match Option::<IntOrName>::deserialize(d)? {
        None => Ok(0),
        Some(IntOrName::Int(i)) => Ok(i.0),
        Some(IntOrName::Name(name)) => by_name(&name).ok_or_else(|| {
            de::Error::custom(format_args!(
                "unknown enum value {name:?}; OTLP/JSON writes enums as integers"
            ))
        }),
    }
}

enum IntOrName {
    Int(Int<i32>),
    Name(String),
}

impl<'de> Deserialize<'de> for IntOrName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<IntOrName, D::Error> {
        d.deserialize_any(IntOrNameVisitor)
    }
}

struct IntOrNameVisitor;

impl<'de> Visitor<'de> for IntOrNameVisitor {
    type Value = IntOrName;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an enum value (an integer)")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<IntOrName, E> {
        IntVisitor::<i32>(PhantomData)
            .visit_i64(v)
            .map(IntOrName::Int)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<IntOrName, E> {
        IntVisitor::<i32>(PhantomData)
            .visit_u64(v)
            .map(IntOrName::Int)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<IntOrName, E> {
        IntVisitor::<i32>(PhantomData)
            .visit_f64(v)
            .map(IntOrName::Int)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<IntOrName, E> {
        match IntVisitor::<i32>(PhantomData).visit_str::<E>(v) {
            Ok(i) => Ok(IntOrName::Int(i)),
            Err(_) => Ok(IntOrName::Name(v.to_owned())),
        }
    }
}

/// The integer types of the trace messages.
pub(super) trait IntTarget: TryFrom<i128> + Default + Copy {
    const NAME: &'static str;
}

impl IntTarget for i32 {
    const NAME: &'static str = "a 32-bit signed integer";
}
impl IntTarget for u32 {
    const NAME: &'static str = "a 32-bit unsigned integer";
}
impl IntTarget for i64 {
    const NAME: &'static str = "a 64-bit signed integer";
}
impl IntTarget for u64 {
    const NAME: &'static str = "a 64-bit unsigned integer";
}

/// An integer written as a JSON number or a decimal string, range-checked.
pub(super) struct Int<T>(pub(super) T);

impl<'de, T: IntTarget> Deserialize<'de> for Int<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Int<T>, D::Error> {
        d.deserialize_any(IntVisitor(PhantomData))
    }
}

struct IntVisitor<T>(PhantomData<T>);

impl<T: IntTarget> IntVisitor<T> {
    fn fit<E: de::Error>(v: i128, shown: &dyn fmt::Display) -> Result<Int<T>, E> {
        T::try_from(v)
            .map(Int)
            .map_err(|_| E::custom(format_args!("{shown} is out of range for {}", T::NAME)))
    }
}

impl<'de, T: IntTarget> Visitor<'de> for IntVisitor<T> {
    type Value = Int<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (a number or a decimal string)", T::NAME)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int<T>, E> {
        Self::fit(v.into(), &v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int<T>, E> {
        Self::fit(v.into(), &v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Int<T>, E> {
        // The protobuf JSON mapping accepts integral numbers in exponent form (`1e3`).
        if v.fract() == 0.0 && v.abs() < 1.9e19 {
            Self::fit(v as i128, &v)
        } else {
            Err(E::custom(format_args!("{v} is not {}", T::NAME)))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Int<T>, E> {
        match v.parse::<i128>() {
            Ok(i) => Self::fit(i, &format_args!("{v:?}")),
            Err(_) => Err(E::custom(format_args!("{v:?} is not {}", T::NAME))),
        }
    }
}

/// A double: a JSON number, or a string (`"NaN"`, `"Infinity"`, `"-Infinity"`, or a number).
pub(super) struct Double(pub(super) f64);

impl<'de> Deserialize<'de> for Double {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Double, D::Error> {
        d.deserialize_any(DoubleVisitor)
    }
}

struct DoubleVisitor;

impl<'de> Visitor<'de> for DoubleVisitor {
    type Value = Double;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a double (a number, \"NaN\", \"Infinity\" or \"-Infinity\")")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Double, E> {
        Ok(Double(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Double, E> {
        Ok(Double(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Double, E> {
        Ok(Double(v as f64))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Double, E> {
        match v {
            "NaN" => Ok(Double(f64::NAN)),
            "Infinity" => Ok(Double(f64::INFINITY)),
            "-Infinity" => Ok(Double(f64::NEG_INFINITY)),
            _ => v
                .parse::<f64>()
                .ok()
                .filter(|d| d.is_finite())
                .map(Double)
                .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self)),
        }
    }
}

/// Bytes as base64: the standard or the URL-safe alphabet, padded or not (the protobuf JSON
/// mapping accepts all four).
pub(super) struct Bytes(pub(super) Vec<u8>);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        use base64::engine::{general_purpose, DecodePaddingMode, GeneralPurpose};
        const CONFIG: general_purpose::GeneralPurposeConfig =
            general_purpose::GeneralPurposeConfig::new()
                .with_decode_padding_mode(DecodePaddingMode::Indifferent);
        const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, CONFIG);
        const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, CONFIG);
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        let engine = if s.contains(['-', '_']) {
            &URL_SAFE
        } else {
            &STANDARD
        };
        engine
            .decode(s.as_bytes())
            .map(Bytes)
            .map_err(|e| de::Error::custom(format_args!("invalid base64 in bytesValue: {e}")))
    }
}
