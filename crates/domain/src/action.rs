//! Merchant actions: the only way a merchant moves a case. Each is checked against the state
//! machine, the case kind and the platform's policy before anything changes.

use crate::case::{Case, CaseKind, Shipment};
use crate::deadline::DeadlineState;
use crate::error::DomainError;
use crate::event::{Actor, EventKind, NewEvent};
use crate::money::Fen;
use crate::policy::Policy;
use crate::state::CaseState;
use crate::text::BoundedText;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Agree,
    Reject,
    RecordReturnShipment,
    ConfirmReturnReceived,
    RecordReship,
    Refund,
    Escalate,
    Close,
    /// Answer a platform task (TB-24) or make its follow-up upload (TB-25, TB-26).
    ReplyToTask,
    /// Record that the buyer confirmed a request the merchant opened (PD-06).
    RecordBuyerConfirmation,
    /// A shipped order's tracking number corrected, added later or replaced (AL-03).
    RecordTrackingChange,
    /// The platform's ruling on a dispute or an appeal (AL-20).
    RecordRuling,
    /// A new deposit-release evaluation recorded on its case (AL-10 … AL-12).
    UpdateDepositRelease,
    /// Add proofs to an evidence request without submitting them (PD-E0).
    StageEvidence,
    /// Submit an evidence request's proofs to the platform (PD-E0 … PD-E9).
    SubmitEvidence,
    /// Follow up on the buyer's satisfaction once the case is resolved.
    RecordSatisfactionCheck,
}

impl ActionKind {
    pub const ALL: [ActionKind; 16] = [
        ActionKind::Agree,
        ActionKind::Reject,
        ActionKind::RecordReturnShipment,
        ActionKind::ConfirmReturnReceived,
        ActionKind::RecordReship,
        ActionKind::Refund,
        ActionKind::Escalate,
        ActionKind::Close,
        ActionKind::ReplyToTask,
        ActionKind::RecordBuyerConfirmation,
        ActionKind::RecordTrackingChange,
        ActionKind::RecordRuling,
        ActionKind::UpdateDepositRelease,
        ActionKind::StageEvidence,
        ActionKind::SubmitEvidence,
        ActionKind::RecordSatisfactionCheck,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Agree => "agree",
            ActionKind::Reject => "reject",
            ActionKind::RecordReturnShipment => "record_return_shipment",
            ActionKind::ConfirmReturnReceived => "confirm_return_received",
            ActionKind::RecordReship => "record_reship",
            ActionKind::Refund => "refund",
            ActionKind::Escalate => "escalate",
            ActionKind::Close => "close",
            ActionKind::ReplyToTask => "reply_to_task",
            ActionKind::RecordBuyerConfirmation => "record_buyer_confirmation",
            ActionKind::RecordTrackingChange => "record_tracking_change",
            ActionKind::RecordRuling => "record_ruling",
            ActionKind::UpdateDepositRelease => "update_deposit_release",
            ActionKind::StageEvidence => "stage_evidence",
            ActionKind::SubmitEvidence => "submit_evidence",
            ActionKind::RecordSatisfactionCheck => "record_satisfaction_check",
        }
    }

    /// The event name recorded when the action is applied.
    pub fn event_name(self) -> &'static str {
        match self {
            ActionKind::Agree => "merchant_agreed",
            ActionKind::Reject => "merchant_rejected",
            ActionKind::RecordReturnShipment => "return_shipment_recorded",
            ActionKind::ConfirmReturnReceived => "return_received",
            ActionKind::RecordReship => "reship_recorded",
            ActionKind::Refund => "merchant_refunded",
            ActionKind::Escalate => "escalated_to_platform",
            ActionKind::Close => "merchant_closed",
            ActionKind::ReplyToTask => "task_replied",
            ActionKind::RecordBuyerConfirmation => "buyer_confirmed",
            ActionKind::RecordTrackingChange => "tracking_changed",
            ActionKind::RecordRuling => "ruling_recorded",
            ActionKind::UpdateDepositRelease => "deposit_release_evaluated",
            ActionKind::StageEvidence => "evidence_staged",
            ActionKind::SubmitEvidence => "evidence_submitted",
            ActionKind::RecordSatisfactionCheck => "satisfaction_checked",
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// PD-06: the ERP's answer to "is it in stock?", asked before a reship is agreed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockCheck {
    pub in_stock: bool,
    /// Who answered (the ERP or warehouse system).
    pub checked_by: BoundedText,
    pub note: BoundedText,
}

