//! JSON value semantics shared by the filter, JSONPath, sort and distinct stages:
//! numeric comparison across integer and float forms, deep equality, truthiness, one
//! total order for sorting, and canonical JSON text for deduplication.

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

/// Compares two JSON numbers by value: exactly when both are integers, else as `f64`.
pub(crate) fn number_cmp(a: &Number, b: &Number) -> Option<Ordering> {
    match (as_i128(a), as_i128(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

fn as_i128(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

/// Deep equality where numbers compare by value (`1 == 1.0`).
pub(crate) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_cmp(x, y) == Some(Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// Truthiness of a value used as a condition: `null`, `false`, `0`, `""`, `[]` and `{}`
/// are false; everything else is true.
pub(crate) fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn type_rank(value: &Value) -> u8 {
    match value {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// A total order over JSON values: `null < bool < number < string < array < object`.
/// Numbers compare by value, strings by code point, arrays element by element (a prefix
/// first), objects by their key-sorted `(key, value)` pairs.
pub(crate) fn total_cmp(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => number_cmp(x, y).unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => x
            .iter()
            .zip(y)
            .map(|(p, q)| total_cmp(p, q))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        (Value::Object(x), Value::Object(y)) => {
            let (xs, ys) = (sorted_entries(x), sorted_entries(y));
            xs.iter()
                .zip(&ys)
                .map(|((kx, vx), (ky, vy))| kx.cmp(ky).then_with(|| total_cmp(vx, vy)))
                .find(|o| o.is_ne())
                .unwrap_or_else(|| xs.len().cmp(&ys.len()))
        }
        _ => type_rank(a).cmp(&type_rank(b)),
    }
}

fn sorted_entries(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|p, q| p.0.cmp(q.0));
    entries
}

/// Canonical JSON text of a value: object keys sorted, no whitespace, and a float with
/// an integral value within ±2^53 written as an integer, so that `1` and `1.0` are the
/// same text. Two values have the same canonical text when they are equal as data.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null | Value::Bool(_) | Value::String(_) => out.push_str(&value.to_string()),
        Value::Number(n) => out.push_str(&canonical_number(n)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in sorted_entries(map).into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
    }
}

fn canonical_number(n: &Number) -> String {
    const MAX_EXACT: f64 = 9_007_199_254_740_992.0;
    match n.as_f64() {
        Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() <= MAX_EXACT => {
            // In range, so the conversion is exact.
            format!("{}", f as i64)
        }
        _ => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn num(v: Value) -> Number {
        match v {
            Value::Number(n) => n,
            other => panic!("not a number: {other}"),
        }
    }

    #[test]
    fn numbers_compare_by_value_across_forms() {
        assert_eq!(
            number_cmp(&num(json!(1)), &num(json!(1.0))),
            Some(Ordering::Equal)
        );
        assert_eq!(
            number_cmp(&num(json!(-1)), &num(json!(u64::MAX))),
            Some(Ordering::Less)
        );
        assert_eq!(
            number_cmp(&num(json!(2.5)), &num(json!(2))),
            Some(Ordering::Greater)
        );
    }

    #[test]
    fn deep_equality_is_numeric_inside_containers() {
        assert!(json_equal(&json!({"a": [1, 2.0]}), &json!({"a": [1.0, 2]})));
        assert!(!json_equal(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!json_equal(&json!([1]), &json!([1, 2])));
        assert!(!json_equal(&json!("1"), &json!(1)));
    }

    #[test]
    fn truthiness() {
        for falsy in [
            json!(null),
            json!(false),
            json!(0),
            json!(""),
            json!([]),
            json!({}),
        ] {
            assert!(!truthy(&falsy), "{falsy}");
        }
        for truthy_value in [
            json!(true),
            json!(-1),
            json!("x"),
            json!([0]),
            json!({"a": 0}),
        ] {
            assert!(truthy(&truthy_value), "{truthy_value}");
        }
    }

    #[test]
    fn total_order_ranks_types_then_values() {
        let mut values = vec![
            json!({"a": 1}),
            json!([1]),
            json!("b"),
            json!("a"),
            json!(10),
            json!(9.5),
            json!(true),
            json!(false),
            json!(null),
        ];
        values.sort_by(total_cmp);
        assert_eq!(
            values,
            vec![
                json!(null),
                json!(false),
                json!(true),
                json!(9.5),
                json!(10),
                json!("a"),
                json!("b"),
                json!([1]),
                json!({"a": 1}),
            ]
        );
    }

    #[test]
    fn arrays_and_objects_order_element_wise() {
        assert_eq!(total_cmp(&json!([1, 2]), &json!([1, 3])), Ordering::Less);
        assert_eq!(total_cmp(&json!([1]), &json!([1, 0])), Ordering::Less);
        assert_eq!(
            total_cmp(&json!({"a": 1, "b": 2}), &json!({"b": 2, "a": 1})),
            Ordering::Equal
        );
        assert_eq!(
            total_cmp(&json!({"a": 1}), &json!({"a": 2})),
            Ordering::Less
        );
    }

    #[test]
    fn canonical_json_sorts_keys_and_normalises_integral_floats() {
        let value = json!({"b": [1.0, 2.5, {"d": null, "c": "x\"y"}], "a": true});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":true,"b":[1,2.5,{"c":"x\"y","d":null}]}"#
        );
        assert_eq!(canonical_json(&json!(1e300)), json!(1e300).to_string());
    }
}
