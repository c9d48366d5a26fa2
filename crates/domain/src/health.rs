//! Shop health (AL-23): what platforms measure merchants on — intervention rate (介入率),
//! dispute rate (纠纷率) — and what drives the service-experience score: cases settled before
//! a deadline fired, and how fast the merchant first answers. Useful on every platform.
//!
//! Pure: the store returns one fact row per case opened in the window; this module
//! aggregates them per platform and shop.

use crate::satisfaction::{SatisfactionOutcome, SatisfactionStatus};
use crate::state::CaseState;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// What the store knows about one case for the health figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseHealthFacts {
    pub platform: String,
    pub shop: String,
    pub state: CaseState,
    pub created_at: DateTime<Utc>,
    /// The platform took the case over at some point.
    pub intervened: bool,
    /// A dispute: the case is a dispute, or the platform ruled on it.
    pub disputed: bool,
    /// A deadline ran out on it (its consequence applied, or was due).
    pub deadline_fired: bool,
    /// The merchant's first action.
    pub first_response_at: Option<DateTime<Utc>>,
    /// where the case stands on the merchant's satisfaction check (None while open).
    pub satisfaction: Option<SatisfactionStatus>,
}

/// The figures of one platform and shop.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShopHealth {
    pub platform: String,
    pub shop: String,
    pub cases: u64,
    pub intervened: u64,
    /// intervened / cases.
    pub intervention_rate: f64,
    pub disputed: u64,
    pub dispute_rate: f64,
    pub resolved: u64,
    /// Resolved without any deadline running out.
    pub resolved_on_time: u64,
    /// Resolved after at least one deadline ran out.
    pub resolved_after_deadline: u64,
    /// Median time from opening to the merchant's first action, over cases that had one.
    pub median_first_response_seconds: Option<i64>,
    pub responded: u64,
    /// resolved cases whose buyer the merchant asked, by the latest answer.
    pub satisfaction_checked: u64,
    pub satisfied: u64,
    pub dissatisfied: u64,
    /// satisfied / (satisfied + dissatisfied): over buyers who answered; None when none did.
    pub satisfaction_rate: Option<f64>,
}

fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Aggregate per (platform, shop), sorted by platform then shop.
pub fn shop_health(facts: &[CaseHealthFacts]) -> Vec<ShopHealth> {
    let mut groups: BTreeMap<(&str, &str), Vec<&CaseHealthFacts>> = BTreeMap::new();
    for f in facts {
        groups
            .entry((f.platform.as_str(), f.shop.as_str()))
            .or_default()
            .push(f);
    }
    groups
        .into_iter()
        .map(|((platform, shop), cases)| {
            let n = cases.len() as u64;
            let count = |p: &dyn Fn(&CaseHealthFacts) -> bool| -> u64 {
                cases.iter().filter(|c| p(c)).count() as u64
            };
            let intervened = count(&|c| c.intervened);
            let disputed = count(&|c| c.disputed);
            let resolved = count(&|c| c.state.is_resolved());
            let late = count(&|c| c.state.is_resolved() && c.deadline_fired);
            let mut responses: Vec<i64> = cases
                .iter()
                .filter_map(|c| {
                    c.first_response_at
                        .map(|r| (r - c.created_at).num_seconds())
                })
                .collect();
            responses.sort_unstable();
            let answered = |o: SatisfactionOutcome| {
                count(&|c| c.satisfaction == Some(SatisfactionStatus::Checked(o)))
            };
            let satisfied = answered(SatisfactionOutcome::Satisfied);
            let dissatisfied = answered(SatisfactionOutcome::Dissatisfied);
            ShopHealth {
                platform: platform.to_string(),
                shop: shop.to_string(),
                cases: n,
                intervened,
                intervention_rate: rate(intervened, n),
                disputed,
                dispute_rate: rate(disputed, n),
                resolved,
                resolved_on_time: resolved - late,
                resolved_after_deadline: late,
                median_first_response_seconds: median(&responses),
                responded: responses.len() as u64,
                satisfaction_checked: count(&|c| {
                    matches!(c.satisfaction, Some(SatisfactionStatus::Checked(_)))
                }),
                satisfied,
                dissatisfied,
                satisfaction_rate: (satisfied + dissatisfied > 0)
                    .then(|| rate(satisfied, satisfied + dissatisfied)),
            }
        })
        .collect()
}

/// The median of sorted values; the lower middle for an even count (a time that happened).
fn median(sorted: &[i64]) -> Option<i64> {
    if sorted.is_empty() {
        None
    } else {
        Some(sorted[(sorted.len() - 1) / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn fact(shop: &str, state: CaseState, response_min: Option<i64>) -> CaseHealthFacts {
        let created_at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        CaseHealthFacts {
            platform: "taobao".into(),
            shop: shop.into(),
            state,
            created_at,
            intervened: false,
            disputed: false,
            deadline_fired: false,
            first_response_at: response_min.map(|m| created_at + Duration::minutes(m)),
            satisfaction: state.is_resolved().then_some(SatisfactionStatus::Unchecked),
        }
    }

    #[test]
    fn al_23_rates_and_median_per_shop() {
        let mut facts = vec![
            fact("a", CaseState::Refunded, Some(30)),
            fact("a", CaseState::Refunded, Some(10)),
            fact("a", CaseState::AwaitingMerchant, None),
            fact("a", CaseState::Closed, Some(90)),
            fact("b", CaseState::AwaitingBuyer, Some(5)),
        ];
        facts[0].intervened = true;
        facts[0].disputed = true;
        facts[1].deadline_fired = true;
        let h = shop_health(&facts);
        assert_eq!(h.len(), 2);
        let a = &h[0];
        assert_eq!((a.cases, a.intervened, a.disputed), (4, 1, 1));
        assert_eq!((a.intervention_rate, a.dispute_rate), (0.25, 0.25));
        assert_eq!(
            (a.resolved, a.resolved_on_time, a.resolved_after_deadline),
            (3, 2, 1)
        );
        // 10, 30, 90 minutes: the median is 30.
        assert_eq!(a.median_first_response_seconds, Some(1800));
        assert_eq!(h[1].median_first_response_seconds, Some(300));
        assert!(shop_health(&[]).is_empty());
    }

    /// X-03 in the shop's figures: checked cases by their latest answer; the rate is over
    /// the buyers who answered, so an unreachable one neither helps nor hurts it.
    #[test]
    fn x03_satisfaction_figures_per_shop() {
        use SatisfactionOutcome::{Dissatisfied, Satisfied, Unreachable};
        let checked = |o| Some(SatisfactionStatus::Checked(o));
        let mut facts = vec![
            fact("a", CaseState::Refunded, Some(30)),
            fact("a", CaseState::Refunded, Some(30)),
            fact("a", CaseState::Closed, Some(30)),
            fact("a", CaseState::Reshipped, Some(30)),
            fact("a", CaseState::Refunded, Some(30)),
            fact("a", CaseState::AwaitingMerchant, None),
            fact("b", CaseState::Refunded, Some(5)),
        ];
        facts[0].satisfaction = checked(Satisfied);
        facts[1].satisfaction = checked(Satisfied);
        facts[2].satisfaction = checked(Dissatisfied);
        facts[3].satisfaction = checked(Unreachable);
        let h = shop_health(&facts);
        let a = &h[0];
        assert_eq!(
            (a.satisfaction_checked, a.satisfied, a.dissatisfied),
            (4, 2, 1)
        );
        assert_eq!(a.satisfaction_rate, Some(2.0 / 3.0));
        let b = &h[1];
        assert_eq!((b.satisfaction_checked, b.satisfaction_rate), (0, None));
    }
}
