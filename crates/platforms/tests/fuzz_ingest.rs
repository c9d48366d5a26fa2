//! Property/fuzz tests of every adapter's ingest parser (`PlatformAdapter::map_record`) and
//! of the TB-20 address check (`signing::check`).
//!
//! For each adapter of `AdapterRegistry::builtin()`, inputs are arbitrary bytes, near-JSON
//! token soup, arbitrary JSON documents (keys drawn from the real payloads' member names, CJK
//! and control characters, numbers from i64/u64 edges to 1e400), mutations of the real
//! payloads in `tests/corpus/<platform>/` (a member dropped, renamed or duplicated, a value
//! replaced by another type, an empty string, a huge number, a 100 KB string, a malformed
//! date, deep nesting or an arbitrary value, then perhaps truncated, bit-flipped or spliced)
//! and large inputs up to the service's 1 MiB limit on native records.
//!
//! Properties, for every input:
//! - `map_record` returns (a panic fails the test, and the failure names the input);
//! - it returns within the hang guard, [`harness::hang_guard`] (2 s + 4 s per MiB);
//! - its peak live heap stays under [`harness::memory_bound`] of the input's length;
//! - an `Err` names the adapter's own platform, a non-empty field path and a raw value of at
//!   most 200 bytes plus '…'. An `Ok` is not checked further: semantics are the unit tests'.
//!
//! The corpus files are the unit tests' sample payloads, one per payload shape each adapter
//! accepts; files named `err_*` are the platforms' error answers (mapped to an `Err`).
//!
//! CI runs a fixed number of cases from fixed seeds. A long run:
//! `AFTERSALES_FUZZ_CASES=100000 cargo test --release -p aftersales-platforms --test fuzz_ingest -- --nocapture`
//! (optionally with `AFTERSALES_FUZZ_SEED=<n>` for other streams). Summaries (executions,
//! Ok/Err counts, max peak memory and time) print with `--nocapture`.

#[path = "support/harness.rs"]
mod harness;
#[path = "support/json.rs"]
mod json;

use aftersales_domain::PlatformCode;
use aftersales_platforms::{signing, AdapterRegistry, MappingError, PlatformAdapter};
use harness::{cases, measure, Input, Stats};
use json::J;
use proptest::prelude::*;
use proptest::sample::select;
use std::sync::{Arc, OnceLock};

#[global_allocator]
static ALLOC: harness::Counting = harness::Counting;

/// The fuzzed platforms: each has a corpus directory and a test below.
const PLATFORMS: [&str; 4] = ["alibaba1688", "jd", "pinduoduo", "taobao"];

// ---- corpus -----------------------------------------------------------------------------------

struct Sample {
    name: String,
    text: String,
    tree: J,
}

fn corpus(platform: &str) -> Vec<Sample> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(platform);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            Sample {
                name: p.file_stem().unwrap().to_string_lossy().into_owned(),
                tree: J::parse(&text),
                text,
            }
        })
        .collect()
}

/// Member names and string values of every platform's corpus, plus the envelope members the
/// adapters dispatch on: arbitrary documents built from them reach past the shape checks.
struct Vocabulary {
    keys: Vec<String>,
    strings: Vec<String>,
}

fn vocabulary() -> &'static Vocabulary {
    static V: OnceLock<Vocabulary> = OnceLock::new();
    V.get_or_init(|| {
        let mut keys: Vec<String> = [
            "topic",
            "tmc_message",
            "content",
            "type",
            "dispute",
            "refund",
            "platform_task",
            "error_response",
            "result",
            "results",
            "data",
            "success",
            "code",
            "pageResult",
            "refund_list",
            "opOrderRefundModels",
            "opOrderRefundModel",
            "opOrderRefundModelDetail",
            "errorCode",
            "errorMessage",
            "errorMsg",
            "error_code",
            "error_message",
        ]
        .map(String::from)
        .to_vec();
        let mut strings = Vec::new();
        for p in PLATFORMS {
            for s in corpus(p) {
                s.tree.keys(&mut keys);
                s.tree.strings(&mut strings);
            }
        }
        keys.sort();
        keys.dedup();
        strings.sort();
        strings.dedup();
        Vocabulary { keys, strings }
    })
}

// ---- value strategies -------------------------------------------------------------------------

