//! Platform policies as versioned data.
//!
//! Windows, deadlines and consequences change over time, so they live in per-platform policy
//! files (TOML) with an effective-from time, embedded in the binary and loaded at start. A case
//! keeps the version it opened under; a new version never rewrites a running case's deadlines.

use crate::action::ActionKind;
use crate::calendar::WorkingCalendar;
use crate::case::{Case, CaseKind, Fulfilment};
use crate::deadline::{Consequence, Deadline, DeadlineSource, DeadlineState, DueParty};
use crate::ids::PlatformCode;
use crate::state::CaseState;
use crate::task::TaskPlan;
use crate::time::PLATFORM_TZ;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// A span of time written the way people write policies: `48h`, `5d`, `30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct PolicyDuration(pub Duration);

impl PolicyDuration {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let (num, unit) = raw.split_at(raw.len().saturating_sub(1));
        let n: i64 = num
            .parse()
            .map_err(|_| format!("{raw:?} is not a duration such as 48h, 5d or 30m"))?;
        if n <= 0 {
            return Err(format!("{raw:?}: a policy duration must be positive"));
        }
        let d = match unit {
            "d" => Duration::days(n),
            "h" => Duration::hours(n),
            "m" => Duration::minutes(n),
            _ => return Err(format!("{raw:?}: unit must be d, h or m")),
        };
        Ok(PolicyDuration(d))
    }
}

impl From<PolicyDuration> for String {
    fn from(d: PolicyDuration) -> String {
        let mins = d.0.num_minutes();
        if mins % (24 * 60) == 0 {
            format!("{}d", mins / (24 * 60))
        } else if mins % 60 == 0 {
            format!("{}h", mins / 60)
        } else {
            format!("{mins}m")
        }
    }
}

impl<'de> Deserialize<'de> for PolicyDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PolicyDuration::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// How long a party has: natural time (`48h`, `5d`, `30m`), or a count of mainland-China working
/// days (`3wd`, PD-03), which skips weekends and public holidays and counts make-up workdays
/// (调休) using the vendored [`WorkingCalendar`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum DueAfter {
    Natural(PolicyDuration),
    WorkingDays(u32),
}

impl DueAfter {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().strip_suffix("wd") {
            Some(n) => match n.parse::<u32>() {
                Ok(n) if n > 0 => Ok(DueAfter::WorkingDays(n)),
                _ => Err(format!(
                    "{raw:?}: a working-day count is a positive whole number, e.g. 3wd"
                )),
            },
            None => PolicyDuration::parse(raw).map(DueAfter::Natural),
        }
    }

    /// The shortest natural span this can be: a working day is at least a calendar day.
    fn at_least(self) -> Duration {
        match self {
            DueAfter::Natural(d) => d.0,
            DueAfter::WorkingDays(n) => Duration::days(i64::from(n)),
        }
    }

    /// The due time for a clock started at `start`, and whether it had to be assumed: past the
    /// years the holiday calendar covers, only weekends are skipped.
    pub fn due_from(self, start: DateTime<Utc>) -> (DateTime<Utc>, bool) {
        match self {
            DueAfter::Natural(d) => (start + d.0, false),
            DueAfter::WorkingDays(n) => {
                let calendar = WorkingCalendar::china();
                match calendar.add_working_days(start, n) {
                    Ok(due) => (due, false),
                    Err(_) => (weekdays_after(start, n), true),
                }
            }
        }
    }
}

/// `n` Monday-to-Friday days after `start`, same Beijing time of day: the fallback when the
/// holiday calendar does not cover the dates (it ends with the last State Council notice).
fn weekdays_after(start: DateTime<Utc>, n: u32) -> DateTime<Utc> {
    use chrono::{Datelike, Weekday};
    let mut at = start.with_timezone(&PLATFORM_TZ);
    let mut left = n;
    while left > 0 {
        at += Duration::days(1);
        if !matches!(at.weekday(), Weekday::Sat | Weekday::Sun) {
            left -= 1;
        }
    }
    at.with_timezone(&Utc)
}

impl From<DueAfter> for String {
    fn from(d: DueAfter) -> String {
        match d {
            DueAfter::Natural(p) => p.into(),
            DueAfter::WorkingDays(n) => format!("{n}wd"),
        }
    }
}

