//! 1688 (Alibaba wholesale, open.1688.com).
//!
//! - `model`: the native `OpOrderRefundModel` and the answers of
//!   `alibaba.trade.refund.OpQueryOrderRefund.sellerView` (detail) and
//!   `alibaba.trade.refund.queryOrderRefundList` (list), as the platform returns them.
//! - `transformers`: pure functions mapping a record into the common
//!   [`PlatformRecord`](aftersales_domain::PlatformRecord): `status` (all six values),
//!   `disputeRequest`, `goodsStatus` (the model's codes and the create-refund strings), fen
//!   amounts and the SDK's `yyyyMMddHHmmssSSS+0800` times.
//! - `policies/alibaba1688/*.toml`: the 1688 policy versions (AL-02's merchant deadline).
//!
//! # Accepted payloads
//!
//! [`Alibaba1688Adapter::map_record`] decides by the top-level JSON members (and, inside
//! `result`, by its members):
//!
//! | payload | what it is | result |
//! |---|---|---|
//! | `{"result": {"opOrderRefundModelDetail": {…}}}` | detail answer of `alibaba.trade.refund.OpQueryOrderRefund(.sellerView)`, the member name of the official SDK and example | `Record` |
//! | `{"result": {"opOrderRefundModel": {…}}}`, `{"opOrderRefundModel": {…}}`, `{"opOrderRefundModelDetail": {…}}` | the same detail, renamed or unwrapped by an integration | `Record` |
//! | `{"result": {"opOrderRefundModels": [one]}}` (or `{"opOrderRefundModels": [one]}`) | list answer of `alibaba.trade.refund.queryOrderRefundList` with exactly one record | `Record` |
//! | `errorCode` / `errorMessage` / `errorMsg` / `extErrorMessage`, `success: false`, gateway `error_code` / `error_message` | the platform's error answer | error carrying code and message |
//! | model fields at the top (`refundId`, `status`, `applyPayment`, `gmtModified`, …) | a bare record | **refused** |
//!
//! A payload carrying two of these (two record members, a record and an error, a record and
//! bare fields) is refused rather than guessed. A bare record is refused because 1688's order
//! APIs describe refunds with yuan amounts and other encodings: only the refund API's envelope
//! says the amounts are fen (see `model`). Envelope metadata (`success: true`, `totalCount`,
//! `currentPageNum`, empty error members) is ignored.

pub mod model;
pub mod transformers;

#[cfg(test)]
mod tests;

use crate::{MappingError, PlatformAdapter};
use aftersales_domain::{PlatformCode, PlatformInput};
use model::ErrorMembers;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// The platform code 1688 cases carry.
pub const PLATFORM: &str = "alibaba1688";

/// Every 1688 policy version, oldest first. A new version is a new file here; old ones stay,
/// because running cases keep the version they opened under.
const POLICY_SOURCES: &[&str] = &[include_str!("../../policies/alibaba1688/2024-01-01.toml")];

/// The members that hold a refund record, at the top level or inside `result`.
const DETAIL_MEMBERS: [&str; 2] = ["opOrderRefundModelDetail", "opOrderRefundModel"];
const LIST_MEMBER: &str = "opOrderRefundModels";

/// Members that only a bare `OpOrderRefundModel` has at the top level.
const BARE_RECORD_MEMBERS: [&str; 10] = [
    "refundId",
    "status",
    "applyPayment",
    "refundPayment",
    "canRefundPayment",
    "orderId",
    "gmtApply",
    "gmtModified",
    "disputeRequest",
    "goodsStatus",
];

/// Which native payload a 1688 JSON document is, with where its record sits.
#[derive(Debug)]
enum Shape {
    /// One record (detail answer); the path names where it was found.
    Detail { path: String, raw: Box<RawValue> },
    /// A list answer's `opOrderRefundModels` (must hold exactly one record).
    List { path: String, raw: Box<RawValue> },
    /// The platform's error answer.
    PlatformError(ErrorMembers),
}

fn is_null(raw: &RawValue) -> bool {
    raw.get().trim() == "null"
}

/// Take the record members out of an object's members, with their paths.
fn take_records(
    members: &mut BTreeMap<String, Box<RawValue>>,
    prefix: &str,
    out: &mut Vec<(String, Box<RawValue>)>,
) {
    for name in DETAIL_MEMBERS.into_iter().chain([LIST_MEMBER]) {
        if let Some(raw) = members.remove(name) {
            // `"opOrderRefundModelDetail": null` is how an answer says "no record".
            if !is_null(&raw) {
                out.push((format!("{prefix}{name}"), raw));
            }
        }
    }
}

