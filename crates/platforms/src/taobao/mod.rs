//! Taobao / Tmall (TOP open platform).
//!
//! - `model`: the native `taobao.refund.get` payload as TOP returns it.
//! - `transformers`: pure functions mapping it into the common
//!   [`PlatformRecord`](aftersales_domain::PlatformRecord).
//! - `dispute`: Tmall disputes (`tmall.dispute.receive.get`, platform-apis.md §1.4), native
//!   type and mapping into a record.
//! - `tmc`: TMC refund messages (platform-apis.md §1.5), native type and mapping into a
//!   [`PlatformNotice`](aftersales_domain::PlatformNotice).
//! - `task`: the signed-elsewhere platform task (异地签收, TB-20 … TB-31), a payload this
//!   service defines because Taobao publishes none (platform-apis.md §1.7).
//! - `policies/taobao/*.toml`: the Taobao policy versions (rules TB-01 … TB-31).
//!
//! # Accepted payloads
//!
//! [`TaobaoAdapter::map_record`] decides by the top-level JSON members:
//!
//! | top-level member | what it is | result |
//! |---|---|---|
//! | `topic` (+ `content`, a string or an object), or `tmc_message` | TMC refund message | `Notice` |
//! | `tmall_dispute_receive_get_response` (exactly one dispute in it), or `dispute` | Tmall dispute | `Record` |
//! | `platform_task` | signed-elsewhere task (see `task`) | `Record` |
//! | `refund_get_response`, `refund`, `error_response`, or none of the above (a bare refund) | `taobao.refund.get` | `Record` |
//!
//! A payload carrying members of two of these shapes is refused rather than guessed.
//!
//! TMC refund messages carry no status (platform-apis.md §1.5): a notice only marks the case
//! for a re-fetch; the caller then fetches the refund with `taobao.refund.get` and hands that
//! answer to [`TaobaoAdapter::map_record`].

pub mod dispute;
pub mod model;
pub mod task;
pub mod tmc;
pub mod transformers;

#[cfg(test)]
mod dispute_tests;
#[cfg(test)]
mod task_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tmc_tests;

use crate::{MappingError, PlatformAdapter};
use aftersales_domain::{PlatformCode, PlatformInput};
use serde::de::IgnoredAny;
use serde::Deserialize;

/// The platform code Taobao cases carry.
pub const PLATFORM: &str = "taobao";

/// Every Taobao policy version, oldest first. A new version is a new file here; old ones stay,
/// because running cases keep the version they opened under.
const POLICY_SOURCES: &[&str] = &[include_str!("../../policies/taobao/2024-01-01.toml")];

/// The value tables of `transformers` name their field under `refund.`; where a dispute or a
/// TMC message reuses one, the error is re-pointed at the payload it came from.
pub(crate) fn rebase(mut e: MappingError, prefix: &str) -> MappingError {
    if let Some(rest) = e.field.strip_prefix("refund.") {
        e.field = format!("{prefix}.{rest}");
    }
    e
}

/// Which native payload a Taobao JSON document is, by its top-level members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// TMC refund message (`tmc`).
    Tmc,
    /// Tmall dispute (`dispute`).
    Dispute,
    /// Signed-elsewhere platform task (`task`, TB-20 … TB-31).
    PlatformTask,
    /// `taobao.refund.get` (`model` + `transformers`), also the fallback for everything else so
    /// malformed input gets that path's precise errors.
    Refund,
}

/// Only which members are present; their values are read by the module that owns the shape.
#[derive(Debug, Deserialize)]
struct TopLevel {
    #[serde(default)]
    topic: Option<IgnoredAny>,
    #[serde(default)]
    tmc_message: Option<IgnoredAny>,
    #[serde(default)]
    tmall_dispute_receive_get_response: Option<IgnoredAny>,
    #[serde(default)]
    dispute: Option<IgnoredAny>,
    #[serde(default)]
    refund_get_response: Option<IgnoredAny>,
    #[serde(default)]
    refund: Option<IgnoredAny>,
    #[serde(default)]
    platform_task: Option<IgnoredAny>,
}

impl Shape {
    fn of(native: &[u8]) -> Result<Shape, MappingError> {
        // Not UTF-8, not an object, not JSON: the refund path reports it precisely.
        let Ok(text) = std::str::from_utf8(native) else {
            return Ok(Shape::Refund);
        };
        if !text.trim_start().starts_with('{') {
            return Ok(Shape::Refund);
        }
        let Ok(top) = serde_json::from_str::<TopLevel>(text) else {
            return Ok(Shape::Refund);
        };
        let tmc = top.topic.is_some() || top.tmc_message.is_some();
        let dispute = top.tmall_dispute_receive_get_response.is_some() || top.dispute.is_some();
        let refund = top.refund_get_response.is_some() || top.refund.is_some();
        let task = top.platform_task.is_some();
        match (tmc, dispute, refund, task) {
            (true, false, false, false) => Ok(Shape::Tmc),
            (false, true, false, false) => Ok(Shape::Dispute),
            (false, false, false, true) => Ok(Shape::PlatformTask),
            (false, false, true, false) | (false, false, false, false) => Ok(Shape::Refund),
            _ => {
                let members: Vec<&str> = [
                    ("topic", top.topic.is_some()),
                    ("tmc_message", top.tmc_message.is_some()),
                    (
                        "tmall_dispute_receive_get_response",
                        top.tmall_dispute_receive_get_response.is_some(),
                    ),
                    ("dispute", top.dispute.is_some()),
                    ("refund_get_response", top.refund_get_response.is_some()),
                    ("refund", top.refund.is_some()),
                    ("platform_task", top.platform_task.is_some()),
                ]
                .into_iter()
                .filter_map(|(name, present)| present.then_some(name))
                .collect();
                Err(MappingError::new(
                    PLATFORM,
                    "$",
                    members.join(", "),
                    "members of more than one payload kind (TMC message, Tmall dispute, \
                     refund, platform task): send one kind per payload",
                ))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct TaobaoAdapter;

impl PlatformAdapter for TaobaoAdapter {
    fn platform(&self) -> PlatformCode {
        PlatformCode::parse(PLATFORM).expect("\"taobao\" is a valid platform code")
    }

    fn policy_sources(&self) -> &'static [&'static str] {
        POLICY_SOURCES
    }

    fn map_record(&self, native: &[u8]) -> Result<PlatformInput, MappingError> {
        match Shape::of(native)? {
            Shape::Tmc => Ok(PlatformInput::Notice(tmc::to_notice(&tmc::parse_payload(
                native,
            )?)?)),
            Shape::Dispute => Ok(PlatformInput::Record(Box::new(dispute::to_record(
                &dispute::parse_payload(native)?,
            )?))),
            Shape::PlatformTask => Ok(PlatformInput::Record(Box::new(task::to_record(
                &task::parse_payload(native)?,
            )?))),
            Shape::Refund => {
                let refund = model::parse_payload(native)?;
                Ok(PlatformInput::Record(Box::new(transformers::to_record(
                    &refund,
                )?)))
            }
        }
    }
}
