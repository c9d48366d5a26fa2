//! The case history. Every change appends an event in the same transaction as the change: the
//! record is the merchant's defence in a dispute (X-01, PD-08).

use crate::action::ActionKind;
use crate::state::CaseState;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A merchant account acting through the API.
    Merchant,
    Buyer,
    /// A record or message from the platform.
    Platform,
    /// A deadline firing.
    SystemTimer,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Merchant => "merchant",
            ActorKind::Buyer => "buyer",
            ActorKind::Platform => "platform",
            ActorKind::SystemTimer => "system_timer",
        }
    }

    pub fn parse(s: &str) -> Option<ActorKind> {
        [
            ActorKind::Merchant,
            ActorKind::Buyer,
            ActorKind::Platform,
            ActorKind::SystemTimer,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub kind: ActorKind,
    /// The account, platform code or timer that acted.
    pub id: String,
}

impl Actor {
    pub fn merchant(account: impl Into<String>) -> Self {
        Actor {
            kind: ActorKind::Merchant,
            id: account.into(),
        }
    }
    pub fn platform(code: impl Into<String>) -> Self {
        Actor {
            kind: ActorKind::Platform,
            id: code.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    CaseCreated,
    /// A newer platform record was applied.
    PlatformUpdated,
    /// A platform record older than the stored one arrived; recorded, not applied.
    StalePlatformRecord,
    /// A platform record asked for a move the state machine forbids; recorded, not applied.
    TransitionRefused,
    MerchantAction(ActionKind),
    /// A merchant action the state machine or the policy refused; recorded so the attempt is
    /// part of the case history.
    ActionRefused(ActionKind),
    /// The platform's own deadline differs from the one the policy computes.
    DeadlineMismatch,
    /// X-02 / TB-23: a deadline is about to time out.
    DeadlineReminder,
    /// a deadline timed out; its consequence was applied through the state machine.
    DeadlineExpired,
    /// A platform message announced a change without its content (Taobao TMC): the record
    /// must be fetched again.
    PlatformNotice,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::CaseCreated => "case_created",
            EventKind::PlatformUpdated => "platform_updated",
            EventKind::StalePlatformRecord => "stale_platform_record",
            EventKind::TransitionRefused => "transition_refused",
            EventKind::MerchantAction(a) => a.event_name(),
            EventKind::ActionRefused(_) => "action_refused",
            EventKind::DeadlineMismatch => "deadline_mismatch",
            EventKind::DeadlineReminder => "deadline_reminder",
            EventKind::DeadlineExpired => "deadline_expired",
            EventKind::PlatformNotice => "platform_notice",
        }
    }
}

/// An event about to be appended; the store gives it its sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: EventKind,
    pub actor: Actor,
    pub from_state: Option<CaseState>,
    pub to_state: Option<CaseState>,
    pub detail: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
}