impl Shape {
    fn of(native: &[u8]) -> Result<Shape, MappingError> {
        let text = model::utf8(native)?;
        model::expect_object("$", text)?;
        // Each member's raw JSON, read by the code that owns the shape.
        let mut top: BTreeMap<String, Box<RawValue>> = serde_json::from_str(text)
            .map_err(|e| model::json_error("$", text, &e, "not a JSON object"))?;
        let errors = ErrorMembers::read(text)?;
        let failed = errors.failed();

        let mut records = Vec::new();
        take_records(&mut top, "", &mut records);
        let mut result_members: Option<Vec<String>> = None;
        if let Some(result) = top.get("result").filter(|r| !is_null(r)) {
            if !result.get().trim_start().starts_with('{') && failed {
                // An error answer with an odd `result`: the error says more.
                return Ok(Shape::PlatformError(errors));
            }
            model::expect_object("result", result.get())?;
            let mut inner: BTreeMap<String, Box<RawValue>> = serde_json::from_str(result.get())
                .map_err(|e| model::json_error("result", result.get(), &e, "not a JSON object"))?;
            take_records(&mut inner, "result.", &mut records);
            result_members = Some(inner.into_keys().collect());
        }
        let bare: Vec<&str> = BARE_RECORD_MEMBERS
            .into_iter()
            .filter(|m| top.contains_key(*m))
            .collect();

        let kinds = records.len() + usize::from(failed) + usize::from(!bare.is_empty());
        if kinds > 1 {
            let mut members: Vec<String> = records.iter().map(|(p, _)| p.clone()).collect();
            if failed {
                members.push("an error answer (errorCode/errorMessage/success)".into());
            }
            members.extend(bare.iter().map(|m| m.to_string()));
            return Err(MappingError::new(
                PLATFORM,
                "$",
                members.join(", "),
                "members of more than one payload kind (detail record, list record, error \
                 answer, bare record fields): send one kind per payload",
            ));
        }
        if failed {
            return Ok(Shape::PlatformError(errors));
        }
        if let Some((path, raw)) = records.pop() {
            return Ok(if path.ends_with(LIST_MEMBER) {
                Shape::List { path, raw }
            } else {
                Shape::Detail { path, raw }
            });
        }
        if !bare.is_empty() {
            return Err(MappingError::new(
                PLATFORM,
                "$",
                bare.join(", "),
                "a bare refund record is refused: 1688's order APIs describe refunds with yuan \
                 amounts and other encodings, and only the refund API's envelope says these \
                 amounts are fen. Send the answer as returned: \
                 {\"result\":{\"opOrderRefundModelDetail\":{…}}} \
                 (alibaba.trade.refund.OpQueryOrderRefund.sellerView), \
                 {\"opOrderRefundModel\":{…}}, or \
                 {\"result\":{\"opOrderRefundModels\":[record]}} \
                 (alibaba.trade.refund.queryOrderRefundList)",
            ));
        }
        if let Some(inner) = result_members {
            return Err(MappingError::new(
                PLATFORM,
                "result",
                inner.join(", "),
                "the result holds no refund record: expected opOrderRefundModelDetail, \
                 opOrderRefundModel or opOrderRefundModels",
            ));
        }
        let keys: Vec<&str> = top.keys().map(String::as_str).collect();
        Err(MappingError::new(
            PLATFORM,
            "$",
            keys.join(", "),
            "not a 1688 refund payload: expected {\"result\":{\"opOrderRefundModelDetail\":…}}, \
             {\"opOrderRefundModel\":…} or {\"result\":{\"opOrderRefundModels\":[one record]}}",
        ))
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Alibaba1688Adapter;

/// What this adapter reads where the platform's own words are thin (platform-apis.md §4.2 –
/// §4.4); the policy must state the same (`native`).
const NATIVE_FACTS: &[(&str, &str)] = &[
    // Every amount of OpOrderRefundModel is a Long in fen (单位：分).
    ("amount_unit", "fen"),
    // The SDK's date format; `yyyy-MM-dd HH:mm:ss` Beijing time is accepted as well.
    ("time_format", "yyyyMMddHHmmssSSS+0800"),
    // disputeRequest is read as the create-refund strings (refund / returnRefund); the
    // model's Integer codes are undocumented [U] and refused unless onlyRefund/refundGoods
    // decide the kind.
    ("dispute_request", "string"),
];

impl PlatformAdapter for Alibaba1688Adapter {
    fn platform(&self) -> PlatformCode {
        PlatformCode::parse(PLATFORM).expect("\"alibaba1688\" is a valid platform code")
    }

    fn policy_sources(&self) -> &'static [&'static str] {
        POLICY_SOURCES
    }

    fn native_facts(&self) -> &'static [(&'static str, &'static str)] {
        NATIVE_FACTS
    }

    fn map_record(&self, native: &[u8]) -> Result<PlatformInput, MappingError> {
        match Shape::of(native)? {
            Shape::Detail { path, raw } => {
                let m = model::parse_model(&path, raw.get())?;
                Ok(PlatformInput::Record(Box::new(transformers::to_record(
                    &path,
                    &m,
                    transformers::SOURCE_DETAIL,
                )?)))
            }
            Shape::List { path, raw } => {
                let (at, m) = model::parse_list(&path, raw.get())?;
                Ok(PlatformInput::Record(Box::new(transformers::to_record(
                    &at,
                    &m,
                    transformers::SOURCE_LIST,
                )?)))
            }
            Shape::PlatformError(e) => Err(e.to_error()),
        }
    }
}
