//! Pinduoduo (PDD open platform).
//!
//! - `model`: the native payloads of `pdd.refund.list.increment.get` (one list record) and
//!   `pdd.refund.information.get` (the detail), as the platform returns them.
//! - `transformers`: pure functions mapping them into the common
//!   [`PlatformRecord`](aftersales_domain::PlatformRecord): `after_sales_status` (all 26
//!   codes), the two `after_sales_type` encodings, units and times.
//! - `messages`: refund messages (platform-apis.md §2.5), native type and mapping into a
//!   [`PlatformNotice`](aftersales_domain::PlatformNotice).
//! - `policies/pinduoduo/*.toml`: the Pinduoduo policy versions (rules PD-01 … PD-08).
//!
//! # Accepted payloads
//!
//! [`PinduoduoAdapter::map_record`] decides by the top-level JSON members:
//!
//! | top-level member | what it is | result |
//! |---|---|---|
//! | `refund_increment_get_response` (exactly one item in `refund_list`) | list record: query-encoded `after_sales_type` [U], yuan strings | `Record` |
//! | `refund_information_get_response` | detail: detail-encoded `after_sales_type`, integer fen, `expire_time` | `Record` |
//! | `type` or `topic` (+ `content`, a string or an object) | refund message | `Notice` |
//! | `error_response` | the platform's error answer | error naming it |
//! | after-sales record fields at the top (`after_sales_status`, `after_sales_type`, `refund_amount`, …) | a bare record | **refused** |
//!
//! A payload carrying members of two of these shapes is refused rather than guessed. A bare
//! record is refused because the same fields mean different things in the two APIs (the list
//! and the detail encode `after_sales_type` differently and give amounts in yuan and in fen,
//! platform-apis.md §2.3, §2.4): only its envelope says which, so it must come with it.
//!
//! Refund messages carry no status (§2.5): a notice only marks the case for a re-fetch; the
//! caller then fetches the record with `pdd.refund.information.get` and hands that answer to
//! [`PinduoduoAdapter::map_record`].

pub mod messages;
pub mod model;
pub mod transformers;

#[cfg(test)]
mod messages_tests;
#[cfg(test)]
mod tests;

use crate::{MappingError, PlatformAdapter};
use aftersales_domain::{PlatformCode, PlatformInput};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// The platform code Pinduoduo cases carry.
pub const PLATFORM: &str = "pinduoduo";

/// Every Pinduoduo policy version, oldest first. A new version is a new file here; old ones
/// stay, because running cases keep the version they opened under.
const POLICY_SOURCES: &[&str] = &[include_str!("../../policies/pinduoduo/2024-01-01.toml")];

/// Members that only a bare after-sales record has at the top level.
const BARE_RECORD_MEMBERS: [&str; 6] = [
    "after_sales_status",
    "after_sales_type",
    "refund_amount",
    "order_sn",
    "after_sale_reason",
    "after_sales_reason",
];

/// Which native payload a Pinduoduo JSON document is, with the member that holds it.
#[derive(Debug)]
enum Shape {
    /// `pdd.refund.list.increment.get`.
    List(Box<RawValue>),
    /// `pdd.refund.information.get`.
    Detail(Box<RawValue>),
    /// Refund message (`messages`).
    Message,
    /// The platform's `error_response`.
    PlatformError(Box<RawValue>),
}

impl Shape {
    fn of(native: &[u8]) -> Result<Shape, MappingError> {
        let text = model::utf8(native)?;
        model::expect_object("$", text)?;
        // Each member's raw JSON, read by the module that owns the shape.
        let mut top: BTreeMap<String, Box<RawValue>> = serde_json::from_str(text)
            .map_err(|e| model::json_error("$", text, &e, "not a JSON object"))?;
        let bare: Vec<&str> = BARE_RECORD_MEMBERS
            .into_iter()
            .filter(|m| top.contains_key(*m))
            .collect();
        let has = |m: &str| top.contains_key(m);
        let list = has("refund_increment_get_response");
        let detail = has("refund_information_get_response");
        let message = has("type") || has("topic");
        let error = has("error_response");
        let kinds = [list, detail, message, error, !bare.is_empty()]
            .into_iter()
            .filter(|k| *k)
            .count();
        if kinds > 1 {
            let members: Vec<&str> = [
                "refund_increment_get_response",
                "refund_information_get_response",
                "type",
                "topic",
                "error_response",
            ]
            .into_iter()
            .filter(|m| has(m))
            .chain(bare.iter().copied())
            .collect();
            return Err(MappingError::new(
                PLATFORM,
                "$",
                members.join(", "),
                "members of more than one payload kind (list response, detail response, \
                 refund message, error, bare record): send one kind per payload",
            ));
        }
        if let Some(raw) = top.remove("refund_increment_get_response") {
            return Ok(Shape::List(raw));
        }
        if let Some(raw) = top.remove("refund_information_get_response") {
            return Ok(Shape::Detail(raw));
        }
        if message {
            return Ok(Shape::Message);
        }
        if let Some(raw) = top.remove("error_response") {
            return Ok(Shape::PlatformError(raw));
        }
        if !bare.is_empty() {
            return Err(MappingError::new(
                PLATFORM,
                "$",
                bare.join(", "),
                "a bare after-sales record is ambiguous and refused: after_sales_type means \
                 different kinds in the list and the detail API (2 = 仅退款 in a list record, \
                 退货退款 in a detail record) and amounts are yuan strings in one and integer \
                 fen in the other. Send the API answer with its envelope: \
                 {\"refund_increment_get_response\":{\"refund_list\":[record]}} or \
                 {\"refund_information_get_response\":{…}}",
            ));
        }
        let keys: Vec<&str> = top.keys().map(String::as_str).collect();
        Err(MappingError::new(
            PLATFORM,
            "$",
            keys.join(", "),
            "not a Pinduoduo payload: expected refund_increment_get_response, \
             refund_information_get_response, or a refund message (type + content)",
        ))
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct PinduoduoAdapter;

/// What this adapter assumes about Pinduoduo's payloads where the platform does not say
/// (platform-apis.md §2.3, §2.4); the policy must state the same (`native`).
const NATIVE_FACTS: &[(&str, &str)] = &[
    // The list response's after_sales_type: read with the list QUERY encoding [U].
    ("list_after_sales_type_encoding", "query"),
    ("detail_after_sales_type_encoding", "detail"),
    ("list_amount_unit", "yuan"),
    // Detail and message amounts are integers, read as fen [U].
    ("detail_amount_unit", "fen"),
];

impl PlatformAdapter for PinduoduoAdapter {
    fn platform(&self) -> PlatformCode {
        PlatformCode::parse(PLATFORM).expect("\"pinduoduo\" is a valid platform code")
    }

    fn policy_sources(&self) -> &'static [&'static str] {
        POLICY_SOURCES
    }

    fn native_facts(&self) -> &'static [(&'static str, &'static str)] {
        NATIVE_FACTS
    }

    fn map_record(&self, native: &[u8]) -> Result<PlatformInput, MappingError> {
        match Shape::of(native)? {
            Shape::List(raw) => Ok(PlatformInput::Record(Box::new(
                transformers::list_to_record(&model::parse_list(&raw)?)?,
            ))),
            Shape::Detail(raw) => Ok(PlatformInput::Record(Box::new(
                transformers::detail_to_record(&model::parse_detail(&raw)?)?,
            ))),
            Shape::Message => Ok(PlatformInput::Notice(messages::to_notice(
                &messages::parse_payload(native)?,
            )?)),
            Shape::PlatformError(raw) => Err(model::error_response(&raw)),
        }
    }
}
