//! What an `--eval` gave, as text: its value (printed on stdout) or why it failed (logged as
//! the page's error, file:line when Servo knows it).

use servo::{JSValue, JavaScriptEvaluationError};

/// The value as JSON where it has one (non-finite numbers as JavaScript writes them; nodes and
/// windows by their kind); `None` for `undefined`, the value of a statement such as a click,
/// which is not worth a line.
pub fn value_text(value: &JSValue) -> Option<String> {
    match value {
        JSValue::Undefined => None,
        JSValue::Number(n) if !n.is_finite() => Some(format!("{n}").replace("inf", "Infinity")),
        other => Some(to_json(other).to_string()),
    }
}

fn to_json(value: &JSValue) -> serde_json::Value {
    use serde_json::Value;
    match value {
        JSValue::Undefined | JSValue::Null => Value::Null,
        JSValue::Boolean(b) => Value::Bool(*b),
        // Integers as JavaScript writes them (3, not 3.0).
        JSValue::Number(n) if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 => Value::from(*n as i64),
        JSValue::Number(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
        JSValue::String(s) => Value::String(s.clone()),
        JSValue::Element(_) => Value::String("[element]".into()),
        JSValue::ShadowRoot(_) => Value::String("[shadow root]".into()),
        JSValue::Frame(_) => Value::String("[frame]".into()),
        JSValue::Window(_) => Value::String("[window]".into()),
        JSValue::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        JSValue::Object(fields) => {
            let mut sorted: Vec<_> = fields.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

/// Why an evaluation failed.
pub fn error_text(error: &JavaScriptEvaluationError) -> String {
    match error {
        JavaScriptEvaluationError::EvaluationFailure(Some(info)) => {
            let file = if info.filename.is_empty() { "--eval" } else { info.filename.as_str() };
            format!("{} ({file}:{}:{})", info.message, info.line_number, info.column)
        }
        JavaScriptEvaluationError::EvaluationFailure(None) => "it threw".into(),
        JavaScriptEvaluationError::CompilationFailure => "it does not compile".into(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn values_read_as_json_and_javascript_writes_them() {
        let text = |v: &JSValue| value_text(v).unwrap_or_else(|| "(none)".into());
        assert_eq!(value_text(&JSValue::Undefined), None);
        assert_eq!(text(&JSValue::Null), "null");
        assert_eq!(text(&JSValue::Number(3.0)), "3");
        assert_eq!(text(&JSValue::Number(0.5)), "0.5");
        assert_eq!(text(&JSValue::Number(f64::NEG_INFINITY)), "-Infinity");
        assert_eq!(text(&JSValue::String("a\"b".into())), r#""a\"b""#);
        let object = JSValue::Object(HashMap::from([
            ("b".to_owned(), JSValue::Array(vec![JSValue::Null, JSValue::Boolean(true)])),
            ("a".to_owned(), JSValue::Element("x".into())),
        ]));
        assert_eq!(text(&object), r#"{"a":"[element]","b":[null,true]}"#);
        assert_eq!(text(&JSValue::Array(vec![JSValue::Number(1.0)])), "[1]");
    }
}