impl<'de> Deserialize<'de> for DueAfter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DueAfter::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// One deadline the policy imposes when a case enters a state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlineRule {
    pub key: String,
    /// The catalogue rule, e.g. "TB-07".
    pub rule: String,
    /// The state whose entry starts the clock.
    pub state: CaseState,
    /// Kinds it applies to; empty means every kind.
    #[serde(default)]
    pub kinds: Vec<CaseKind>,
    /// Where the goods must be for it to apply; empty means anywhere.
    #[serde(default)]
    pub fulfilment: Vec<Fulfilment>,
    /// For platform tasks: the replies after which it applies (TB-25); empty means any.
    #[serde(default)]
    pub plans: Vec<TaskPlan>,
    /// For evidence requests: the scenarios it applies to (PD-E1 … PD-E8); empty means any.
    #[serde(default)]
    pub scenarios: Vec<String>,
    /// The platform status codes it applies to, where one common state covers platform steps
    /// with different clocks (JD-04: the buyer ships the return at steps 31/32, not at 40).
    /// Empty means any; a case without a platform status (entered by hand) always matches.
    #[serde(default)]
    pub platform_statuses: Vec<String>,
    pub due_party: DueParty,
    pub due_after: DueAfter,
    /// How long before the due time the "about to time out" reminder goes out (X-02, TB-23).
    pub remind_before: Option<PolicyDuration>,
    pub consequence: Consequence,
    /// True when the value is not from the platform's published rules but assumed (JD-06).
    #[serde(default)]
    pub assumed: bool,
    #[serde(default)]
    pub note: String,
}

impl DeadlineRule {
    fn applies_to(&self, case: &Case) -> bool {
        self.state == case.state
            && (self.kinds.is_empty() || self.kinds.contains(&case.kind))
            && (self.fulfilment.is_empty() || self.fulfilment.contains(&case.fulfilment))
            && (self.plans.is_empty()
                || case
                    .task
                    .as_ref()
                    .and_then(|t| t.plan)
                    .is_some_and(|p| self.plans.contains(&p)))
            && (self.platform_statuses.is_empty()
                || case
                    .platform_status
                    .as_ref()
                    .is_none_or(|s| self.platform_statuses.contains(&s.code)))
            && (self.scenarios.is_empty()
                || case
                    .evidence_request
                    .as_ref()
                    .is_some_and(|e| self.scenarios.contains(&e.scenario)))
    }
}

/// Where the after-sales window counts from (TB-01: trade success; PD-01: signing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowStart {
    #[default]
    TradeSuccess,
    Signed,
}

/// PD-02: the buyer pays return shipping, except for the reasons listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnShipping {
    pub rule: String,
    pub payer: DueParty,
    /// Reasons for which the other party (the merchant) pays.
    pub merchant_pays_for: Vec<crate::case::ReasonCategory>,
}

/// A cap on buyer requests per order (PD-07): past it the platform closes the entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestLimit {
    /// The catalogue rule, e.g. "PD-07".
    pub rule: String,
    pub max_per_order: u32,
    /// The kinds that count (and are refused past the cap).
    pub kinds: Vec<CaseKind>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub platform: PlatformCode,
    pub version: String,
    pub effective_from: DateTime<Utc>,
    /// Where the numbers come from (rule ids, documents).
    pub source: String,
    /// Days after trade success during which the buyer may open a request (CM-04, TB-01).
    pub after_sales_window_days: Option<u32>,
    /// TB-03: the after-sales entry can be used once per order line.
    #[serde(default)]
    pub one_request_per_order_line: bool,
    /// AL-01: agreeing to a return needs a complete after-sales plan.
    #[serde(default)]
    pub agree_needs_return_plan: bool,
    /// PD-06: a reship is agreed only with the ERP's stock check.
    #[serde(default)]
    pub reship_needs_stock_check: bool,
    /// PD-06: kinds the merchant opens (from the chat); they wait for the buyer's confirmation.
    #[serde(default)]
    pub merchant_initiated_kinds: Vec<CaseKind>,
    /// The rule the window enforces (TB-01, PD-01); CM-04 when not named.
    #[serde(default)]
    pub after_sales_window_rule: Option<String>,
    /// PD-01: where the after-sales window starts.
    #[serde(default)]
    pub after_sales_window_from: WindowStart,
    /// PD-02: who pays for return shipping.
    #[serde(default)]
    pub return_shipping: Option<ReturnShipping>,
    /// AL-11 … AL-13: the numbers of buyer-protection deposit release.
    #[serde(default)]
    pub deposit_release: Option<crate::deposit::DepositRules>,
    /// PD-07: at most so many requests of some kinds per order.
    #[serde(default)]
    pub request_limit: Option<RequestLimit>,
    /// The merchant actions this platform lets the service carry out.
    pub merchant_actions: Vec<ActionKind>,
    /// The platform-task replies this platform offers (TB-24).
    #[serde(default)]
    pub task_replies: Vec<TaskPlan>,
    /// Facts about the platform's own payloads that its adapter relies on (units, encodings
    /// the platform does not document): written here so they are reviewed with the policy,
    /// and checked by the adapter at start.
    #[serde(default)]
    pub native: BTreeMap<String, String>,
    /// What each evidence scenario requires (PD-E0 … PD-E9).
    #[serde(default)]
    pub evidence: Vec<crate::evidence::EvidenceScenario>,
    #[serde(default)]
    pub deadlines: Vec<DeadlineRule>,
}

