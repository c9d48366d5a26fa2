//! TB-20 (异地签收): is the carrier's signing location in the delivery address's district/county?

use crate::index::{index, Id, Index};
use crate::parse::{parse, Parse};
use crate::{Reason, SignedElsewhereCheck, Verdict};

/// Words for the places a courier leaves a parcel instead of handing it over: parcel stations,
/// property offices, lockers, gatehouses.
const PICKUP_POINT_WORDS: &[&str] = &[
    "驿站",
    "菜鸟驿站",
    "妈妈驿站",
    "物业",
    "物业中心",
    "快递柜",
    "丰巢",
    "智能柜",
    "自提柜",
    "代收点",
    "自提点",
    "快递超市",
    "快递站",
    "门卫",
    "传达室",
    "收发室",
    "兔喜",
    "近邻宝",
    "速递易",
];

/// How residential compounds and buildings are named: 阳光小区, 金色家园, 翠苑, 世贸大厦.
const COMPOUND_SUFFIXES: &[&str] = &[
    "小区", "花园", "公寓", "家园", "新村", "新城", "社区", "公馆", "大厦", "大楼", "广场", "苑",
    "园", "府", "庭", "城", "村", "里", "湾", "邸", "居", "坊", "阁",
];

/// A compound name needs at least this much before its suffix: "阳光小区" yes, "小区" alone no.
const MIN_COMPOUND_NAME_CHARS: usize = 2;
/// Compound names are short; looking further back only finds longer shared street text.
const MAX_COMPOUND_NAME_CHARS: usize = 12;
/// The compound search looks at this many characters of each text. It compares every
/// candidate in the signing text with the whole delivery address, so its cost grows with the
/// product of the two lengths: nothing on real addresses and carrier traces (tens of
/// characters), but in a debug build 3.6 s for two 24 KB texts, 56 s for two 96 KB ones and,
/// by the same square law, half an hour for the 1 MiB a task payload may carry (found by
/// `tests/fuzz_address.rs`). A compound name past the first 1,000 characters of an address is
/// not one a person wrote.
const MAX_COMPOUND_SEARCH_CHARS: usize = 1_000;

pub fn check_signed_elsewhere(
    delivery_address: &str,
    signing_location: &str,
) -> SignedElsewhereCheck {
    let index = index();
    let mut delivery = parse(delivery_address);
    let mut signing = parse(signing_location);
    let pickup_point = names_pickup_point(&signing.normalized);
    let compound = pickup_point
        .then(|| shared_compound(&signing.normalized, &delivery.normalized))
        .flatten();
    let (verdict, reason) = decide(index, &mut delivery, &mut signing, compound.as_deref());
    if reason == Reason::PickupPointInSameCompound {
        if let Some(compound) = &compound {
            signing.notes.push(format!(
                "the pickup point is in {compound}, which the delivery address names"
            ));
        }
    }
    SignedElsewhereCheck {
        verdict,
        reason,
        delivery: delivery.to_resolved(),
        signing: signing.to_resolved(),
        pickup_point,
    }
}

pub(crate) fn names_pickup_point(text: &str) -> bool {
    PICKUP_POINT_WORDS.iter().any(|word| text.contains(word))
}

/// A compound or building name ending in one of [`COMPOUND_SUFFIXES`] that occurs in the signing
/// text and in the delivery address; the longest such name.
pub(crate) fn shared_compound(signing: &str, delivery: &str) -> Option<String> {
    let signing = first_chars(signing, MAX_COMPOUND_SEARCH_CHARS);
    let delivery = first_chars(delivery, MAX_COMPOUND_SEARCH_CHARS);
    // Byte offset of every character, so candidates are slices rather than new strings.
    let offsets: Vec<usize> = signing
        .char_indices()
        .map(|(i, _)| i)
        .chain([signing.len()])
        .collect();
    let mut best: Option<&str> = None;
    for end in 1..offsets.len() {
        let Some(suffix) = COMPOUND_SUFFIXES
            .iter()
            .find(|suffix| signing[..offsets[end]].ends_with(*suffix))
        else {
            continue;
        };
        let name_end = end - suffix.chars().count();
        if name_end < MIN_COMPOUND_NAME_CHARS {
            continue;
        }
        let earliest = name_end.saturating_sub(MAX_COMPOUND_NAME_CHARS);
        let found = (earliest..=name_end - MIN_COMPOUND_NAME_CHARS)
            .map(|start| &signing[offsets[start]..offsets[end]])
            .find(|candidate| delivery.contains(candidate));
        if let Some(found) = found {
            if best.is_none_or(|b| found.len() > b.len()) {
                best = Some(found);
            }
        }
    }
    best.map(str::to_string)
}

/// The first `n` characters of `text`.
fn first_chars(text: &str, n: usize) -> &str {
    text.char_indices().nth(n).map_or(text, |(i, _)| &text[..i])
}

