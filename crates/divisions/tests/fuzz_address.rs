//! Property/fuzz tests of the address parser (`resolve`) and the TB-20 check
//! (`check_signed_elsewhere`) on arbitrary text.
//!
//! Inputs: arbitrary strings (ASCII, CJK, the characters of every division name, control and
//! full-width characters), sequences of division names, their abbreviations, street, compound
//! and pickup-point words, the real addresses of this crate's tests mutated (cut, spliced,
//! characters replaced or repeated), and long texts up to 1 MiB (a repeated province name, a
//! repeated address, one repeated word).
//!
//! Properties, for every input: the call returns (a panic fails the test, naming the input),
//! within the hang guard, and its peak live heap stays under the memory bound (see the
//! shared harness in `crates/platforms/tests/support/harness.rs`). The answer itself is the
//! unit tests' business.
//!
//! CI runs a fixed number of cases from fixed seeds. A long run:
//! `AFTERSALES_FUZZ_CASES=100000 cargo test --release -p aftersales-divisions --test fuzz_address -- --nocapture`

// The harness is shared with the platforms crate's fuzz tests, so both measure the same way.
#[path = "../../platforms/tests/support/harness.rs"]
mod harness;

use aftersales_divisions::{check_signed_elsewhere, resolve};
use harness::{cases, measure, Input};
use proptest::prelude::*;
use proptest::sample::select;
use std::sync::OnceLock;

#[global_allocator]
static ALLOC: harness::Counting = harness::Counting;

/// Division names from the vendored table, and the addresses the crate's tests use.
struct Words {
    names: Vec<String>,
    chars: Vec<char>,
    addresses: Vec<String>,
}

fn words() -> &'static Words {
    static W: OnceLock<Words> = OnceLock::new();
    W.get_or_init(|| {
        let table = include_str!("../data/divisions.tsv");
        let names: Vec<String> = table
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('\t'))
            .map(|(_, name)| name.to_string())
            .collect();
        let mut chars: Vec<char> = names.iter().flat_map(|n| n.chars()).collect();
        chars.sort();
        chars.dedup();
        // Every string literal with a CJK character in the crate's own tests: the real
        // addresses, signing locations and carrier traces they check.
        let mut addresses: Vec<String> = [include_str!("resolve.rs"), include_str!("tb_20.rs")]
            .iter()
            .flat_map(|src| src.split('"').skip(1).step_by(2))
            .filter(|s| s.chars().any(is_cjk) && !s.contains('\n'))
            .map(str::to_string)
            .collect();
        addresses.sort();
        addresses.dedup();
        assert!(addresses.len() > 50, "the tests' addresses were not found");
        Words {
            names,
            chars,
            addresses,
        }
    })
}

fn is_cjk(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

/// Street, compound, pickup-point and trace words, separators and brackets the parser
/// treats specially.
const OTHER_WORDS: &[&str] = &[
    "省",
    "市",
    "区",
    "县",
    "自治州",
    "自治县",
    "旗",
    "盟",
    "地区",
    "街道",
    "镇",
    "乡",
    "路",
    "号",
    "幢",
    "单元",
    "室",
    "中山路",
    "余杭塘路",
    "小区",
    "花园",
    "家园",
    "苑",
    "园",
    "大厦",
    "广场",
    "村",
    "里",
    "阁",
    "驿站",
    "菜鸟驿站",
    "物业",
    "丰巢",
    "快递柜",
    "门卫",
    "已签收",
    "签收人:",
    "【",
    "】",
    "(",
    ")",
    "（",
    "）",
    " ",
    "\u{3000}",
    ",",
    "，",
    "、",
    "-",
    "—",
    "·",
    "3",
    "１２３",
    "Ａ",
    "市辖区",
    "省直辖县级行政区划",
    "北京",
    "上海",
    "朝阳区",
    "鼓楼区",
    "通州区",
    "吉林",
    "吉林市",
    "济南市中区",
    "东莞",
    "香港",
    "台湾",
    "澳门",
];

fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => select(words().chars.clone()),
        2 => proptest::char::range(' ', '~'),
        2 => proptest::char::range('\u{4e00}', '\u{9fff}'),
        1 => proptest::char::range('\u{0}', '\u{1f}'),
        1 => proptest::char::range('\u{ff01}', '\u{ff5e}'),
        1 => select(vec!['\u{3000}', '【', '】', '「', '」', '\u{feff}', '\u{200b}', '\u{fffd}', '\u{1F600}', '\u{10FFFF}', '—']),
        1 => any::<char>(),
    ]
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(words().names.clone()),
        // Abbreviations and prefixes of names: 浙江, 杭州, 余杭.
        2 => (select(words().names.clone()), 1usize..4).prop_map(|(n, k)| n.chars().take(k).collect()),
        2 => select(OTHER_WORDS).prop_map(String::from),
        1 => proptest::collection::vec(any_char(), 1..4).prop_map(|v| v.into_iter().collect()),
    ]
}