/// Number literals at the edges: i64/u64 limits and one past, f64 overflow and underflow,
/// negative zero, fractions, exponents, and more digits than any integer type holds.
const EDGE_NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "0.5",
    "-0.0",
    "1.0",
    "199.00",
    "1e2",
    "1E+2",
    "2.5e-3",
    "127",
    "255",
    "2147483647",
    "-2147483648",
    "4294967296",
    "9007199254740993",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "-18446744073709551616",
    "123456789012345678901234567890",
    "1e308",
    "1.7976931348623157e308",
    "1e309",
    "-1e400",
    "1e-400",
    "4.9e-324",
    "0.000000000000000000000001",
    "99999999999999999999999999999999999999999999.99",
];

/// Dates as the platforms send them and as they go wrong: out-of-range fields, other formats,
/// full-width digits, time zones, epoch values in strings, far past and future.
const BAD_DATES: &[&str] = &[
    "",
    " ",
    "2024-13-01 00:00:00",
    "2024-02-30 12:00:00",
    "2023-02-29 12:00:00",
    "2024-06-01 24:00:00",
    "2024-06-01 23:59:60",
    "2024-06-01T12:00:00Z",
    "2024-06-01T12:00:00+08:00",
    "2024/06/01 12:00:00",
    "2024-06-01",
    "2024-06-01 12:00",
    "2024-06-01 12:00:00.123",
    "2024-6-1 1:2:3",
    "0000-00-00 00:00:00",
    "0001-01-01 00:00:00",
    "9999-12-31 23:59:59",
    "-2024-06-01 12:00:00",
    "+275760-09-13 00:00:00",
    "２０２４-０６-０１ １２:００:００",
    "2024-06-01 12:00:00\u{0}",
    "20240601120000000+0800",
    "20240601120000000+9999",
    "20240601120000000-2400",
    "2024060112000000+0800",
    "99999999999999999+0800",
    "00000000000000000+0000",
    "20241301250000000+0800",
    "2024060112000000０+0800",
    "1717214400",
    "1717214400000",
    "-1",
    "99999999999999999999",
    "NaN",
    "now",
    "二〇二四年六月一日",
];

const DATE_NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1717214400",
    "1717214400000",
    "1717214400000000",
    "-62135596800000",
    "253402300800000",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    "1e20",
    "1717214400.5",
];

/// Characters strings are made of: ASCII, CJK (division and platform words among them),
/// control characters, full-width forms, and the odd ones (BOM, zero-width, U+2028,
/// replacement, '…', astral).
fn any_char() -> impl Strategy<Value = char> {
    const WORDS: &str = "省市区县旗镇乡村街道路号浙江杭州余杭北京朝阳上海浦东新疆内蒙古自治州\
                         退款货仅买家卖家同意拒绝待发收签驿站物业小区花园【】（），：";
    prop_oneof![
        4 => proptest::char::range(' ', '~'),
        3 => proptest::char::range('\u{4e00}', '\u{9fff}'),
        3 => select(WORDS.chars().collect::<Vec<_>>()),
        1 => proptest::char::range('\u{0}', '\u{1f}'),
        1 => proptest::char::range('\u{ff01}', '\u{ff5e}'),
        1 => select(vec!['\u{feff}', '\u{200b}', '\u{2028}', '\u{fffd}', '…', '\u{7f}', '\u{1F600}', '\u{10FFFF}', '\\', '"']),
        1 => any::<char>(),
    ]
}

fn any_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::collection::vec(any_char(), 0..24).prop_map(|v| v.into_iter().collect()),
        2 => select(vocabulary().strings.clone()),
        1 => select(BAD_DATES).prop_map(String::from),
        1 => select(EDGE_NUMBERS).prop_map(String::from),
    ]
}

fn any_number() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(EDGE_NUMBERS).prop_map(String::from),
        2 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| format!("{f:e}")),
        1 => (any::<i32>(), 0u32..1000).prop_map(|(i, f)| format!("{i}.{f:03}")),
    ]
}

fn any_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(vocabulary().keys.clone()),
        1 => any_string(),
    ]
}

