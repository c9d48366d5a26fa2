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
    #[error("the after-sales window closed at {closed_at}: {window_days} days after {start} at {start_at} ({rule}); past it the buyer can only negotiate with the merchant")]
    OutsideAfterSalesWindow {
        window_days: u32,
        /// "trade success" or "signing".
        start: &'static str,
        start_at: String,
        closed_at: String,
        rule: String,
    },
    #[error("order line {order_line} already had an after-sales request ({existing}, {existing_state}); the entry can be used once per order line (TB-03)")]
    OrderLineAlreadyUsed {
        order_line: String,
        existing: String,
        existing_state: CaseState,
    },
    #[error("order {order} already had {count} {kinds} requests, the most the platform allows; the after-sales entry is closed ({rule})")]
    RequestLimitReached {
        order: String,
        count: u32,
        kinds: String,
        rule: String,
    },
    #[error("a {kind} request cannot be opened on an order that is {order_state} (CM-03)")]
    KindNotAllowedForOrderState {
        kind: CaseKind,
        order_state: crate::case::OrderState,
    },
    #[error("a {kind} case is not a platform task")]
    NotATask { kind: CaseKind },
    #[error(
        "a reship is agreed only after checking stock: send the ERP's stock_check answer (PD-06)"
    )]
    StockCheckRequired,
    #[error("the stock check by {checked_by} found no stock: the reship cannot be agreed (PD-06)")]
    OutOfStock { checked_by: String },
    #[error("agreeing to a return needs a complete after-sales plan; missing: {missing} (AL-01)")]
    ReturnPlanIncomplete { missing: String },
    #[error("the appeal cannot be filed: {reason} ({rule})")]
    AppealRefused { rule: &'static str, reason: String },
    #[error("a {kind} case is not an evidence request")]
    NotAnEvidenceRequest { kind: CaseKind },
    #[error("the evidence does not meet the {scenario} requirement ({rule}): {}", problems.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("; "))]
    EvidenceInsufficient {
        scenario: String,
        rule: String,
        problems: Vec<crate::evidence::Problem>,
    },
    #[error("policy {policy_version} does not offer the task reply {plan}")]
    TaskReplyNotOffered {
        plan: crate::task::TaskPlan,
        policy_version: String,
    },
    #[error("the case already has {limit} satisfaction checks, the most it keeps (X-03)")]
    SatisfactionCheckLimitReached { limit: usize },
    #[error("the reply {plan} is not possible while the task is {} ({})", state.as_str(), state.platform_text())]
    TaskReplyNotAllowedNow {
        plan: crate::task::TaskPlan,
        state: crate::task::TaskState,
    },
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
            DomainError::OutsideAfterSalesWindow { .. } => "OUTSIDE_AFTER_SALES_WINDOW",
            DomainError::OrderLineAlreadyUsed { .. } => "ORDER_LINE_ALREADY_USED",
            DomainError::KindNotAllowedForOrderState { .. } => "KIND_NOT_ALLOWED_FOR_ORDER_STATE",
            DomainError::RequestLimitReached { .. } => "AFTER_SALES_ENTRY_CLOSED",
            DomainError::NotATask { .. } => "NOT_A_PLATFORM_TASK",
            DomainError::NotAnEvidenceRequest { .. } => "NOT_AN_EVIDENCE_REQUEST",
            DomainError::StockCheckRequired => "STOCK_CHECK_REQUIRED",
            DomainError::AppealRefused { .. } => "APPEAL_NOT_VALID",
            DomainError::ReturnPlanIncomplete { .. } => "RETURN_PLAN_INCOMPLETE",
            DomainError::OutOfStock { .. } => "OUT_OF_STOCK",
            DomainError::EvidenceInsufficient { .. } => "EVIDENCE_INSUFFICIENT",
            DomainError::TaskReplyNotOffered { .. } => "TASK_REPLY_NOT_OFFERED",
            DomainError::TaskReplyNotAllowedNow { .. } => "TASK_REPLY_NOT_ALLOWED_NOW",
            DomainError::SatisfactionCheckLimitReached { .. } => "SATISFACTION_CHECK_LIMIT_REACHED",
        }
    }

    /// The catalogue rule behind the refusal, if any.
    pub fn rule_id(&self) -> Option<&str> {
        match self {
            DomainError::RequestLimitReached { rule, .. }
            | DomainError::EvidenceInsufficient { rule, .. } => Some(rule),
            DomainError::ReturnShipmentAlreadyRecorded => Some("TB-09"),
            DomainError::OutsideAfterSalesWindow { rule, .. } => Some(rule),
            DomainError::OrderLineAlreadyUsed { .. } => Some("TB-03"),
            DomainError::KindNotAllowedForOrderState { .. } => Some("CM-03"),
            DomainError::StockCheckRequired | DomainError::OutOfStock { .. } => Some("PD-06"),
            DomainError::ReturnPlanIncomplete { .. } => Some("AL-01"),
            DomainError::SatisfactionCheckLimitReached { .. } => Some("X-03"),
            DomainError::AppealRefused { rule, .. } => Some(rule),
            DomainError::TaskReplyNotOffered { .. }
            | DomainError::TaskReplyNotAllowedNow { .. } => Some("TB-24"),
            _ => None,
        }
    }
}
