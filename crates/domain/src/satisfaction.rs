//! after a case is resolved the merchant may follow up on the buyer's satisfaction
//! (售后回访 / 评价). The seeds describe a practice, not a platform rule: ask the buyer how the
//! matter ended for them, invite a review, record what was said, and take anything still wrong
//! through the complaint process [004 §5, 001 ⑹ 三]. A satisfaction check never reopens the
//! case nor starts a clock; it is part of the record.
//!
//! Named "satisfaction check" rather than "follow-up" so it cannot be mistaken for the
//! FOLLOW_UP_PENDING state (TB-30 后续待跟进), which is an open case, not this.

use crate::action::{ActionKind, Change};
use crate::case::Case;
use crate::error::DomainError;
use crate::event::{Actor, EventKind, NewEvent};
use crate::text::BoundedText;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How the buyer answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SatisfactionOutcome {
    Satisfied,
    /// Seed 001 ⑹ 三.4: what still needs doing goes through the complaint process, so the
    /// record must say what it is.
    Dissatisfied,
    /// Nobody answered; the merchant may try again.
    Unreachable,
}

impl SatisfactionOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            SatisfactionOutcome::Satisfied => "satisfied",
            SatisfactionOutcome::Dissatisfied => "dissatisfied",
            SatisfactionOutcome::Unreachable => "unreachable",
        }
    }
}

/// Where a case stands on X-03; what ListCases' `satisfaction` filter selects by. A case
/// still open has none: its buyer's satisfaction is the case itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SatisfactionStatus {
    /// Resolved, and nobody has asked the buyer yet: the merchant's call list.
    Unchecked,
    /// The latest check's outcome.
    Checked(SatisfactionOutcome),
}

impl SatisfactionStatus {
    pub const ALL: [SatisfactionStatus; 4] = [
        SatisfactionStatus::Unchecked,
        SatisfactionStatus::Checked(SatisfactionOutcome::Satisfied),
        SatisfactionStatus::Checked(SatisfactionOutcome::Dissatisfied),
        SatisfactionStatus::Checked(SatisfactionOutcome::Unreachable),
    ];

    /// The stored form (the `satisfaction` column of `cases`).
    pub fn as_str(self) -> &'static str {
        match self {
            SatisfactionStatus::Unchecked => "unchecked",
            SatisfactionStatus::Checked(outcome) => outcome.as_str(),
        }
    }

    /// The stored form read back.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// What the merchant reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SatisfactionReport {
    pub outcome: SatisfactionOutcome,
    /// What the buyer said; required when dissatisfied.
    pub note: BoundedText,
    /// Seed 004 §5: the merchant asked the buyer to leave a review (引导评价).
    pub review_invited: bool,
}

/// One satisfaction check as the case keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SatisfactionCheck {
    pub outcome: SatisfactionOutcome,
    pub note: BoundedText,
    pub review_invited: bool,
    pub recorded_at: DateTime<Utc>,
    /// The merchant account or key that recorded it.
    pub recorded_by: String,
}

/// Seed 001 ⑹ 三.2 schedules visits after a week, a month, three months, half a year and a
/// year; twice that leaves room for unanswered calls while keeping a case's record bounded.
pub const MAX_SATISFACTION_CHECKS: usize = 10;

impl Case {
    /// record a satisfaction check on a resolved case.
    pub(crate) fn record_satisfaction_check(
        &self,
        report: &SatisfactionReport,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Change, DomainError> {
        let action = ActionKind::RecordSatisfactionCheck;
        if !self.state.is_resolved() {
            // Before resolution the buyer's satisfaction is the case itself.
            return Err(DomainError::ActionNotAllowedInState {
                action,
                state: self.state,
            });
        }
        if report.outcome == SatisfactionOutcome::Dissatisfied && report.note.is_empty() {
            return Err(DomainError::InvalidField {
                field: "note",
                reason: "a dissatisfied buyer's answer must be recorded: what is still wrong \
                         is handled as a complaint"
                    .into(),
            });
        }
        if self.satisfaction_checks.len() >= MAX_SATISFACTION_CHECKS {
            return Err(DomainError::SatisfactionCheckLimitReached {
                limit: MAX_SATISFACTION_CHECKS,
            });
        }
        let mut next = self.clone();
        next.satisfaction_checks.push(SatisfactionCheck {
            outcome: report.outcome,
            note: report.note.clone(),
            review_invited: report.review_invited,
            recorded_at: now,
            recorded_by: actor.id.clone(),
        });
        next.updated_at = now;
        next.version += 1;
        let detail = serde_json::json!({
            "outcome": report.outcome.as_str(),
            "note": report.note.as_str(),
            "review_invited": report.review_invited,
            "check": next.satisfaction_checks.len(),
            "rule": "X-03",
        });
        Ok(Change {
            case: next,
            events: vec![NewEvent {
                kind: EventKind::MerchantAction(action),
                actor,
                from_state: Some(self.state),
                to_state: Some(self.state),
                detail,
                occurred_at: now,
            }],
        })
    }

    /// Where the case stands on X-03: nothing while open, unchecked once resolved, then the
    /// latest check's outcome.
    pub fn satisfaction_status(&self) -> Option<SatisfactionStatus> {
        if !self.state.is_resolved() {
            return None;
        }
        Some(match self.satisfaction_checks.last() {
            None => SatisfactionStatus::Unchecked,
            Some(check) => SatisfactionStatus::Checked(check.outcome),
        })
    }
}