/// An arbitrary JSON value, nested up to a few levels.
fn any_json() -> impl Strategy<Value = J> {
    let leaf = prop_oneof![
        1 => Just(J::Null),
        1 => any::<bool>().prop_map(J::Bool),
        3 => any_number().prop_map(J::Num),
        4 => any_string().prop_map(J::Str),
        1 => select(vec![
            r#""\ud800""#, r#""\udc00\ud800""#, r#""\u12""#, r#""\x41""#, "NaN", "Infinity",
            "-", "01", "1.", ".5", "+1", "tru", "nul", "'x'", r#""a"#, "[", "{",
        ])
        .prop_map(|s| J::Raw(s.to_string())),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            2 => proptest::collection::vec(inner.clone(), 0..8).prop_map(J::Arr),
            3 => proptest::collection::vec((any_key(), inner.clone()), 0..8).prop_map(J::Obj),
            1 => inner.prop_map(|j| match j {
                j @ (J::Obj(_) | J::Arr(_)) => J::Embedded(Box::new(j)),
                other => other,
            }),
        ]
    })
}

// ---- mutations of real payloads ---------------------------------------------------------------

/// One change to a payload tree. `pick` chooses the node (modulo the candidates when applied).
#[derive(Debug, Clone)]
enum Mutation {
    DropMember {
        pick: usize,
    },
    RenameMember {
        pick: usize,
        to: String,
    },
    DuplicateMember {
        pick: usize,
        value: Option<J>,
    },
    OtherType {
        pick: usize,
        kind: u8,
    },
    EmptyString {
        pick: usize,
    },
    HugeNumber {
        pick: usize,
        number: String,
        as_string: bool,
    },
    LongString {
        pick: usize,
        kind: u8,
    },
    BadDate {
        pick: usize,
        date: String,
        as_number: bool,
    },
    DeepNesting {
        pick: usize,
        depth: usize,
        objects: bool,
    },
    Arbitrary {
        pick: usize,
        value: J,
    },
    /// Swap a whole top-level member for one of another sample of the same platform.
    Graft {
        pick: usize,
        from: usize,
    },
}

/// A change to the rendered bytes.
#[derive(Debug, Clone)]
enum ByteMutation {
    Truncate { at: usize },
    Flip { flips: Vec<(usize, u8)> },
    Insert { at: usize, bytes: Vec<u8> },
    Delete { at: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let pick = any::<usize>();
    prop_oneof![
        3 => pick.prop_map(|pick| Mutation::DropMember { pick }),
        1 => (pick, any_key()).prop_map(|(pick, to)| Mutation::RenameMember { pick, to }),
        2 => (pick, proptest::option::of(any_json()))
            .prop_map(|(pick, value)| Mutation::DuplicateMember { pick, value }),
        3 => (pick, 0u8..6).prop_map(|(pick, kind)| Mutation::OtherType { pick, kind }),
        2 => pick.prop_map(|pick| Mutation::EmptyString { pick }),
        2 => (pick, any_number(), any::<bool>())
            .prop_map(|(pick, number, as_string)| Mutation::HugeNumber { pick, number, as_string }),
        1 => (pick, 0u8..5).prop_map(|(pick, kind)| Mutation::LongString { pick, kind }),
        3 => (pick, select(BAD_DATES), select(DATE_NUMBERS), any::<bool>()).prop_map(
            |(pick, d, n, as_number)| Mutation::BadDate {
                pick,
                date: if as_number { n } else { d }.to_string(),
                as_number,
            }
        ),
        1 => (pick, prop_oneof![1usize..20, 100usize..140, 200usize..3000], any::<bool>())
            .prop_map(|(pick, depth, objects)| Mutation::DeepNesting { pick, depth, objects }),
        2 => (pick, any_json()).prop_map(|(pick, value)| Mutation::Arbitrary { pick, value }),
        1 => (pick, any::<usize>()).prop_map(|(pick, from)| Mutation::Graft { pick, from }),
    ]
}

fn byte_mutation() -> impl Strategy<Value = ByteMutation> {
    prop_oneof![
        2 => any::<usize>().prop_map(|at| ByteMutation::Truncate { at }),
        2 => proptest::collection::vec((any::<usize>(), 1u8..=255), 1..8)
            .prop_map(|flips| ByteMutation::Flip { flips }),
        1 => (any::<usize>(), proptest::collection::vec(
                select(b"{}[]:,\"\\ 0-.eE\x00\xff\xe4\xb8".to_vec()), 1..6))
            .prop_map(|(at, bytes)| ByteMutation::Insert { at, bytes }),
        1 => (any::<usize>(), 1usize..64).prop_map(|(at, len)| ByteMutation::Delete { at, len }),
    ]
}

fn is_date_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    ["time", "date", "created", "modified", "gmt", "expire"]
        .iter()
        .any(|w| k.contains(w))
}

