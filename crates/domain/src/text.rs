//! Free text with a hard length bound, so a reason or a note can never carry megabytes into
//! a case row or an event.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BoundedText(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("text is {len} characters long; at most {max} are allowed")]
pub struct TextTooLong {
    pub len: usize,
    pub max: usize,
}

impl BoundedText {
    /// Reasons, notes, addresses: long enough for any real one.
    pub const MAX_CHARS: usize = 2000;

    pub fn parse(raw: impl Into<String>) -> Result<Self, TextTooLong> {
        let s: String = raw.into();
        let len = s.chars().count();
        if len > Self::MAX_CHARS {
            return Err(TextTooLong {
                len,
                max: Self::MAX_CHARS,
            });
        }
        Ok(BoundedText(s.trim().to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<BoundedText> for String {
    fn from(text: BoundedText) -> String {
        text.0
    }
}

impl AsRef<str> for BoundedText {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
