//! Taobao / Tmall (TOP open platform).
//!
//! - `model`: the native `taobao.refund.get` payload as TOP returns it.
//! - `transformers`: pure functions mapping it into the common [`PlatformRecord`].
//! - `policies/taobao/*.toml`: the Taobao policy versions (rules TB-01 … TB-31).
//!
//! TMC refund messages carry no status (platform-apis.md §1.5): the caller re-fetches the
//! refund with `taobao.refund.get` after each message and hands that answer to
//! [`TaobaoAdapter::map_record`].

pub mod model;
pub mod transformers;

#[cfg(test)]
mod tests;

use crate::{MappingError, PlatformAdapter};
use aftersales_domain::{PlatformCode, PlatformRecord};

/// The platform code Taobao cases carry.
pub const PLATFORM: &str = "taobao";

/// Every Taobao policy version, oldest first. A new version is a new file here; old ones stay,
/// because running cases keep the version they opened under.
const POLICY_SOURCES: &[&str] = &[include_str!("../../policies/taobao/2024-01-01.toml")];

#[derive(Debug, Clone, Copy, Default)]
pub struct TaobaoAdapter;

impl PlatformAdapter for TaobaoAdapter {
    fn platform(&self) -> PlatformCode {
        PlatformCode::parse(PLATFORM).expect("\"taobao\" is a valid platform code")
    }

    fn policy_sources(&self) -> &'static [&'static str] {
        POLICY_SOURCES
    }

    fn map_record(&self, native: &[u8]) -> Result<PlatformRecord, MappingError> {
        let refund = model::parse_payload(native)?;
        transformers::to_record(&refund)
    }
}