fn long_string(kind: u8) -> String {
    const N: usize = 100 * 1024;
    match kind {
        0 => "9".repeat(N),
        1 => "浙".repeat(N / 3),
        2 => "\u{0}".repeat(N),
        3 => "a\\\"".repeat(N / 3),
        _ => "浙江省杭州市余杭区".repeat(N / 27),
    }
}

fn other_type(kind: u8, was: &J) -> J {
    let options = [
        J::Null,
        J::Bool(true),
        J::Num("7".into()),
        J::Str("7".into()),
        J::Arr(vec![was.clone()]),
        J::Obj(vec![("value".into(), was.clone())]),
    ];
    let same = |a: &J, b: &J| std::mem::discriminant(a) == std::mem::discriminant(b);
    let start = kind as usize % options.len();
    (0..options.len())
        .map(|i| &options[(start + i) % options.len()])
        .find(|o| !same(o, was))
        .cloned()
        .unwrap_or(J::Null)
}

/// Apply `m`; a mutation with no candidate node leaves the tree as it is.
fn apply(tree: &mut J, m: &Mutation, samples: &[Sample]) {
    let paths = tree.paths();
    // Nodes that are object members (have a key), and values of any kind (not the root).
    let members: Vec<&Vec<usize>> = paths.iter().filter(|p| tree.key_of(p).is_some()).collect();
    let values: Vec<&Vec<usize>> = paths.iter().filter(|p| !p.is_empty()).collect();
    let choose = |set: &[&Vec<usize>], pick: usize| -> Option<Vec<usize>> {
        (!set.is_empty()).then(|| set[pick % set.len()].clone())
    };
    match m {
        Mutation::DropMember { pick } => {
            if let Some(p) = choose(&members, *pick) {
                let (last, parent) = p.split_last().unwrap();
                if let J::Obj(ms) = tree.at_mut(parent) {
                    ms.remove(*last);
                }
            }
        }
        Mutation::RenameMember { pick, to } => {
            if let Some(p) = choose(&members, *pick) {
                let (last, parent) = p.split_last().unwrap();
                if let J::Obj(ms) = tree.at_mut(parent) {
                    ms[*last].0 = to.clone();
                }
            }
        }
        Mutation::DuplicateMember { pick, value } => {
            if let Some(p) = choose(&members, *pick) {
                let (last, parent) = p.split_last().unwrap();
                if let J::Obj(ms) = tree.at_mut(parent) {
                    let (k, v) = ms[*last].clone();
                    ms.push((k, value.clone().unwrap_or(v)));
                }
            }
        }
        Mutation::OtherType { pick, kind } => {
            if let Some(p) = choose(&values, *pick) {
                let node = tree.at_mut(&p);
                *node = other_type(*kind, node);
            }
        }
        Mutation::EmptyString { pick } => {
            if let Some(p) = choose(&values, *pick) {
                *tree.at_mut(&p) = J::Str(String::new());
            }
        }
        Mutation::HugeNumber {
            pick,
            number,
            as_string,
        } => {
            let numeric: Vec<&Vec<usize>> = values
                .iter()
                .copied()
                .filter(|p| match tree.at(p) {
                    J::Num(_) => true,
                    J::Str(s) => !s.is_empty() && s.chars().all(|c| "0123456789.-".contains(c)),
                    _ => false,
                })
                .collect();
            let set = if numeric.is_empty() {
                &values
            } else {
                &numeric
            };
            if let Some(p) = choose(set, *pick) {
                *tree.at_mut(&p) = if *as_string {
                    J::Str(number.clone())
                } else {
                    J::Num(number.clone())
                };
            }
        }
        Mutation::LongString { pick, kind } => {
            if let Some(p) = choose(&values, *pick) {
                *tree.at_mut(&p) = J::Str(long_string(*kind));
            }
        }
        Mutation::BadDate {
            pick,
            date,
            as_number,
        } => {
            let dates: Vec<&Vec<usize>> = members
                .iter()
                .copied()
                .filter(|p| tree.key_of(p).is_some_and(is_date_key))
                .collect();
            let set = if dates.is_empty() { &values } else { &dates };
            if let Some(p) = choose(set, *pick) {
                *tree.at_mut(&p) = if *as_number {
                    J::Num(date.clone())
                } else {
                    J::Str(date.clone())
                };
            }
        }
        Mutation::DeepNesting {
            pick,
            depth,
            objects,
        } => {
            if let Some(p) = choose(&values, *pick) {
                // As text, not as a tree: the test's own recursive clone, render and drop
                // would need the stack the parsers are being tested for.
                let node = tree.at_mut(&p);
                let (open, close) = if *objects {
                    ("{\"data\":", "}")
                } else {
                    ("[", "]")
                };
                *node = J::Raw(format!(
                    "{}{}{}",
                    open.repeat(*depth),
                    node.render(),
                    close.repeat(*depth)
                ));
            }
        }
        Mutation::Arbitrary { pick, value } => {
            if let Some(p) = choose(&values, *pick) {
                *tree.at_mut(&p) = value.clone();
            }
        }
        Mutation::Graft { pick, from } => {
            let donor = &samples[from % samples.len()].tree;
            if let (J::Obj(ms), J::Obj(ds)) = (&mut *tree, donor) {
                if !ds.is_empty() {
                    let d = ds[pick % ds.len()].clone();
                    if ms.is_empty() || *pick % 2 == 0 {
                        ms.push(d);
                    } else {
                        let n = ms.len();
                        ms[pick % n] = d;
                    }
                }
            }
        }
    }
}

