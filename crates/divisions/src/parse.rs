//! Left-to-right recognition of province, city and county names in free text.

use crate::index::{index, Id, Index, Level};
use crate::text::{is_punctuation, Text};
use crate::ResolvedAddress;

/// What one text resolved to, before it is shown as a [`ResolvedAddress`]: the comparison needs
/// every reading of an ambiguous name, not just the levels they agree on.
#[derive(Debug)]
pub(crate) struct Parse {
    /// The deepest readings consistent with every recognised name; empty if none was.
    pub candidates: Vec<Id>,
    tokens: Vec<Token>,
    pub normalized: String,
    pub rest: String,
    pub notes: Vec<String>,
}

#[derive(Debug)]
struct Token {
    alias: u32,
    text: String,
}

struct Match {
    alias: u32,
    chars: usize,
    readings: Vec<Id>,
}

/// Carried by some county-level names in marketplace forms ("北京市 市辖区 朝阳区"); it names
/// nothing by itself.
const BOOKKEEPING_PREFECTURE: &str = "市辖区";

/// An abbreviation followed by one of these is the start of a street, compound or building name
/// (中山路, 余杭塘路, 西湖花园, 杭州大厦), not a division. 城, 村 and 里 are left out: they also
/// start ordinary place names after a division (义乌城西街道).
const NAME_CONTINUATIONS: &[&str] = &[
    "路",
    "街",
    "巷",
    "弄",
    "道",
    "大道",
    "小区",
    "花园",
    "公寓",
    "家园",
    "新村",
    "社区",
    "公馆",
    "大厦",
    "大楼",
    "广场",
    "苑",
    "园",
    "府",
    "庭",
    "邸",
    "大学",
    "中学",
    "小学",
    "医院",
    "酒店",
    "宾馆",
    "机场",
    "火车站",
];

pub(crate) fn parse(raw: &str) -> Parse {
    let index = index();
    let text = Text::new(raw);
    let Some((anchor, first)) = find_anchor(index, &text) else {
        return Parse {
            candidates: Vec::new(),
            tokens: Vec::new(),
            rest: text.text.trim_matches(is_punctuation).to_string(),
            normalized: text.text,
            notes: vec!["no administrative division recognised".to_string()],
        };
    };
    let mut notes = Vec::new();
    if anchor > 0 {
        notes.push(format!(
            "ignored {:?} before the first division",
            text.slice(0, anchor)
        ));
    }
    let mut tokens = vec![token(&text, anchor, &first)];
    let mut candidates = first.readings;
    let mut pos = anchor + first.chars;
    while !candidates
        .iter()
        .all(|&id| index.entry(id).level == Level::County)
    {
        let next = skip_punctuation(&text, pos);
        if text.from(next).starts_with(BOOKKEEPING_PREFECTURE) {
            pos = next + BOOKKEEPING_PREFECTURE.chars().count();
            continue;
        }
        let Some(found) = best_match(index, &text, next, &candidates, true) else {
            break;
        };
        tokens.push(token(&text, next, &found));
        candidates = found.readings;
        pos = next + found.chars;
    }
    Parse {
        candidates,
        tokens,
        rest: text.from(pos).trim_matches(is_punctuation).to_string(),
        normalized: text.text,
        notes,
    }
}

fn token(text: &Text, start: usize, found: &Match) -> Token {
    Token {
        alias: found.alias,
        text: text.slice(start, start + found.chars).to_string(),
    }
}

fn skip_punctuation(text: &Text, mut pos: usize) -> usize {
    while text.char_at(pos).is_some_and(is_punctuation) {
        pos += 1;
    }
    pos
}

/// Where the first division name starts. Word starts are tried first so that a name in a
/// recipient's or courier's name ("王海南 浙江省…") loses to the address after it; only if no
/// word start matches is the whole text searched ("快件已在萧山区完成签收").
fn find_anchor(index: &Index, text: &Text) -> Option<(usize, Match)> {
    let at_word_starts = (0..text.len())
        .filter(|&pos| text.is_boundary(pos))
        .find_map(|pos| best_match(index, text, pos, &[], true).map(|m| (pos, m)));
    at_word_starts.or_else(|| {
        (0..text.len()).find_map(|pos| best_match(index, text, pos, &[], false).map(|m| (pos, m)))
    })
}