impl Policy {
    pub fn parse_toml(text: &str) -> Result<Policy, String> {
        let p: Policy = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut scenarios = std::collections::BTreeSet::new();
        for e in &p.evidence {
            if !scenarios.insert(e.scenario.as_str()) {
                return Err(format!(
                    "policy {}: evidence scenario {:?} appears twice",
                    p.version, e.scenario
                ));
            }
        }
        for e in &p.evidence {
            if let Some(other) = &e.if_return_signed {
                if !scenarios.contains(other.as_str()) {
                    return Err(format!(
                        "policy {}: scenario {:?} points to unknown scenario {other:?}",
                        p.version, e.scenario
                    ));
                }
            }
        }
        let mut keys = std::collections::BTreeSet::new();
        for d in &p.deadlines {
            if let Some(s) = d.scenarios.iter().find(|s| !scenarios.contains(s.as_str())) {
                return Err(format!(
                    "policy {}: deadline {:?} names unknown scenario {s:?}",
                    p.version, d.key
                ));
            }
            if !keys.insert(d.key.as_str()) {
                return Err(format!(
                    "policy {}: deadline key {:?} appears twice",
                    p.version, d.key
                ));
            }
            if let Some(lead) = d.remind_before {
                if lead.0 >= d.due_after.at_least() {
                    return Err(format!(
                        "policy {}: deadline {:?} reminds before it starts",
                        p.version, d.key
                    ));
                }
            }
        }
        Ok(p)
    }

    pub fn scenario(&self, key: &str) -> Option<&crate::evidence::EvidenceScenario> {
        self.evidence.iter().find(|s| s.scenario == key)
    }

    /// The scenario keys, for error messages.
    pub fn scenario_keys(&self) -> String {
        if self.evidence.is_empty() {
            return format!("none ({} defines no evidence scenarios)", self.version);
        }
        let keys: Vec<&str> = self.evidence.iter().map(|s| s.scenario.as_str()).collect();
        keys.join(", ")
    }

    /// Whether opening a request depends on the order's earlier cases (TB-03, PD-07).
    pub fn limits_requests(&self) -> bool {
        self.one_request_per_order_line || self.request_limit.is_some()
    }

    pub fn allows(&self, action: ActionKind) -> bool {
        self.merchant_actions.contains(&action)
    }

    /// The deadlines that start when `case` enters its current state at `entered_at`.
    /// `platform_due` is the deadline the platform itself sent, if any: it overrides the
    /// computed due time of the merchant's deadline, and the computed one is kept beside it.
    pub fn deadlines_for(
        &self,
        case: &Case,
        entered_at: DateTime<Utc>,
        platform_due: Option<DateTime<Utc>>,
    ) -> Vec<Deadline> {
        let mut out: Vec<Deadline> = self
            .deadlines
            .iter()
            .filter(|r| r.applies_to(case))
            .map(|r| {
                let (computed, calendar_assumed) = r.due_after.due_from(entered_at);
                let (due_at, source, computed_due_at) = match platform_due {
                    Some(p) if r.due_party == DueParty::Merchant => {
                        (p, DeadlineSource::Platform, Some(computed))
                    }
                    _ => (computed, DeadlineSource::Policy, None),
                };
                Deadline {
                    key: r.key.clone(),
                    rule_id: r.rule.clone(),
                    due_party: r.due_party,
                    remind_at: r.remind_before.map(|lead| due_at - lead.0),
                    due_at,
                    consequence: r.consequence,
                    source,
                    computed_due_at,
                    state: DeadlineState::Active,
                    started_at: entered_at,
                    reminded_at: None,
                    closed_at: None,
                    assumed: r.assumed || calendar_assumed,
                }
            })
            .collect();
        out.sort_by_key(|d| d.due_at);
        out
    }
}

