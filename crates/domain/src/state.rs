//! The normalised case state machine, shared by every platform.
//!
//! The table below is the whole machine: every state lists the states it may move to, with no
//! wildcard arm, so adding a state forces a decision about every edge. A platform adapter maps
//! its raw statuses onto these states; if the platform reports a move the table does not
//! allow, the move is refused and recorded, never applied silently.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    /// The merchant must answer (agree, refuse, reply to a platform task).
    AwaitingMerchant,
    /// The buyer must act (ship the return, modify a refused request, confirm an exchange).
    AwaitingBuyer,
    /// The buyer's return is on its way to the merchant.
    ReturnInTransit,
    /// The merchant agreed to something it still has to carry out (refund, reship, upload).
    AwaitingMerchantExecution,
    /// The platform's customer service has taken the case over.
    PlatformIntervening,
    /// Intervention finished but the matter is not settled (TB-30 后续待跟进).
    FollowUpPending,
    Refunded,
    Reshipped,
    Exchanged,
    Repaired,
    /// Rejected for good, or closed by the merchant or the platform.
    Closed,
    WithdrawnByBuyer,
    /// Lapsed: a deadline passed and the platform closed the matter without a resolution.
    Expired,
}

use CaseState::*;

impl CaseState {
    pub const ALL: [CaseState; 13] = [
        AwaitingMerchant,
        AwaitingBuyer,
        ReturnInTransit,
        AwaitingMerchantExecution,
        PlatformIntervening,
        FollowUpPending,
        Refunded,
        Reshipped,
        Exchanged,
        Repaired,
        Closed,
        WithdrawnByBuyer,
        Expired,
    ];

    /// The states this one may move to. Staying in the same state (a field update) is always
    /// allowed and not listed.
    pub fn successors(self) -> &'static [CaseState] {
        match self {
            AwaitingMerchant => &[
                AwaitingBuyer,
                ReturnInTransit,
                AwaitingMerchantExecution,
                PlatformIntervening,
                FollowUpPending,
                Refunded,
                Reshipped,
                Exchanged,
                Closed,
                WithdrawnByBuyer,
                Expired,
            ],
            AwaitingBuyer => &[
                AwaitingMerchant,
                ReturnInTransit,
                AwaitingMerchantExecution,
                PlatformIntervening,
                Refunded,
                // The buyer confirms the reshipped goods (Pinduoduo 18 → 16).
                Reshipped,
                Exchanged,
                Repaired,
                Closed,
                WithdrawnByBuyer,
                Expired,
            ],
            ReturnInTransit => &[
                AwaitingMerchant,
                AwaitingBuyer,
                AwaitingMerchantExecution,
                PlatformIntervening,
                Refunded,
                Closed,
                WithdrawnByBuyer,
            ],
            AwaitingMerchantExecution => &[
                AwaitingMerchant,
                AwaitingBuyer,
                PlatformIntervening,
                Refunded,
                Reshipped,
                Exchanged,
                Repaired,
                Closed,
                // The buyer cancels while the refund is being processed (Pinduoduo 4/5 → 11).
                WithdrawnByBuyer,
                Expired,
            ],
            PlatformIntervening => &[
                AwaitingMerchant,
                AwaitingBuyer,
                AwaitingMerchantExecution,
                FollowUpPending,
                Refunded,
                Reshipped,
                // The platform's ruling can be an exchange or a repair too.
                Exchanged,
                Repaired,
                Closed,
                WithdrawnByBuyer,
            ],
            FollowUpPending => &[
                AwaitingMerchantExecution,
                PlatformIntervening,
                Refunded,
                Reshipped,
                Closed,
                WithdrawnByBuyer,
            ],
            Refunded | Reshipped | Exchanged | Repaired | Closed | WithdrawnByBuyer | Expired => {
                &[]
            }
        }
    }

    pub fn can_move_to(self, to: CaseState) -> bool {
        self == to || self.successors().contains(&to)
    }

    /// Resolved states say how the matter ended; nothing moves a case out of one.
    pub fn is_resolved(self) -> bool {
        self.successors().is_empty()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AwaitingMerchant => "awaiting_merchant",
            AwaitingBuyer => "awaiting_buyer",
            ReturnInTransit => "return_in_transit",
            AwaitingMerchantExecution => "awaiting_merchant_execution",
            PlatformIntervening => "platform_intervening",
            FollowUpPending => "follow_up_pending",
            Refunded => "refunded",
            Reshipped => "reshipped",
            Exchanged => "exchanged",
            Repaired => "repaired",
            Closed => "closed",
            WithdrawnByBuyer => "withdrawn_by_buyer",
            Expired => "expired",
        }
    }
}

impl fmt::Display for CaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CaseState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        CaseState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown case state {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolved_states_are_final() {
        for s in CaseState::ALL {
            if s.is_resolved() {
                for t in CaseState::ALL {
                    assert_eq!(s.can_move_to(t), s == t, "{s} must not move to {t}");
                }
            }
        }
    }

    #[test]
    fn every_open_state_can_be_closed_or_resolved() {
        for s in CaseState::ALL.into_iter().filter(|s| !s.is_resolved()) {
            assert!(
                s.successors().iter().any(|t| t.is_resolved()),
                "{s} has no way out"
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for s in CaseState::ALL {
            assert_eq!(s.as_str().parse::<CaseState>().unwrap(), s);
        }
        assert!("open".parse::<CaseState>().is_err());
    }
}