fn apply_bytes(bytes: &mut Vec<u8>, m: &ByteMutation) {
    match m {
        ByteMutation::Truncate { at } => {
            let n = bytes.len();
            bytes.truncate(at % (n + 1));
        }
        ByteMutation::Flip { flips } => {
            if !bytes.is_empty() {
                let n = bytes.len();
                for (at, x) in flips {
                    bytes[at % n] ^= x;
                }
            }
        }
        ByteMutation::Insert { at, bytes: ins } => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, ins.iter().copied());
        }
        ByteMutation::Delete { at, len } => {
            let n = bytes.len();
            let at = at % (n + 1);
            bytes.drain(at..(at + len).min(n));
        }
    }
}

/// A real payload of `platform` with 1–4 tree mutations, then perhaps one byte mutation.
fn mutated(platform: &'static str) -> impl Strategy<Value = Input> {
    let samples = Arc::new(corpus(platform));
    let n = samples.len();
    (
        0..n,
        proptest::collection::vec(mutation(), 1..5),
        proptest::option::weighted(0.3, byte_mutation()),
    )
        .prop_map(move |(i, ms, bm)| {
            let s = &samples[i];
            let mut tree = s.tree.clone();
            for m in &ms {
                apply(&mut tree, m, &samples);
            }
            let mut bytes = tree.render().into_bytes();
            if let Some(bm) = &bm {
                apply_bytes(&mut bytes, bm);
            }
            Input::new(format!("{platform}/{} {ms:?} {bm:?}", s.name), bytes)
        })
}

// ---- other input strategies -------------------------------------------------------------------

fn arbitrary_bytes() -> impl Strategy<Value = Input> {
    proptest::collection::vec(any::<u8>(), 0..2048).prop_map(|b| Input::new("bytes", b))
}

/// Near-JSON: a soup of JSON tokens, member names and odd bytes, mostly opened with `{`.
fn token_soup() -> impl Strategy<Value = Input> {
    let mut tokens: Vec<String> = [
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        "\"",
        "\\",
        "null",
        "true",
        "false",
        "-",
        "0",
        "1",
        "1e999",
        "0.5",
        " ",
        "\n",
        "\"\\ud800\"",
        "\"\\u0000\"",
        "\"浙江\"",
        "\u{feff}",
        "\"\"",
        "{}",
        "[]",
    ]
    .map(String::from)
    .to_vec();
    tokens.extend(vocabulary().keys.iter().map(|k| format!("{k:?}")));
    tokens.extend(vocabulary().keys.iter().map(|k| format!("{k:?}:")));
    (
        any::<bool>(),
        proptest::collection::vec(select(tokens), 0..120),
    )
        .prop_map(|(open, ts)| {
            let mut s = if open { "{".to_string() } else { String::new() };
            s.extend(ts);
            Input::new("token soup", s)
        })
}

