//! Reading native JSON payloads: errors that show the offending text, and the check that a
//! payload is an object, and the field helpers every adapter's transformers use. Shared by
//! every adapter; each passes its platform code.

use crate::taobao::model::Scalar;
use crate::MappingError;

/// Put the record's path in front of a bare field name.
pub(crate) fn under(prefix: &str, mut e: MappingError) -> MappingError {
    e.field = format!("{prefix}.{}", e.field);
    e
}

/// Treat `""` like an absent field: every platform here writes empty strings for unset
/// optional text.
pub(crate) fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A scalar that is there and not an empty string.
pub(crate) fn present_scalar(v: &Option<Scalar>) -> Option<&Scalar> {
    v.as_ref().filter(|s| !s.text().trim().is_empty())
}

/// A serde_json error as a mapping error naming the field and quoting the text around it.
pub(crate) fn json_error(
    platform: &str,
    field: &str,
    input: &str,
    e: &serde_json::Error,
    what: &str,
) -> MappingError {
    MappingError::new(
        platform,
        field,
        snippet(input, e.line(), e.column()),
        format!("{what}: {e}"),
    )
}

/// The content object of a message (Taobao TMC, Pinduoduo's message service): the string's
/// value when it came as a string holding JSON, else the object itself.
pub(crate) fn content_text(
    platform: &str,
    raw: &serde_json::value::RawValue,
) -> Result<String, MappingError> {
    let text = raw.get().trim();
    let object = if text.starts_with('"') {
        serde_json::from_str::<String>(text)
            .map_err(|e| json_error(platform, "content", text, &e, "not a JSON string"))?
    } else {
        text.to_string()
    };
    if object.trim_start().starts_with('{') {
        Ok(object)
    } else {
        Err(MappingError::new(
            platform,
            "content",
            object,
            "expected a JSON object, or a string holding one",
        ))
    }
}

/// The text around a serde_json error position, so the caller sees the offending value.
fn snippet(input: &str, line: usize, column: usize) -> String {
    let Some(l) = input.lines().nth(line.saturating_sub(1)) else {
        return input.chars().take(80).collect();
    };
    let chars: Vec<char> = l.chars().collect();
    let at = column.min(chars.len());
    let from = at.saturating_sub(60);
    let to = (at + 20).min(chars.len());
    chars[from..to].iter().collect()
}

/// Serde would also read a struct from a JSON array (positionally): only objects are payloads.
pub(crate) fn expect_object(platform: &str, field: &str, text: &str) -> Result<(), MappingError> {
    if text.trim_start().starts_with('{') {
        Ok(())
    } else {
        Err(MappingError::new(
            platform,
            field,
            text,
            "expected a JSON object",
        ))
    }
}

/// The payload as text; a payload that is not UTF-8 is refused at `$`.
pub(crate) fn utf8<'a>(platform: &str, native: &'a [u8]) -> Result<&'a str, MappingError> {
    std::str::from_utf8(native).map_err(|e| {
        MappingError::new(
            platform,
            "$",
            String::from_utf8_lossy(native),
            format!("not UTF-8: {e}"),
        )
    })
}

/// Read the object found at `path` as `T`; `shape` names what it should have matched.
pub(crate) fn parse_object<T: serde::de::DeserializeOwned>(
    platform: &str,
    path: &str,
    raw: &str,
    shape: &str,
) -> Result<T, MappingError> {
    expect_object(platform, path, raw)?;
    serde_json::from_str::<T>(raw).map_err(|e| json_error(platform, path, raw, &e, shape))
}

/// The one record of a list found at `path`. A list holding more or fewer is refused: each
/// record is ingested on its own, so one bad record cannot hide the others and each gets its
/// own answer. `items` names the records, `wrapped_as` shows how to send one.
pub(crate) fn only_item(
    platform: &str,
    path: &str,
    raw: &str,
    items: &str,
    wrapped_as: &str,
) -> Result<Box<serde_json::value::RawValue>, MappingError> {
    let mut list: Vec<Box<serde_json::value::RawValue>> =
        serde_json::from_str(raw).map_err(|e| {
            json_error(
                platform,
                path,
                raw,
                &e,
                &format!("expected an array of {items}"),
            )
        })?;
    if list.len() != 1 {
        return Err(MappingError::new(
            platform,
            path,
            format!("{} items", list.len()),
            format!(
                "exactly one record per payload: ingest the list's {items} one at a time, each \
                 wrapped as {wrapped_as}"
            ),
        ));
    }
    Ok(list.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_string()).unwrap()
    }

    #[test]
    fn a_message_content_is_an_object_or_a_string_holding_one() {
        let object = r#"{"refund_id":1}"#;
        assert_eq!(content_text("taobao", &raw(object)).unwrap(), object);
        let as_string = serde_json::to_string(object).unwrap();
        assert_eq!(content_text("taobao", &raw(&as_string)).unwrap(), object);

        for not_an_object in [r#""refund 1""#, "42", "[1]"] {
            let e = content_text("pinduoduo", &raw(not_an_object)).unwrap_err();
            assert_eq!(
                (e.platform.as_str(), e.field.as_str()),
                ("pinduoduo", "content")
            );
            assert!(e.problem.contains("expected a JSON object"), "{e:?}");
        }
    }

    #[test]
    fn empty_text_is_absent_and_a_path_goes_in_front_of_the_field() {
        assert_eq!(present(&Some("  ".into())), None);
        assert_eq!(present(&Some(" a ".into())), Some("a"));
        assert_eq!(present(&None), None);
        let e = under("refund", MappingError::new("jd", "status", "9", "unknown"));
        assert_eq!(e.field, "refund.status");
    }
}
