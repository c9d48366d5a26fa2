//! What the adapters' unit tests share: the embedded policies and opening a case the way the
//! service does.

use crate::{AdapterRegistry, MappingError, PlatformAdapter};
use aftersales_domain::time::parse_shanghai;
use aftersales_domain::PlatformInput;
use aftersales_domain::{
    Case, CaseId, Deadline, PlatformCode, PlatformRecord, Policy, ShopId, TenantId,
};
use chrono::{DateTime, Duration, Utc};

/// A Beijing-time `yyyy-MM-dd HH:mm:ss`.
pub fn bj(s: &str) -> DateTime<Utc> {
    parse_shanghai(s).unwrap()
}

/// The platform's embedded policy in force in mid-2024.
pub fn policy(platform: &str) -> Policy {
    let reg = AdapterRegistry::builtin()
        .load_policies()
        .expect("embedded policies load");
    let code = PlatformCode::parse(platform).unwrap();
    reg.in_force(&code, bj("2024-06-01 00:00:00"))
        .unwrap_or_else(|| panic!("a {platform} policy is in force"))
        .clone()
}

/// Open a case from a record the way the service does, an hour after the request opened.
pub fn open(record: PlatformRecord, policy: &Policy, shop: &str) -> Case {
    let now = record.opened_at.expect("fixtures carry an opening time") + Duration::hours(1);
    Case::from_platform(
        CaseId::parse("case-1").unwrap(),
        TenantId::parse("acme").unwrap(),
        ShopId::parse(shop).unwrap(),
        policy.platform.clone(),
        record,
        policy,
        now,
        &[],
    )
    .expect("case opens")
    .case
}

pub fn deadline<'a>(case: &'a Case, key: &str) -> &'a Deadline {
    case.deadlines
        .iter()
        .find(|d| d.key == key)
        .unwrap_or_else(|| panic!("no {key} deadline in {:#?}", case.deadlines))
}

/// The case's deadline keys, sorted.
pub fn keys(case: &Case) -> Vec<&str> {
    let mut k: Vec<&str> = case.deadlines.iter().map(|d| d.key.as_str()).collect();
    k.sort();
    k
}

/// A JSON object from `fields` (raw JSON values) with `changes` applied: `Some(raw json)`
/// replaces a field, `None` removes it.
pub fn object(
    mut fields: Vec<(&'static str, String)>,
    changes: &[(&'static str, Option<&str>)],
) -> String {
    for (key, value) in changes {
        fields.retain(|(k, _)| k != key);
        if let Some(v) = value {
            fields.push((key, v.to_string()));
        }
    }
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k:?}: {v}")).collect();
    format!("{{{}}}", body.join(", "))
}

/// What the adapter makes of a payload that must be a record.
pub fn record(
    adapter: &dyn PlatformAdapter,
    native: &[u8],
) -> Result<PlatformRecord, MappingError> {
    match adapter.map_record(native)? {
        PlatformInput::Record(r) => Ok(*r),
        other => panic!("expected a record, got {other:?}"),
    }
}

/// A payload that must map.
pub fn mapped(adapter: &dyn PlatformAdapter, native: &[u8]) -> PlatformRecord {
    record(adapter, native)
        .unwrap_or_else(|e| panic!("{} should map: {e}", String::from_utf8_lossy(native)))
}

/// A payload that must be refused.
pub fn refused(adapter: &dyn PlatformAdapter, native: &[u8]) -> MappingError {
    match record(adapter, native) {
        Ok(r) => panic!(
            "{} should be refused, got {r:?}",
            String::from_utf8_lossy(native)
        ),
        Err(e) => e,
    }
}