/// Who pays the return freight (AL-01).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FreightPayment {
    /// 到付: the merchant pays on arrival.
    Collect,
    /// 先付: the buyer pays when sending.
    Prepaid,
}

/// AL-01: an agreed return plan, complete, so the buyer cannot later deny what was agreed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnPlan {
    pub address: BoundedText,
    pub recipient: BoundedText,
    pub phone: BoundedText,
    pub carrier: BoundedText,
    pub freight: FreightPayment,
    /// e.g. "no 德邦 bulky freight"; "none" when there is none, but it must be said.
    pub carrier_requirement: BoundedText,
    /// Days the buyer has to send the goods back.
    pub return_within_days: u32,
    /// e.g. "original packaging, tags attached".
    pub goods_condition: BoundedText,
    /// Where the plan was agreed with the buyer (AL-01: the platform's own chat, 旺旺).
    pub chat_record: BoundedText,
}

/// A plan as sent, possibly incomplete: the domain lists what is missing (AL-01).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReturnPlanDraft {
    pub address: BoundedText,
    pub recipient: BoundedText,
    pub phone: BoundedText,
    pub carrier: BoundedText,
    pub freight: Option<FreightPayment>,
    pub carrier_requirement: BoundedText,
    pub return_within_days: u32,
    pub goods_condition: BoundedText,
    pub chat_record: BoundedText,
}

impl ReturnPlanDraft {
    /// The complete plan, or the names of every missing part.
    pub fn complete(&self) -> Result<ReturnPlan, Vec<&'static str>> {
        let mut missing = Vec::new();
        for (name, value) in [
            ("address", &self.address),
            ("recipient", &self.recipient),
            ("phone", &self.phone),
            ("carrier", &self.carrier),
            ("carrier_requirement", &self.carrier_requirement),
            ("goods_condition", &self.goods_condition),
            ("chat_record", &self.chat_record),
        ] {
            if value.is_empty() {
                missing.push(name);
            }
        }
        if self.freight.is_none() {
            missing.push("freight");
        }
        if self.return_within_days == 0 {
            missing.push("return_within_days");
        }
        match (missing.is_empty(), self.freight) {
            (true, Some(freight)) => Ok(ReturnPlan {
                address: self.address.clone(),
                recipient: self.recipient.clone(),
                phone: self.phone.clone(),
                carrier: self.carrier.clone(),
                freight,
                carrier_requirement: self.carrier_requirement.clone(),
                return_within_days: self.return_within_days,
                goods_condition: self.goods_condition.clone(),
                chat_record: self.chat_record.clone(),
            }),
            _ => Err(missing),
        }
    }
}

/// AL-03: what happened to a shipped order's tracking number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackingChange {
    /// A wrong number corrected.
    Corrected,
    /// A number added after shipping.
    AddedLater,
    /// A new number for a reship replacing the original.
    ReplacedForReship,
}