/// The longest name at `pos` that fits what was already recognised, unless only a shorter one
/// lets the next name be read: 济南市中区 is 济南 + 市中区, not 济南市 + 中区.
fn best_match(
    index: &Index,
    text: &Text,
    pos: usize,
    current: &[Id],
    at_word_start: bool,
) -> Option<Match> {
    let mut longest = None;
    for found in matches_at(index, text, pos, current, at_word_start) {
        if found
            .readings
            .iter()
            .all(|&id| index.entry(id).level == Level::County)
        {
            // Nothing can follow a county, so there is nothing to look ahead for.
            return Some(longest.unwrap_or(found));
        }
        let next = skip_punctuation(text, pos + found.chars);
        if matches_at(index, text, next, &found.readings, true)
            .next()
            .is_some()
        {
            return Some(found);
        }
        longest.get_or_insert(found);
    }
    longest
}

/// Every name at `pos` that fits what was already recognised, longest first.
fn matches_at<'a>(
    index: &'a Index,
    text: &'a Text,
    pos: usize,
    current: &'a [Id],
    at_word_start: bool,
) -> impl Iterator<Item = Match> + 'a {
    let rest = text.from(pos);
    let aliases = text
        .char_at(pos)
        .and_then(|first| index.aliases_by_first_char.get(&first))
        .map_or(&[][..], Vec::as_slice);
    aliases.iter().filter_map(move |&alias_id| {
        let alias = &index.aliases[alias_id as usize];
        if !rest.starts_with(alias.text.as_str())
            || !allowed_here(index, alias, at_word_start)
            || (alias.abbreviated && continues_as_other_name(index, text, pos + alias.chars))
        {
            return None;
        }
        let readings = narrow(index, current, &alias.ids);
        (!readings.is_empty()).then_some(Match {
            alias: alias_id,
            chars: alias.chars,
            readings,
        })
    })
}

/// Inside a word only names unlikely to be part of another word count: full names of three or
/// more characters, and abbreviated provinces and cities ("在杭州余杭…"). Abbreviated counties
/// and two-character names (城区, 单县) are too common inside ordinary words.
fn allowed_here(index: &Index, alias: &crate::index::Alias, at_word_start: bool) -> bool {
    if at_word_start {
        return true;
    }
    if alias.abbreviated {
        alias
            .ids
            .iter()
            .all(|&id| index.entry(id).level != Level::County)
    } else {
        alias.chars >= 3
    }
}

fn continues_as_other_name(index: &Index, text: &Text, after: usize) -> bool {
    let following = text.from(after);
    // 余杭塘路: one more character before the street word.
    let after_one = following.chars().nth(1);
    let looks_like_name = NAME_CONTINUATIONS
        .iter()
        .any(|word| following.starts_with(word))
        || after_one.is_some_and(|c| matches!(c, '路' | '巷' | '弄'));
    // 唐山路南区, 哈尔滨道里区, 榆林府谷县: the "street word" starts the next division.
    looks_like_name && !starts_division_name(index, text, after)
}

fn starts_division_name(index: &Index, text: &Text, pos: usize) -> bool {
    let following = text.from(pos);
    text.char_at(pos)
        .and_then(|first| index.aliases_by_first_char.get(&first))
        .is_some_and(|aliases| {
            aliases
                .iter()
                .any(|&a| following.starts_with(index.aliases[a as usize].text.as_str()))
        })
}

/// The readings of a name that fit the readings so far: strictly inside one of them, or, for a
/// municipality named twice ("北京 北京市 朝阳区"), the same unit again.
fn narrow(index: &Index, current: &[Id], named: &[Id]) -> Vec<Id> {
    if current.is_empty() {
        return named.to_vec();
    }
    let inside: Vec<Id> = named
        .iter()
        .copied()
        .filter(|&id| current.iter().any(|&c| index.is_within(id, c)))
        .collect();
    if !inside.is_empty() {
        return inside;
    }
    named
        .iter()
        .copied()
        .filter(|&id| current.contains(&id) && index.entry(id).level != Level::County)
        .collect()
}

