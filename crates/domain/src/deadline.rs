//! Deadlines on a case: what is due, from whom, by when, and what the platform does when it
//! passes (X-02: a reminder while there is still time, then the consequence).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DueParty {
    Merchant,
    Buyer,
    Platform,
}

/// What the platform does when a deadline passes unanswered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consequence {
    /// The request is agreed automatically (TB-02, AL-02).
    AutoAgree,
    /// The buyer is refunded automatically (TB-04, TB-10, PD-E1…).
    AutoRefund,
    /// The request closes (the buyer did not ship the return in time, TB-08).
    AutoClose,
    /// The platform takes the case over (TB-25).
    PlatformIntervenes,
    /// The platform files a false-shipment complaint for the buyer (TB-29).
    FalseShipmentComplaint,
    /// Refund with return, the merchant paying return shipping and dismantling (PD-E8).
    RefundWithReturnAtMerchantCost,
    /// Treated as a logistics exception and refunded; the merchant recalls the parcel (PD-E6).
    LogisticsExceptionRefund,
    /// Not a penalty: from this time on the buyer may ask the platform to intervene (TB-05).
    BuyerMayEscalate,
    /// AL-12: the deposit unfreezes; the merchant transfers it out (转出).
    DepositUnfrozen,
}

impl Consequence {
    pub fn as_str(self) -> &'static str {
        match self {
            Consequence::AutoAgree => "auto_agree",
            Consequence::AutoRefund => "auto_refund",
            Consequence::AutoClose => "auto_close",
            Consequence::PlatformIntervenes => "platform_intervenes",
            Consequence::FalseShipmentComplaint => "false_shipment_complaint",
            Consequence::RefundWithReturnAtMerchantCost => "refund_with_return_at_merchant_cost",
            Consequence::LogisticsExceptionRefund => "logistics_exception_refund",
            Consequence::BuyerMayEscalate => "buyer_may_escalate",
            Consequence::DepositUnfrozen => "deposit_unfrozen",
        }
    }
}

/// Where a deadline's due time came from. The platform's own deadline is authoritative; the
/// policy-computed one is the fallback and the cross-check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineSource {
    Policy,
    Platform,
    /// Computed from the case's own facts by the platform's rules (AL-12: the deposit
    /// unfreeze date from the shop's trades and services).
    Facts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineState {
    Active,
    /// The party acted in time.
    Met,
    /// The case moved on in a way that made the deadline moot.
    Cancelled,
    /// The deadline passed and its consequence was applied.
    Fired,
}

impl DeadlineState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineState::Active => "active",
            DeadlineState::Met => "met",
            DeadlineState::Cancelled => "cancelled",
            DeadlineState::Fired => "fired",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    /// The policy's name for this deadline, e.g. `merchant_response_signed`.
    pub key: String,
    /// The catalogue rule it enforces, e.g. `TB-07`.
    pub rule_id: String,
    pub due_party: DueParty,
    #[serde(deserialize_with = "crate::stored_time::time")]
    pub due_at: DateTime<Utc>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::stored_time::optional_time"
    )]
    pub remind_at: Option<DateTime<Utc>>,
    pub consequence: Consequence,
    pub source: DeadlineSource,
    /// When the platform's deadline overrides, the policy's own computation is kept here.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::stored_time::optional_time"
    )]
    pub computed_due_at: Option<DateTime<Utc>>,
    pub state: DeadlineState,
    /// When the deadline started running (the state change that opened it).
    #[serde(deserialize_with = "crate::stored_time::time")]
    pub started_at: DateTime<Utc>,
    /// When the "about to time out" signal went out (X-02, TB-23); at most once.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::stored_time::optional_time"
    )]
    pub reminded_at: Option<DateTime<Utc>>,
    /// When it left `Active` (met, cancelled or fired).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::stored_time::optional_time"
    )]
    pub closed_at: Option<DateTime<Utc>>,
    /// True when its period or consequence is assumed rather than published by the platform
    /// (JD-06), or when a working-day count ran past the years the holiday calendar covers and
    /// weekends alone were skipped.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub assumed: bool,
}

impl Deadline {
    pub fn is_active(&self) -> bool {
        self.state == DeadlineState::Active
    }

    /// Close a running deadline; a closed one keeps its first outcome.
    pub(crate) fn close(&mut self, as_: DeadlineState, at: DateTime<Utc>) {
        if self.is_active() {
            self.state = as_;
            self.closed_at = Some(at);
        }
    }
}