impl TrackingChange {
    pub fn as_str(self) -> &'static str {
        match self {
            TrackingChange::Corrected => "corrected",
            TrackingChange::AddedLater => "added_later",
            TrackingChange::ReplacedForReship => "replaced_for_reship",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum MerchantAction {
    /// `stock_check`: required to agree to a reship where the policy says so (PD-06).
    /// `return_plan`: required to agree to a return where the policy says so (AL-01).
    Agree {
        stock_check: Option<StockCheck>,
        return_plan: Option<ReturnPlanDraft>,
    },
    /// AL-10 … AL-12: a new evaluation of the shop's deposit release.
    UpdateDepositRelease(crate::deposit::DepositTracking),
    /// AL-20: the platform's ruling on a dispute or an appeal.
    RecordRuling {
        in_favour_of: crate::appeal::RulingFor,
        note: BoundedText,
    },
    /// AL-03: a shipped order's tracking number corrected, added later or replaced.
    RecordTrackingChange {
        change: TrackingChange,
        shipment: Shipment,
    },
    /// The buyer confirmed a request the merchant opened (PD-06: the card in the chat).
    RecordBuyerConfirmation,
    Reject {
        reason: BoundedText,
    },
    /// The buyer's return waybill, as the merchant's ERP learned it.
    RecordReturnShipment {
        shipment: Shipment,
    },
    ConfirmReturnReceived,
    RecordReship {
        shipment: Shipment,
    },
    /// `amount` defaults to what the buyer asked for.
    Refund {
        amount: Option<Fen>,
    },
    Escalate {
        reason: BoundedText,
    },
    Close {
        reason: BoundedText,
    },
    ReplyToTask(crate::task::TaskReply),
    StageEvidence {
        items: Vec<crate::evidence::EvidenceItem>,
    },
    SubmitEvidence {
        items: Vec<crate::evidence::EvidenceItem>,
    },
    /// the buyer's satisfaction asked after the case was resolved.
    RecordSatisfactionCheck(crate::satisfaction::SatisfactionReport),
}

impl MerchantAction {
    pub fn kind(&self) -> ActionKind {
        match self {
            MerchantAction::Agree { .. } => ActionKind::Agree,
            MerchantAction::RecordTrackingChange { .. } => ActionKind::RecordTrackingChange,
            MerchantAction::RecordRuling { .. } => ActionKind::RecordRuling,
            MerchantAction::UpdateDepositRelease(_) => ActionKind::UpdateDepositRelease,
            MerchantAction::RecordBuyerConfirmation => ActionKind::RecordBuyerConfirmation,
            MerchantAction::Reject { .. } => ActionKind::Reject,
            MerchantAction::RecordReturnShipment { .. } => ActionKind::RecordReturnShipment,
            MerchantAction::ConfirmReturnReceived => ActionKind::ConfirmReturnReceived,
            MerchantAction::RecordReship { .. } => ActionKind::RecordReship,
            MerchantAction::Refund { .. } => ActionKind::Refund,
            MerchantAction::Escalate { .. } => ActionKind::Escalate,
            MerchantAction::Close { .. } => ActionKind::Close,
            MerchantAction::ReplyToTask(_) => ActionKind::ReplyToTask,
            MerchantAction::StageEvidence { .. } => ActionKind::StageEvidence,
            MerchantAction::SubmitEvidence { .. } => ActionKind::SubmitEvidence,
            MerchantAction::RecordSatisfactionCheck(_) => ActionKind::RecordSatisfactionCheck,
        }
    }
}

use CaseKind as K;
use CaseState as S;

/// TB-06: a refund-only request on a parcel that is shipped but not signed for — the buyer
/// refuses delivery and the parcel goes back to the merchant, who refunds once it arrives.
fn is_refused_delivery(case: &Case) -> bool {
    case.kind == K::RefundOnly && case.fulfilment == crate::case::Fulfilment::ShippedNotReceived
}

/// Where an action takes the case, or why it cannot.
fn target_state(case: &Case, action: &MerchantAction) -> Result<CaseState, DomainError> {
    let kind = case.kind;
    let state = case.state;
    let act = action.kind();
    let not_in_state = || DomainError::ActionNotAllowedInState { action: act, state };
    let not_for_kind = || DomainError::ActionNotApplicableToKind { action: act, kind };
    match action {
        MerchantAction::Agree { .. } => {
            if state != S::AwaitingMerchant {
                return Err(not_in_state());
            }
            match kind {
                // TB-06: the refused parcel travels back; the refund waits for it.
                K::RefundOnly if is_refused_delivery(case) => Ok(S::ReturnInTransit),
                // Agreeing to a refund without return is the refund on every platform in scope.
                K::RefundOnly | K::CancelOrder => Ok(S::Refunded),
                // TB-07/TB-08: agreeing reveals the return address; the buyer must ship it back.
                K::ReturnAndRefund | K::Exchange | K::Repair => Ok(S::AwaitingBuyer),
                // PD-06: after agreeing, the merchant still has to ship or pay.
                K::Reship | K::Compensation => Ok(S::AwaitingMerchantExecution),
                K::SignedElsewhereTask
                | K::EvidenceRequest
                | K::Dispute
                | K::Appeal
                | K::DepositRelease => Err(not_for_kind()),
            }
        }
        MerchantAction::Reject { reason } => {
            if reason.is_empty() {
                return Err(DomainError::InvalidField {
                    field: "reason",
                    reason: "a rejection must say why; the buyer and the platform both see it"
                        .into(),
                });
            }
            if !kind.is_buyer_request() {
                return Err(not_for_kind());
            }
            match state {
                // TB-02/TB-05: after a refusal the buyer may modify the request or ask the
                // platform to intervene.
                S::AwaitingMerchant | S::ReturnInTransit => Ok(S::AwaitingBuyer),
                _ => Err(not_in_state()),
            }
        }
        MerchantAction::RecordReturnShipment { .. } => {
            if !kind.needs_return() {
                return Err(not_for_kind());
            }
            if case.return_shipment.is_some() {
                // TB-09: return information cannot be changed once submitted.
                return Err(DomainError::ReturnShipmentAlreadyRecorded);
            }
            match state {
                S::AwaitingBuyer => Ok(S::ReturnInTransit),
                _ => Err(not_in_state()),
            }
        }
        MerchantAction::ConfirmReturnReceived => {
            if is_refused_delivery(case) {
                // TB-06: the refused parcel is back; the merchant refunds on arrival.
                return match state {
                    S::ReturnInTransit => Ok(S::Refunded),
                    _ => Err(not_in_state()),
                };
            }
            if !kind.needs_return() {
                return Err(not_for_kind());
            }
            match state {
                S::ReturnInTransit => Ok(S::AwaitingMerchantExecution),
                _ => Err(not_in_state()),
            }
        }
        MerchantAction::RecordReship { .. } => {
            if state != S::AwaitingMerchantExecution {
                return Err(not_in_state());
            }
            match kind {
                K::Reship => Ok(S::Reshipped),
                // The replacement is on its way; the buyer confirms it.
                K::Exchange => Ok(S::AwaitingBuyer),
                K::Repair => Ok(S::Repaired),
                _ => Err(not_for_kind()),
            }
        }
        MerchantAction::Refund { amount } => {
            if matches!(kind, K::Appeal | K::DepositRelease) {
                return Err(not_for_kind());
            }
            case.refund_amount(*amount)?;
            match state {
                S::AwaitingMerchant
                | S::ReturnInTransit
                | S::AwaitingMerchantExecution
                | S::PlatformIntervening
                | S::FollowUpPending => Ok(S::Refunded),
                _ => Err(not_in_state()),
            }
        }
        MerchantAction::Escalate { .. } => match state {
            S::AwaitingMerchant
            | S::AwaitingBuyer
            | S::ReturnInTransit
            | S::AwaitingMerchantExecution
            | S::FollowUpPending => Ok(S::PlatformIntervening),
            _ => Err(not_in_state()),
        },
        MerchantAction::Close { reason } => {
            if reason.is_empty() {
                return Err(DomainError::InvalidField {
                    field: "reason",
                    reason: "closing a case must say why".into(),
                });
            }
            if state.is_resolved() {
                Err(not_in_state())
            } else {
                Ok(S::Closed)
            }
        }
        // AL-20: the platform rules on what it took over; for the buyer on a dispute is the
        // refund, anything else ends the matter.
        MerchantAction::RecordRuling { in_favour_of, .. } => {
            if state != S::PlatformIntervening {
                return Err(not_in_state());
            }
            match (in_favour_of, kind) {
                (crate::appeal::RulingFor::Buyer, k) if k != K::Appeal => Ok(S::Refunded),
                _ => Ok(S::Closed),
            }
        }
        // AL-03: the order's tracking can change while the case is open.
        MerchantAction::RecordTrackingChange { .. } => {
            if state.is_resolved() {
                Err(not_in_state())
            } else {
                Ok(state)
            }
        }
        MerchantAction::RecordBuyerConfirmation => {
            // PD-06: only a request the merchant opened waits for the buyer to confirm it.
            if !case.merchant_initiated {
                return Err(not_for_kind());
            }
            match state {
                S::AwaitingBuyer => Ok(S::AwaitingMerchant),
                _ => Err(not_in_state()),
            }
        }
        // Tasks, evidence requests, deposit tracking and satisfaction checks decide their own
        // target (task.rs, evidence.rs, deposit.rs, satisfaction.rs); this table never sees them.
        MerchantAction::ReplyToTask(_)
        | MerchantAction::StageEvidence { .. }
        | MerchantAction::SubmitEvidence { .. }
        | MerchantAction::UpdateDepositRelease(_)
        | MerchantAction::RecordSatisfactionCheck(_) => Err(not_for_kind()),
    }
}

impl Case {
    /// PD-06: a reship is agreed only after the stock check, and only with stock.
    fn check_stock(&self, check: Option<&StockCheck>, policy: &Policy) -> Result<(), DomainError> {
        if self.kind != K::Reship || !policy.reship_needs_stock_check {
            return Ok(());
        }
        match check {
            None => Err(DomainError::StockCheckRequired),
            Some(c) if !c.in_stock => Err(DomainError::OutOfStock {
                checked_by: c.checked_by.as_str().to_string(),
            }),
            Some(_) => Ok(()),
        }
    }

    /// AL-01: agreeing to a return needs a complete plan where the policy says so.
    fn check_return_plan(
        &self,
        plan: Option<&ReturnPlanDraft>,
        to: CaseState,
        policy: &Policy,
    ) -> Result<(), DomainError> {
        // Only an agreement that sends goods back needs a plan.
        if !policy.agree_needs_return_plan || to != S::AwaitingBuyer || !self.kind.needs_return() {
            return Ok(());
        }
        let missing = match plan {
            None => vec!["return_plan"],
            Some(p) => match p.complete() {
                Ok(_) => return Ok(()),
                Err(missing) => missing,
            },
        };
        Err(DomainError::ReturnPlanIncomplete {
            missing: missing.join(", "),
        })
    }

    /// What a refund pays: the amount given, or what the buyer asked for; never more than the
    /// order total.
    fn refund_amount(&self, amount: Option<Fen>) -> Result<Fen, DomainError> {
        let paid = amount.unwrap_or(self.requested_refund);
        match self.order_total {
            Some(total) if paid > total => Err(DomainError::RefundExceedsOrderTotal {
                requested: paid.get(),
                total: total.get(),
            }),
            _ => Ok(paid),
        }
    }
}

/// Where agreeing takes this case; the platform's auto-agree (TB-02, AL-02) makes the same
/// move as the merchant agreeing.
pub(crate) fn agree_target(case: &Case) -> Result<CaseState, DomainError> {
    target_state(
        case,
        &MerchantAction::Agree {
            stock_check: None,
            return_plan: None,
        },
    )
}

/// The result of a change: the case as it will be stored and the events that record it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub case: Case,
    pub events: Vec<NewEvent>,
}

impl Case {
    /// Apply a merchant action under the case's own policy version.
    pub fn apply_merchant_action(
        &self,
        action: &MerchantAction,
        policy: &Policy,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Change, DomainError> {
        let act = action.kind();
        if !policy.allows(act) {
            return Err(DomainError::ActionNotSupportedByPlatform {
                action: act,
                platform: self.platform.to_string(),
                policy_version: policy.version.clone(),
            });
        }
        match action {
            MerchantAction::ReplyToTask(reply) => {
                return self.reply_to_task(reply, policy, actor, now)
            }
            MerchantAction::StageEvidence { items } => {
                return self.handle_evidence(items, false, policy, actor, now)
            }
            MerchantAction::UpdateDepositRelease(tracking) => {
                return self.track_deposit(tracking, policy, actor, now)
            }
            MerchantAction::SubmitEvidence { items } => {
                return self.handle_evidence(items, true, policy, actor, now)
            }
            MerchantAction::RecordSatisfactionCheck(report) => {
                return self.record_satisfaction_check(report, actor, now)
            }
            _ => {}
        }
        if let (MerchantAction::Refund { amount }, Some(_)) = (action, &self.task) {
            // A task's refund completes it only as TB-27/TB-28 allow.
            let paid = self.refund_amount(*amount)?;
            let detail = serde_json::json!({ "amount_fen": paid.get(), "rule": "TB-27" });
            return self.refund_task(paid, policy, actor, now, detail);
        }
        let to = target_state(self, action)?;
        if let MerchantAction::Agree {
            stock_check,
            return_plan,
        } = action
        {
            self.check_stock(stock_check.as_ref(), policy)?;
            self.check_return_plan(return_plan.as_ref(), to, policy)?;
        }
        if !self.state.can_move_to(to) {
            // The action table and the state table disagree: refuse rather than guess.
            return Err(DomainError::IllegalTransition {
                from: self.state,
                to,
            });
        }
        let mut next = self.clone();
        let mut detail = serde_json::json!({});
        match action {
            MerchantAction::ConfirmReturnReceived | MerchantAction::RecordBuyerConfirmation => {}
            MerchantAction::Agree {
                stock_check,
                return_plan,
            } => {
                if let Some(check) = stock_check {
                    detail = serde_json::json!({ "stock_check": check, "rule": "PD-06" });
                }
                if let Some(plan) = return_plan.as_ref().and_then(|p| p.complete().ok()) {
                    detail = serde_json::json!({ "return_plan": plan, "rule": "AL-01" });
                    next.return_address = Some(crate::case::Address {
                        name: plan.recipient.clone(),
                        phone: plan.phone.clone(),
                        detail: plan.address.clone(),
                        ..Default::default()
                    });
                    next.return_plan = Some(plan);
                }
            }
            MerchantAction::RecordRuling { in_favour_of, note } => {
                next.ruling = Some(crate::appeal::Ruling {
                    in_favour_of: *in_favour_of,
                    note: note.clone(),
                    recorded_at: now,
                });
                if to == S::Refunded && next.refunded.is_none() {
                    next.refunded = Some(self.requested_refund);
                }
                detail = serde_json::json!({ "in_favour_of": in_favour_of, "note": note.as_str(), "rule": "AL-20" });
            }
            MerchantAction::RecordTrackingChange { change, shipment } => {
                if *change == TrackingChange::ReplacedForReship {
                    next.reship_shipment = Some(shipment.clone());
                }
                detail = serde_json::json!({
                    "change": change.as_str(),
                    "shipment": shipment,
                    "rule": "AL-03",
                });
            }
            MerchantAction::Reject { reason }
            | MerchantAction::Escalate { reason }
            | MerchantAction::Close { reason } => {
                detail = serde_json::json!({ "reason": reason.as_str() });
            }
            MerchantAction::RecordReturnShipment { shipment } => {
                next.return_shipment = Some(shipment.clone());
                detail = serde_json::json!({ "shipment": shipment });
            }
            MerchantAction::RecordReship { shipment } => {
                next.reship_shipment = Some(shipment.clone());
                detail = serde_json::json!({ "shipment": shipment });
            }
            MerchantAction::Refund { amount } => {
                let paid = amount.unwrap_or(self.requested_refund);
                next.refunded = Some(paid);
                detail = serde_json::json!({ "amount_fen": paid.get() });
            }
            MerchantAction::ReplyToTask(_)
            | MerchantAction::StageEvidence { .. }
            | MerchantAction::SubmitEvidence { .. }
            | MerchantAction::UpdateDepositRelease(_)
            | MerchantAction::RecordSatisfactionCheck(_) => {}
        }
        if act == ActionKind::ConfirmReturnReceived {
            // PD-E10: signing for the return accepts its condition.
            next.return_signed_at = Some(now);
        }
        if matches!(act, ActionKind::Agree | ActionKind::ConfirmReturnReceived)
            && to == S::Refunded
            && next.refunded.is_none()
        {
            next.refunded = Some(self.requested_refund);
        }
        if let (S::Refunded, Some(advance)) = (to, self.platform_advance) {
            // TB-11: the platform recovers what it advanced from this refund.
            detail["platform_advance_recovered_fen"] = serde_json::json!(advance.get());
            detail["rule"] = serde_json::json!("TB-11");
        }
        next.enter_state(to, policy, now, None, DeadlineState::Met);
        next.updated_at = now;
        next.version += 1;
        let event = NewEvent {
            kind: EventKind::MerchantAction(act),
            actor,
            from_state: Some(self.state),
            to_state: Some(to),
            detail,
            occurred_at: now,
        };
        Ok(Change {
            case: next,
            events: vec![event],
        })
    }

    /// Move to `to` and restart the clocks. Deadlines of the state being left are closed as
    /// `closed_as` (met when the due party acted, cancelled when something else moved the
    /// case). Staying in the same state keeps running deadlines, except that a new platform
    /// deadline replaces the merchant's due time.
    pub(crate) fn enter_state(
        &mut self,
        to: CaseState,
        policy: &Policy,
        now: DateTime<Utc>,
        platform_due: Option<DateTime<Utc>>,
        closed_as: DeadlineState,
    ) {
        let same_state = to == self.state;
        if same_state {
            if platform_due.is_none() {
                return;
            }
            let started = self
                .active_deadlines()
                .map(|d| d.started_at)
                .min()
                .unwrap_or(now);
            let fresh = policy.deadlines_for(self, started, platform_due);
            if fresh
                .iter()
                .map(|d| d.due_at)
                .eq(self.active_deadlines().map(|d| d.due_at))
            {
                return;
            }
            for d in self.deadlines.iter_mut() {
                d.close(DeadlineState::Cancelled, now);
            }
            self.deadlines.extend(fresh);
            return;
        }
        for d in self.deadlines.iter_mut() {
            d.close(closed_as, now);
        }
        self.state = to;
        let fresh = policy.deadlines_for(self, now, platform_due);
        self.deadlines.extend(fresh);
    }
}