/// An arbitrary document: mostly an object, as every adapter expects.
fn arbitrary_json() -> impl Strategy<Value = Input> {
    prop_oneof![
        4 => proptest::collection::vec((any_key(), any_json()), 0..8).prop_map(J::Obj),
        1 => any_json(),
    ]
    .prop_map(|j| Input::new("json", j.render()))
}

/// Inputs up to the service's 1 MiB limit on a native record.
fn large(platform: &'static str) -> impl Strategy<Value = Input> {
    const MIB: usize = 1 << 20;
    let samples = Arc::new(corpus(platform));
    let n = samples.len();
    (0u8..10, 0..n, any::<u64>(), (MIB / 2)..=MIB).prop_map(move |(kind, i, seed, len)| {
        let s = &samples[i];
        let mut rng = seed | 1;
        let mut next = move || {
            // xorshift64: fast filler, the seed is the proptest value.
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let (how, bytes): (&str, Vec<u8>) = match kind {
            0 => ("random bytes", (0..len).map(|_| next() as u8).collect()),
            1 => ("open brackets", "[".repeat(len).into_bytes()),
            2 => ("open objects", "{\"a\":".repeat(len / 5).into_bytes()),
            3 => {
                // One string member holding most of the megabyte, in place of a real value.
                let mut tree = s.tree.clone();
                let filler: String = "退".repeat(len / 3 - s.text.len().min(len / 3));
                apply(
                    &mut tree,
                    &Mutation::Arbitrary {
                        pick: next() as usize,
                        value: J::Str(filler),
                    },
                    &samples,
                );
                (
                    "real payload, one value a ~1 MiB string",
                    tree.render().into_bytes(),
                )
            }
            4 => {
                // Many members: the real payload's top object with ~30k extra keys.
                let mut tree = s.tree.clone();
                if let J::Obj(ms) = &mut tree {
                    let mut k = 0;
                    while k * 32 < len {
                        ms.push((format!("k{k:08}_{}", next() % 1000), J::Num("1".into())));
                        k += 1;
                    }
                }
                (
                    "real payload with ~30k extra members",
                    tree.render().into_bytes(),
                )
            }
            5 => {
                // The same member again and again (duplicate keys).
                let mut tree = s.tree.clone();
                if let J::Obj(ms) = &mut tree {
                    if let Some(first) = ms.first().cloned() {
                        let each = first.0.len() + first.1.render().len() + 4;
                        for _ in 0..(len / each).min(200_000) {
                            ms.push(first.clone());
                        }
                    }
                }
                (
                    "real payload, first member duplicated to ~1 MiB",
                    tree.render().into_bytes(),
                )
            }
            6 => ("a number of ~1 MiB digits", {
                let mut b = b"{\"refund_id\":".to_vec();
                b.extend(std::iter::repeat_n(b'9', len - 20));
                b.push(b'}');
                b
            }),
            7 => {
                // Every array in the payload repeated: a list of thousands of records.
                let mut tree = s.tree.clone();
                let one = s.text.len().max(1);
                for p in tree.paths() {
                    if let J::Arr(items) = tree.at_mut(&p) {
                        if let Some(first) = items.first().cloned() {
                            items.resize(len / one / 2 + 1, first);
                        }
                    }
                }
                (
                    "real payload, every list ~1 MiB long",
                    tree.render().into_bytes(),
                )
            }
            8 => ("whitespace-padded real payload", {
                let mut b = vec![b' '; len / 2];
                b.extend_from_slice(s.text.as_bytes());
                b.extend(std::iter::repeat_n(b'\n', len / 2));
                b
            }),
            _ => ("truncated deep mixed nesting", {
                let mut b = Vec::with_capacity(len);
                while b.len() < len {
                    b.extend_from_slice(if next() % 2 == 0 { b"[" } else { b"{\"x\":" });
                }
                b
            }),
        };
        Input::new(format!("{platform}/{} large: {how}", s.name), bytes)
    })
}

/// The payload's address texts (members named `*address*` or `*location*`), e.g. a
/// signed-elsewhere task's receiver_address and sign_location, as ~1 MiB in all of pickup-point
/// and compound words against street text: the TB-20 check's worst case. Samples with the
/// most address members are used.
fn long_addresses(platform: &'static str) -> impl Strategy<Value = Input> {
    fn address_paths(tree: &J) -> Vec<Vec<usize>> {
        tree.paths()
            .into_iter()
            .filter(|p| matches!(tree.at(p), J::Str(_)))
            .filter(|p| {
                tree.key_of(p).is_some_and(|k| {
                    let k = k.to_ascii_lowercase();
                    k.contains("address") || k.contains("location")
                })
            })
            .collect()
    }
    let samples = corpus(platform);
    let most = samples
        .iter()
        .map(|s| address_paths(&s.tree).len())
        .max()
        .unwrap_or(0);
    let chosen: Vec<(String, J)> = samples
        .into_iter()
        .filter(|s| address_paths(&s.tree).len() == most)
        .map(|s| (s.name, s.tree))
        .collect();
    const PICKUP: [&str; 6] = ["菜鸟驿站", "金色花园", "阳光小区", "翠苑", "物业", "家园"];
    const STREET: [&str; 4] = ["良渚街道", "文一西路", "969号", "浙江省杭州市余杭区"];
    (
        select(chosen),
        proptest::collection::vec(any::<u8>(), 64),
        (1usize << 18)..(1 << 20),
    )
        .prop_map(move |((name, mut tree), picks, len)| {
            let paths = address_paths(&tree);
            for (n, p) in paths.iter().enumerate() {
                let signing = tree
                    .key_of(p)
                    .is_some_and(|k| k.contains("sign") || k.contains("location"));
                let words: &[&str] = if signing { &PICKUP } else { &STREET };
                let mut text = String::new();
                let mut i = n;
                while text.len() < len / paths.len().max(1) {
                    text.push_str(words[picks[i % picks.len()] as usize % words.len()]);
                    i += 1;
                }
                *tree.at_mut(p) = J::Str(text);
            }
            Input::new(
                format!("{platform}/{name} with {} long address texts", paths.len()),
                tree.render(),
            )
        })
}

// ---- the property -----------------------------------------------------------------------------

fn adapter(platform: &str) -> Arc<dyn PlatformAdapter> {
    let code = PlatformCode::parse(platform).unwrap();
    AdapterRegistry::builtin()
        .get(&code)
        .unwrap_or_else(|| panic!("{platform} is not a builtin adapter"))
        .clone()
}

/// What every error must carry.
fn check_error(platform: &str, e: &MappingError) -> Result<(), String> {
    if e.platform != platform {
        return Err(format!("error names platform {:?}: {e:?}", e.platform));
    }
    if e.field.is_empty() {
        return Err(format!("error names no field: {e:?}"));
    }
    let truncated = e.raw.len() <= 200 + '…'.len_utf8() && e.raw.ends_with('…');
    if e.raw.len() > 200 && !truncated {
        return Err(format!(
            "error's raw value is {} bytes (at most 200 + '…'): {:?}…",
            e.raw.len(),
            harness::preview(e.raw.as_bytes(), 200)
        ));
    }
    Ok(())
}

fn map_once(
    platform: &str,
    a: &dyn PlatformAdapter,
    input: &Input,
    stats: &mut Stats,
) -> Result<(), String> {
    let (result, cost) = measure(&input.how, &input.bytes, || a.map_record(&input.bytes));
    stats.record(input, result.is_ok(), cost);
    harness::check_cost(input.bytes.len(), cost)?;
    match &result {
        Ok(_) => Ok(()),
        Err(e) => check_error(platform, e),
    }
}

/// Warm up what is built once per process (the division index the Taobao task path uses), so
/// its one-time allocation is not charged to the first fuzzed call; and check that the corpus
/// is what it claims: every sample maps, every `err_*` sample is refused properly.
fn warm_up_and_check_corpus(platform: &str, a: &dyn PlatformAdapter) {
    signing::warm_up();
    for s in corpus(platform) {
        let r = a.map_record(s.text.as_bytes());
        match (&r, s.name.starts_with("err_")) {
            (Ok(_), false) => {}
            (Err(e), true) => check_error(platform, e).unwrap(),
            (Err(e), false) => panic!("corpus {platform}/{} should map: {e}", s.name),
            (Ok(r), true) => panic!("corpus {platform}/{} should be refused: {r:?}", s.name),
        }
        // The tree renders back to a payload that maps the same way.
        let again = a.map_record(s.tree.render().as_bytes());
        assert_eq!(
            r.is_ok(),
            again.is_ok(),
            "corpus {platform}/{} re-rendered: {again:?}",
            s.name
        );
    }
}

fn fuzz_adapter(platform: &'static str) {
    let a = adapter(platform);
    warm_up_and_check_corpus(platform, a.as_ref());
    let prop = |input: &Input, stats: &mut Stats| map_once(platform, a.as_ref(), input, stats);
    harness::run(
        &format!("{platform} arbitrary bytes"),
        cases(300),
        arbitrary_bytes(),
        prop,
    );
    harness::run(
        &format!("{platform} token soup"),
        cases(300),
        token_soup(),
        prop,
    );
    harness::run(
        &format!("{platform} arbitrary json"),
        cases(500),
        arbitrary_json(),
        prop,
    );
    harness::run(
        &format!("{platform} mutated payloads"),
        cases(harness::BULK_CASES),
        mutated(platform),
        prop,
    );
    harness::run(
        &format!("{platform} large inputs"),
        cases(12),
        large(platform),
        prop,
    );
    harness::run(
        &format!("{platform} long addresses"),
        cases(4),
        long_addresses(platform),
        prop,
    );
}

#[test]
fn every_builtin_adapter_is_fuzzed() {
    let builtin: Vec<String> = AdapterRegistry::builtin()
        .platforms()
        .map(|p| p.as_str().to_string())
        .collect();
    assert_eq!(
        builtin, PLATFORMS,
        "a new adapter needs a corpus in tests/corpus/<platform>/ and a test here"
    );
}

#[test]
fn fuzz_taobao() {
    fuzz_adapter("taobao");
}

#[test]
fn fuzz_pinduoduo() {
    fuzz_adapter("pinduoduo");
}

#[test]
fn fuzz_alibaba1688() {
    fuzz_adapter("alibaba1688");
}

#[test]
fn fuzz_jd() {
    fuzz_adapter("jd");
}

// ---- TB-20 check ------------------------------------------------------------------------------

/// Address text: the real addresses of the corpus, arbitrary strings, and both cut, spliced
/// and repeated; up to ~1 MiB (a task payload carries two addresses in one 1 MiB record).
fn address() -> impl Strategy<Value = String> {
    let real: Vec<String> = vocabulary()
        .strings
        .iter()
        .filter(|s| s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)))
        .cloned()
        .collect();
    prop_oneof![
        4 => select(real.clone()),
        3 => proptest::collection::vec(any_char(), 0..64).prop_map(|v| v.into_iter().collect()),
        2 => (select(real.clone()), any_string(), any::<usize>()).prop_map(|(a, s, at)| {
            let cut = (0..=at % (a.len() + 1)).rev().find(|i| a.is_char_boundary(*i)).unwrap_or(0);
            format!("{}{s}{}", &a[..cut], &a[cut..])
        }),
    ]
}

