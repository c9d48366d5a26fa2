//! Platform adapters. Each marketplace is one module (its native types, a transformers file
//! mapping them into the common case model, and its policy files); the engine only ever sees
//! the `PlatformAdapter` trait and the registry. Adding a platform means adding a module and
//! registering it in `AdapterRegistry::builtin` — nothing else changes.

use aftersales_domain::{PlatformCode, PlatformInput, Policy, PolicyRegistry};
use std::collections::BTreeMap;
use std::sync::Arc;

pub mod alibaba1688;
pub mod jd;
mod json;
pub mod pinduoduo;
pub mod signing;
pub mod taobao;
#[cfg(test)]
mod test_support;

/// A native record that could not be mapped. Says which platform, which field (a JSON path
/// such as `refund.status`) and the raw value, so an integrator can fix the payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{platform}: {field}: {problem} (raw value: {raw})")]
pub struct MappingError {
    pub platform: String,
    pub field: String,
    pub raw: String,
    pub problem: String,
}

impl MappingError {
    pub fn new(
        platform: &str,
        field: impl Into<String>,
        raw: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        let mut raw: String = raw.into();
        // The raw value goes back to the caller and into logs: never echo megabytes.
        if raw.len() > 200 {
            let cut = (0..=200)
                .rev()
                .find(|i| raw.is_char_boundary(*i))
                .unwrap_or(0);
            raw.truncate(cut);
            raw.push('…');
        }
        MappingError {
            platform: platform.to_string(),
            field: field.into(),
            raw,
            problem: problem.into(),
        }
    }
}

/// One marketplace. Implementations are pure: no IO, so every mapping is unit-testable from
/// JSON fixtures.
pub trait PlatformAdapter: Send + Sync + std::fmt::Debug {
    /// The platform code cases carry (`taobao`, `pinduoduo`, …).
    fn platform(&self) -> PlatformCode;

    /// The policy files of this platform (TOML), embedded in the binary.
    fn policy_sources(&self) -> &'static [&'static str];

    /// Map one native payload, as the platform's API or message service delivers it (JSON),
    /// into the common model: a full record, or a notice that only says something changed.
    /// Every raw status maps explicitly; an unknown one is an error carrying the raw value,
    /// never a default.
    fn map_record(&self, native: &[u8]) -> Result<PlatformInput, MappingError>;

    /// What this adapter reads where the platform's own documentation is thin (units,
    /// encodings), as `(key, value)` pairs its policy's `native` table must state the same.
    /// Most adapters rely on none.
    fn native_facts(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    /// Refuse a policy whose `native` facts differ from [`Self::native_facts`], so the policy
    /// and the adapter cannot drift apart unnoticed.
    fn check_policy(&self, policy: &Policy) -> Result<(), String> {
        for (key, read_as) in self.native_facts() {
            match policy.native.get(*key) {
                Some(v) if v == read_as => {}
                Some(v) => {
                    return Err(format!(
                        "native.{key} is {v:?}, but the adapter reads it as {read_as:?}"
                    ))
                }
                None => {
                    return Err(format!(
                        "native.{key} is missing; the adapter reads it as {read_as:?}"
                    ))
                }
            }
        }
        Ok(())
    }
}

/// Every adapter the binary knows, by platform code.
#[derive(Debug, Clone)]
pub struct AdapterRegistry {
    adapters: BTreeMap<PlatformCode, Arc<dyn PlatformAdapter>>,
}

impl AdapterRegistry {
    pub fn empty() -> Self {
        AdapterRegistry {
            adapters: BTreeMap::new(),
        }
    }

    /// The platforms this build supports.
    pub fn builtin() -> Self {
        let mut r = Self::empty();
        r.register(Arc::new(taobao::TaobaoAdapter));
        r.register(Arc::new(pinduoduo::PinduoduoAdapter));
        r.register(Arc::new(alibaba1688::Alibaba1688Adapter));
        r.register(Arc::new(jd::JdAdapter));
        r
    }

    pub fn register(&mut self, adapter: Arc<dyn PlatformAdapter>) {
        self.adapters.insert(adapter.platform(), adapter);
    }

    pub fn get(&self, platform: &PlatformCode) -> Option<&Arc<dyn PlatformAdapter>> {
        self.adapters.get(platform)
    }

    pub fn platforms(&self) -> impl Iterator<Item = &PlatformCode> {
        self.adapters.keys()
    }

    /// Load and check every embedded policy file. A malformed policy stops the server at start
    /// rather than surfacing on the first case that needs it.
    pub fn load_policies(&self) -> Result<PolicyRegistry, String> {
        let mut reg = PolicyRegistry::new();
        for (code, adapter) in &self.adapters {
            for (i, src) in adapter.policy_sources().iter().enumerate() {
                let policy =
                    Policy::parse_toml(src).map_err(|e| format!("{code} policy file #{i}: {e}"))?;
                if &policy.platform != code {
                    return Err(format!(
                        "{code} policy file #{i} declares platform {}",
                        policy.platform
                    ));
                }
                adapter
                    .check_policy(&policy)
                    .map_err(|e| format!("{code} policy {}: {e}", policy.version))?;
                reg.add(policy)?;
            }
        }
        Ok(reg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// X-03 is cross-platform: every platform's every policy version lets the merchant check
    /// on the buyer's satisfaction once a case is resolved.
    #[test]
    fn x03_every_policy_allows_the_satisfaction_check() {
        let policies = AdapterRegistry::builtin().load_policies().unwrap();
        let mut seen = 0;
        for p in policies.all() {
            assert!(
                p.allows(aftersales_domain::ActionKind::RecordSatisfactionCheck),
                "{}",
                p.version
            );
            seen += 1;
        }
        assert!(seen >= 4, "one policy per platform at least: {seen}");
    }

    #[test]
    fn builtin_policies_load() {
        let reg = AdapterRegistry::builtin();
        let policies = reg.load_policies().expect("embedded policies must parse");
        for code in reg.platforms() {
            assert!(
                policies.platforms().any(|p| p == code),
                "{code} has no policy"
            );
        }
    }
}
