//! Reading native JSON payloads: errors that show the offending text, and the check that a
//! payload is an object. Shared by every adapter; each passes its platform code.

use crate::MappingError;

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
