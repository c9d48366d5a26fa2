//! Input clean-up: the same address arrives typed by a buyer, pasted from a marketplace form or
//! copied from a carrier's trace, with full-width characters, spaces and 【】 around names.

/// Normalised text, addressed by character position.
#[derive(Debug)]
pub(crate) struct Text {
    pub text: String,
    /// Byte offset of each character, plus the text's length at the end.
    starts: Vec<usize>,
    /// Whether a word may start at each character: the start, after a removed space or bracket,
    /// or after punctuation, a digit or a Latin letter.
    boundary: Vec<bool>,
}

/// Removed, but they separate words: "【杭州市】余杭区", "浙江省 杭州市".
fn is_dropped_separator(c: char) -> bool {
    c.is_whitespace() || "【】[]()「」『』〔〕〖〗<>《》{}\"'“”‘’".contains(c)
}

/// Kept in the rest of the address, and skipped between division names: "浙江省,杭州市".
pub(crate) fn is_punctuation(c: char) -> bool {
    ",.;:/|\\-_·、。~!?#*".contains(c) || c == '—'
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}')
}

/// Full-width ASCII (ＡＢＣ，：１２) as the ASCII it stands for.
fn half_width(c: char) -> char {
    match c {
        '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

impl Text {
    pub(crate) fn new(raw: &str) -> Text {
        let mut text = String::with_capacity(raw.len());
        let mut starts = Vec::with_capacity(raw.len() / 2);
        let mut boundary = Vec::with_capacity(raw.len() / 2);
        let mut after_separator = true;
        let mut previous: Option<char> = None;
        for c in raw.chars().map(half_width) {
            if is_dropped_separator(c) {
                after_separator = true;
                continue;
            }
            starts.push(text.len());
            boundary.push(after_separator || previous.is_some_and(|p| !is_cjk(p)));
            text.push(c);
            previous = Some(c);
            after_separator = false;
        }
        starts.push(text.len());
        Text {
            text,
            starts,
            boundary,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.boundary.len()
    }

    pub(crate) fn char_at(&self, pos: usize) -> Option<char> {
        self.from(pos).chars().next()
    }

    pub(crate) fn is_boundary(&self, pos: usize) -> bool {
        self.boundary.get(pos).copied().unwrap_or(true)
    }

    /// The text from character `pos` on.
    pub(crate) fn from(&self, pos: usize) -> &str {
        &self.text[self.starts[pos.min(self.len())]..]
    }

    /// Characters `start..end`.
    pub(crate) fn slice(&self, start: usize, end: usize) -> &str {
        &self.text[self.starts[start.min(self.len())]..self.starts[end.min(self.len())]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_and_spaces_are_removed_but_mark_word_starts() {
        let text = Text::new("【杭州市】 余杭区");
        assert_eq!(text.text, "杭州市余杭区");
        assert!(text.is_boundary(0));
        assert!(!text.is_boundary(1));
        assert!(text.is_boundary(3));
        assert!(!text.is_boundary(4));
    }

    #[test]
    fn full_width_ascii_becomes_ascii_and_punctuation_marks_a_word_start() {
        let text = Text::new("签收人：物业，３号");
        assert_eq!(text.text, "签收人:物业,3号");
        assert!(text.is_boundary(4));
        assert_eq!(text.slice(4, 6), "物业");
        assert_eq!(text.from(7), "3号");
    }
}