/// Cut `s` at a character boundary at or before `at % (len + 1)`.
fn cut(s: &str, at: usize) -> usize {
    (0..=at % (s.len() + 1))
        .rev()
        .find(|i| s.is_char_boundary(*i))
        .unwrap_or(0)
}

/// A real address with a few edits: characters inserted, removed or replaced, a cut.
fn mutated_address() -> impl Strategy<Value = String> {
    let edit = (0u8..4, any::<usize>(), word());
    (
        select(words().addresses.clone()),
        proptest::collection::vec(edit, 1..5),
    )
        .prop_map(|(a, edits)| {
            let mut s = a;
            for (kind, at, w) in edits {
                let i = cut(&s, at);
                match kind {
                    0 => s.insert_str(i, &w),
                    1 => {
                        let j = cut(&s, i + w.len());
                        s.replace_range(i..j.max(i), "");
                    }
                    2 => {
                        let j = cut(&s, i + w.len());
                        s.replace_range(i..j.max(i), &w);
                    }
                    _ => s.truncate(i),
                }
            }
            s
        })
}

/// Texts up to 1 MiB.
fn long_text() -> impl Strategy<Value = String> {
    const MIB: usize = 1 << 20;
    prop_oneof![
        // One word again and again: 浙江省浙江省…, 驿站驿站…, 北京北京….
        (word(), 1usize..MIB).prop_map(|(w, n)| w.repeat((n / w.len().max(1)).max(1))),
        // A real address repeated.
        (select(words().addresses.clone()), 1usize..MIB)
            .prop_map(|(a, n)| a.repeat((n / a.len().max(1)).max(1))),
        // Many words.
        proptest::collection::vec(word(), 1..40_000).prop_map(|v| v.concat()),
    ]
}

fn address() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(words().addresses.clone()),
        4 => mutated_address(),
        4 => proptest::collection::vec(word(), 0..12).prop_map(|v| v.concat()),
        3 => proptest::collection::vec(any_char(), 0..48).prop_map(|v| v.into_iter().collect()),
    ]
}

#[test]
fn fuzz_resolve() {
    resolve("浙江省杭州市余杭区"); // builds the index: a one-time cost, not the call's
    let text = |a: String| Input::new(format!("{} chars", a.chars().count()), a);
    let property = |input: &Input, stats: &mut harness::Stats| {
        let text = std::str::from_utf8(&input.bytes).unwrap();
        let (_r, cost) = measure(&input.how, &input.bytes, || resolve(text));
        stats.record(input, true, cost);
        harness::check_cost(input.bytes.len(), cost)
    };
    harness::run(
        "resolve",
        cases(harness::BULK_CASES * 2),
        address().prop_map(text),
        property,
    );
    harness::run(
        "resolve long texts",
        cases(16),
        long_text().prop_map(text),
        property,
    );
}

#[test]
fn fuzz_check_signed_elsewhere() {
    resolve("浙江省杭州市余杭区");
    // The delivery address and the signing location together stay within 1 MiB, as in one
    // task payload: two 1 MiB texts are not an input the service can receive.
    let pair = |d: String, s: String| {
        let keep = |t: String, max: usize| {
            let i = cut(&t, max);
            t[..i].to_string()
        };
        let d = keep(d, 1 << 19);
        let s = keep(s, 1 << 19);
        Input::pair(
            format!("delivery {} B, then signing {} B", d.len(), s.len()),
            &d,
            &s,
        )
    };
    let long_pair =
        (long_text(), prop_oneof![address(), long_text()]).prop_map(move |(d, s)| pair(d, s));
    let pair = (address(), address()).prop_map(move |(d, s)| pair(d, s));
    // A pickup point and compound names in the signing text: the path that compares the two
    // texts for a shared compound name.
    let pickup = (address(), long_text(), word(), any::<bool>()).prop_map(|(d, s, w, front)| {
        let s = if front {
            format!("菜鸟驿站{w}花园{s}")
        } else {
            format!("{s}{w}小区驿站")
        };
        let i = cut(&s, 1 << 19);
        let d = d
            .repeat((1 << 19) / d.len().max(1))
            .chars()
            .take(1 << 17)
            .collect::<String>();
        Input::pair(
            format!("pickup point; delivery {} B, then signing {} B", d.len(), i),
            &d,
            &s[..i],
        )
    });
    let property = |input: &Input, stats: &mut harness::Stats| {
        let (d, s) = input.texts();
        let (_c, cost) = measure(&input.how, &input.bytes, || check_signed_elsewhere(d, s));
        stats.record(input, true, cost);
        harness::check_cost(input.bytes.len(), cost)
    };
    harness::run(
        "check_signed_elsewhere",
        cases(harness::BULK_CASES),
        pair,
        property,
    );
    harness::run(
        "check_signed_elsewhere long texts",
        cases(12),
        long_pair,
        property,
    );
    harness::run(
        "check_signed_elsewhere pickup point",
        cases(12),
        pickup,
        property,
    );
}