/// Long address text, up to ~512 KiB: one real address or one word repeated.
fn long_address() -> impl Strategy<Value = String> {
    let real: Vec<String> = vocabulary()
        .strings
        .iter()
        .filter(|s| s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)))
        .cloned()
        .collect();
    prop_oneof![
        (select(real), 1usize..10_000).prop_map(|(a, n)| a.repeat(n)),
        (
            select(vec![
                "驿站",
                "小区",
                "花园",
                "苑",
                "菜鸟驿站金色家园",
                "浙江省",
                "北京",
                "【",
                "朝阳区"
            ]),
            1usize..80_000
        )
            .prop_map(|(w, n)| w.repeat(n)),
    ]
}

/// `signing::check` wraps `aftersales_divisions::check_signed_elsewhere`, fuzzed in depth by
/// that crate's `fuzz_address.rs`; here the wrapper, on the addresses of the payloads.
#[test]
fn fuzz_signing_check() {
    signing::warm_up();
    let pair = |d: String, s: String| {
        Input::pair(
            format!("delivery {} B, then signing {} B", d.len(), s.len()),
            &d,
            &s,
        )
    };
    let property = |input: &Input, stats: &mut Stats| {
        let (d, s) = input.texts();
        let (_check, cost) = measure(&input.how, &input.bytes, || signing::check(d, s));
        stats.record(input, true, cost);
        harness::check_cost(input.bytes.len(), cost)
    };
    harness::run(
        "signing::check",
        cases(300),
        (address(), address()).prop_map(move |(d, s)| pair(d, s)),
        property,
    );
    harness::run(
        "signing::check long texts",
        cases(8),
        (long_address(), prop_oneof![address(), long_address()]).prop_map(move |(d, s)| pair(d, s)),
        property,
    );
}