fn decide(
    index: &Index,
    delivery: &mut Parse,
    signing: &mut Parse,
    compound: Option<&str>,
) -> (Verdict, Reason) {
    if !delivery.is_resolved() {
        return (Verdict::Undetermined, Reason::DeliveryAddressUnresolved);
    }
    if !signing.is_resolved() {
        // A station named after the buyer's own compound ("阳光小区菜鸟驿站") places the
        // parcel even when the carrier gives no district.
        return match compound {
            Some(_) => (Verdict::SameDistrict, Reason::PickupPointInSameCompound),
            None => (Verdict::Undetermined, Reason::SigningLocationUnresolved),
        };
    }
    disambiguate(index, delivery, signing);
    let mut outcomes: Vec<(Verdict, Reason)> = Vec::new();
    for &d in &delivery.candidates {
        for &s in &signing.candidates {
            let outcome = compare(index, d, s, compound.is_some());
            if !outcomes.contains(&outcome) {
                outcomes.push(outcome);
            }
        }
    }
    let ambiguous_side = if delivery.candidates.len() > 1 {
        Some(&mut delivery.notes)
    } else if signing.candidates.len() > 1 {
        Some(&mut signing.notes)
    } else {
        None
    };
    match (&outcomes[..], ambiguous_side) {
        ([only], None) => *only,
        ([only], Some(notes)) => {
            notes.push("ambiguous, but every reading gives the same verdict".to_string());
            *only
        }
        (_, notes) => {
            if let Some(notes) = notes {
                notes.push("ambiguous, and the readings give different verdicts".to_string());
            }
            (Verdict::Undetermined, Reason::NotPreciseEnough)
        }
    }
}

/// An ambiguous name (朝阳区, 鼓楼区) is settled by the other address when exactly one pairing of
/// readings lies in one city.
fn disambiguate(index: &Index, delivery: &mut Parse, signing: &mut Parse) {
    if delivery.candidates.len() <= 1 && signing.candidates.len() <= 1 {
        return;
    }
    let mut same_city = Vec::new();
    for &d in &delivery.candidates {
        for &s in &signing.candidates {
            if index.city_of(d).is_some() && index.city_of(d) == index.city_of(s) {
                same_city.push((d, s));
            }
        }
    }
    let [(d, s)] = same_city[..] else {
        return;
    };
    for (side, chosen) in [(delivery, d), (signing, s)] {
        if side.candidates.len() > 1 {
            side.candidates = vec![chosen];
            side.notes.push(format!(
                "disambiguated by the other address: {}",
                index.describe(chosen)
            ));
        }
    }
}

/// One reading of each side, compared at the finest level both have.
fn compare(index: &Index, delivery: Id, signing: Id, same_compound: bool) -> (Verdict, Reason) {
    let not_precise = if same_compound {
        (Verdict::SameDistrict, Reason::PickupPointInSameCompound)
    } else {
        (Verdict::Undetermined, Reason::NotPreciseEnough)
    };
    if index.entry(delivery).province != index.entry(signing).province {
        return (Verdict::SignedElsewhere, Reason::DifferentProvince);
    }
    let (Some(delivery_city), Some(signing_city)) =
        (index.city_of(delivery), index.city_of(signing))
    else {
        return not_precise;
    };
    if delivery_city != signing_city {
        return (Verdict::SignedElsewhere, Reason::DifferentCity);
    }
    if !index.entry(delivery_city).has_subdivisions {
        // 东莞, 中山: the city is the district.
        return (Verdict::SameDistrict, Reason::SameDistrict);
    }
    match (index.county_of(delivery), index.county_of(signing)) {
        (Some(a), Some(b)) if a == b => (Verdict::SameDistrict, Reason::SameDistrict),
        (Some(_), Some(_)) => (Verdict::SignedElsewhere, Reason::DifferentDistrict),
        _ => not_precise,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compound_is_found_in_both_texts_by_its_suffix() {
        assert_eq!(
            shared_compound("阳光小区菜鸟驿站", "浙江省杭州市余杭区良渚街道阳光小区3幢"),
            Some("阳光小区".to_string())
        );
        assert_eq!(
            shared_compound("良渚街道菜鸟驿站", "杭州市余杭区阳光小区"),
            None
        );
        // "小区" alone is no name.
        assert_eq!(shared_compound("小区门卫", "杭州市余杭区阳光小区"), None);
    }

    /// Regression (found by `tests/fuzz_address.rs`): a signing text of a pickup point and
    /// 50,000 compound suffixes (驿站花园花园…, 300 KB) against a 300 KB delivery address of
    /// "xxx…" ran the search for minutes in a debug build (two 96 KB texts: 56 s).
    #[test]
    fn the_compound_search_is_bounded_on_long_texts() {
        let signing = format!("驿站{}", "花园".repeat(50_000));
        let delivery = "x".repeat(300_000);
        let started = std::time::Instant::now();
        assert_eq!(shared_compound(&signing, &delivery), None);
        // A hang detector, not a performance target: bounded, this takes milliseconds.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // A compound near the start is still found whatever follows it.
        let long_tail = "良渚街道".repeat(50_000);
        assert_eq!(
            shared_compound(
                &format!("阳光小区菜鸟驿站{long_tail}"),
                &format!("浙江省杭州市余杭区阳光小区3幢{long_tail}")
            ),
            Some("阳光小区".to_string())
        );
    }

    #[test]
    fn pickup_points_are_recognised_by_their_usual_words() {
        assert!(names_pickup_point("已签收,签收人:物业"));
        assert!(names_pickup_point("已放入丰巢柜"));
        assert!(!names_pickup_point("本人签收"));
    }
}