/// Every policy version of every platform, loaded once at start.
#[derive(Debug, Clone, Default)]
pub struct PolicyRegistry {
    by_platform: BTreeMap<PlatformCode, Vec<Policy>>,
}

impl PolicyRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, policy: Policy) -> Result<(), String> {
        let versions = self.by_platform.entry(policy.platform.clone()).or_default();
        if versions.iter().any(|p| p.version == policy.version) {
            return Err(format!(
                "policy version {} is defined twice",
                policy.version
            ));
        }
        if versions
            .iter()
            .any(|p| p.effective_from == policy.effective_from)
        {
            return Err(format!(
                "two {} policies take effect at {}",
                policy.platform, policy.effective_from
            ));
        }
        versions.push(policy);
        versions.sort_by_key(|p| p.effective_from);
        Ok(())
    }

    /// The version in force for `platform` at `at`: the latest whose effective-from is not
    /// after `at`.
    pub fn in_force(&self, platform: &PlatformCode, at: DateTime<Utc>) -> Option<&Policy> {
        self.by_platform
            .get(platform)?
            .iter()
            .rev()
            .find(|p| p.effective_from <= at)
    }

    pub fn version(&self, platform: &PlatformCode, version: &str) -> Option<&Policy> {
        self.by_platform
            .get(platform)?
            .iter()
            .find(|p| p.version == version)
    }

    pub fn platforms(&self) -> impl Iterator<Item = &PlatformCode> {
        self.by_platform.keys()
    }

    /// Every version of every platform, oldest first per platform.
    pub fn all(&self) -> impl Iterator<Item = &Policy> {
        self.by_platform.values().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = r#"
platform = "demo"
version = "demo-2024"
effective_from = "2024-01-01T00:00:00+08:00"
source = "test"
after_sales_window_days = 15
merchant_actions = ["agree", "reject"]

[[deadlines]]
key = "merchant_response"
rule = "TB-07"
state = "awaiting_merchant"
fulfilment = ["received"]
due_party = "merchant"
due_after = "5d"
remind_before = "24h"
consequence = "auto_agree"
"#;

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(PolicyDuration::parse("48h").unwrap().0, Duration::hours(48));
        assert_eq!(String::from(PolicyDuration::parse("120h").unwrap()), "5d");
        assert!(PolicyDuration::parse("5w").is_err());
        assert!(PolicyDuration::parse("0h").is_err());
        assert!(PolicyDuration::parse("h").is_err());
    }

    #[test]
    fn version_in_force_is_the_latest_effective_one() {
        let mut reg = PolicyRegistry::new();
        reg.add(Policy::parse_toml(V1).unwrap()).unwrap();
        let v2 = V1
            .replace("demo-2024", "demo-2026")
            .replace("2024-01-01T", "2026-06-01T");
        reg.add(Policy::parse_toml(&v2).unwrap()).unwrap();
        let demo = PlatformCode::parse("demo").unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert!(reg.in_force(&demo, at("2023-12-31T15:59:59Z")).is_none());
        assert_eq!(
            reg.in_force(&demo, at("2023-12-31T16:00:00Z"))
                .unwrap()
                .version,
            "demo-2024"
        );
        assert_eq!(
            reg.in_force(&demo, at("2026-05-31T16:00:00Z"))
                .unwrap()
                .version,
            "demo-2026"
        );
        assert!(
            reg.add(Policy::parse_toml(V1).unwrap()).is_err(),
            "duplicate version"
        );
    }

    #[test]
    fn bad_policies_are_refused_at_load() {
        let dup = format!("{V1}\n{}", &V1[V1.find("[[deadlines]]").unwrap()..]);
        assert!(Policy::parse_toml(&dup).unwrap_err().contains("twice"));
        let late_reminder = V1.replace("remind_before = \"24h\"", "remind_before = \"6d\"");
        assert!(Policy::parse_toml(&late_reminder).is_err());
        let unknown = V1.replace("source = \"test\"", "source = \"test\"\nsurprise = 1");
        assert!(Policy::parse_toml(&unknown).is_err());
    }
}