impl Parse {
    pub(crate) fn is_resolved(&self) -> bool {
        !self.candidates.is_empty()
    }

    pub(crate) fn to_resolved(&self) -> ResolvedAddress {
        let index = index();
        let mut resolved = ResolvedAddress {
            rest: self.rest.clone(),
            notes: self.notes.clone(),
            ..ResolvedAddress::default()
        };
        let province = common(&self.candidates, |id| Some(index.entry(id).province));
        let city = common(&self.candidates, |id| index.city_of(id));
        let county = common(&self.candidates, |id| index.county_of(id));
        resolved.province = province.map(|id| index.division(id));
        resolved.city = city.map(|id| index.division(id));
        resolved.county = county.map(|id| index.division(id));
        self.note_abbreviations(index, &mut resolved.notes);
        if self.candidates.len() > 1 {
            resolved.notes.push(self.ambiguity_note(index));
        } else if let Some(&id) = self.candidates.first() {
            self.note_inferred_levels(index, id, &mut resolved.notes);
            note_granularity(index, id, &mut resolved.notes);
        }
        resolved
    }

    fn note_abbreviations(&self, index: &Index, notes: &mut Vec<String>) {
        for token in &self.tokens {
            let alias = &index.aliases[token.alias as usize];
            if !alias.abbreviated {
                continue;
            }
            let mut meant: Vec<&str> = alias
                .ids
                .iter()
                .filter(|&&id| {
                    self.candidates
                        .iter()
                        .any(|&c| c == id || index.is_within(c, id))
                })
                .map(|&id| index.entry(id).name)
                .collect();
            meant.dedup();
            if let [full] = meant[..] {
                notes.push(format!("abbreviation {} read as {full}", token.text));
            }
        }
    }

    fn ambiguity_note(&self, index: &Index) -> String {
        let named = self.tokens.last().map_or("", |t| t.text.as_str());
        let readings: Vec<String> = self
            .candidates
            .iter()
            .map(|&id| index.describe(id))
            .collect();
        format!(
            "{named} is ambiguous ({} readings): {}",
            readings.len(),
            readings.join(", ")
        )
    }

    fn note_inferred_levels(&self, index: &Index, id: Id, notes: &mut Vec<String>) {
        let entry = index.entry(id);
        // An unnamed province is implied by the first name, an unnamed city by the county.
        let first = self.tokens.first().map_or("", |t| t.text.as_str());
        let last = self.tokens.last().map_or("", |t| t.text.as_str());
        let was_named = |target: Id| {
            self.tokens
                .iter()
                .any(|t| index.aliases[t.alias as usize].ids.contains(&target))
        };
        if entry.province != id && !was_named(entry.province) {
            let province = index.entry(entry.province).name;
            notes.push(format!("province {province} inferred from {first}"));
        }
        if let Some(prefecture) = entry.prefecture.filter(|&p| p != id) {
            if !was_named(prefecture) {
                let city = index.entry(prefecture).name;
                notes.push(format!("city {city} inferred from {last}"));
            }
        }
    }
}

fn note_granularity(index: &Index, id: Id, notes: &mut Vec<String>) {
    let entry = index.entry(id);
    if entry.level == Level::Prefecture && !entry.has_subdivisions {
        notes.push(format!(
            "{} has no county level; the city is the finest unit",
            entry.name
        ));
    }
    if entry.level == Level::Province && !entry.has_subdivisions {
        notes.push(format!(
            "the dataset has no divisions below {} (province level only)",
            entry.name
        ));
    }
}

/// The value every reading agrees on, if they all have one and it is the same.
fn common(candidates: &[Id], f: impl Fn(Id) -> Option<Id>) -> Option<Id> {
    let mut values = candidates.iter().map(|&id| f(id));
    let first = values.next()??;
    values.all(|v| v == Some(first)).then_some(first)
}
