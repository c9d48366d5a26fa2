use crate::action::ActionKind;
use crate::case::CaseKind;
use crate::state::CaseState;

/// Why the domain refused something. Each variant has a stable UPPER_SNAKE reason that the API
/// puts in `google.rpc.ErrorInfo`, and the rule it enforces where there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("a case cannot move from {from} to {to}")]
    IllegalTransition { from: CaseState, to: CaseState },
    #[error("{action} is not possible while the case is {state}")]
    ActionNotAllowedInState {
        action: ActionKind,
        state: CaseState,
    },
    #[error("{action} does not apply to a {kind} case")]
    ActionNotApplicableToKind { action: ActionKind, kind: CaseKind },
    #[error("{platform} does not support {action} through this service (policy {policy_version})")]
    ActionNotSupportedByPlatform {
        action: ActionKind,
        platform: String,
        policy_version: String,
    },
    #[error("the return shipment was already recorded and cannot be changed (TB-09)")]
    ReturnShipmentAlreadyRecorded,
    #[error("refund of {requested} fen exceeds the order total of {total} fen")]
    RefundExceedsOrderTotal { requested: i64, total: i64 },
    #[error("{field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("no {platform} policy is in force at {at}")]
    NoPolicyInForce { platform: String, at: String },
}

impl DomainError {
    pub fn reason(&self) -> &'static str {
        match self {
            DomainError::IllegalTransition { .. } => "ILLEGAL_TRANSITION",
            DomainError::ActionNotAllowedInState { .. } => "ACTION_NOT_ALLOWED_IN_STATE",
            DomainError::ActionNotApplicableToKind { .. } => "ACTION_NOT_APPLICABLE_TO_KIND",
            DomainError::ActionNotSupportedByPlatform { .. } => "ACTION_NOT_SUPPORTED_BY_PLATFORM",
            DomainError::ReturnShipmentAlreadyRecorded => "RETURN_SHIPMENT_IMMUTABLE",
            DomainError::RefundExceedsOrderTotal { .. } => "REFUND_EXCEEDS_ORDER_TOTAL",
            DomainError::InvalidField { .. } => "INVALID_FIELD",
            DomainError::NoPolicyInForce { .. } => "NO_POLICY_IN_FORCE",
        }
    }

    /// The catalogue rule behind the refusal, if any.
    pub fn rule_id(&self) -> Option<&'static str> {
        match self {
            DomainError::ReturnShipmentAlreadyRecorded => Some("TB-09"),
            _ => None,
        }
    }
}
