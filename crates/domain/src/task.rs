//! The Taobao signed-elsewhere platform task (异地签收任务, TB-20 … TB-31).
//!
//! A task is a case of kind `signed_elsewhere_task`. Its life differs from a buyer's refund
//! request: the merchant answers with one of seven replies, each needing its own proof
//! (TB-24); some replies finish it at once, some need a later upload (TB-25), one hands it to
//! the platform (TB-26); and it only completes when the order line was refunded or delivery
//! or a reship was proved, *and* any complaint the task raised was finished by the platform
//! (TB-28). The five task states of TB-30 are views of the common states.

use crate::action::Change;
use crate::case::{Case, EvidenceRef, Shipment};
use crate::deadline::DeadlineState;
use crate::error::DomainError;
use crate::event::{Actor, EventKind, NewEvent};
use crate::policy::Policy;
use crate::state::CaseState;
use crate::text::BoundedText;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The reply options of TB-24, without their proofs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskPlan {
    /// 更新错误物流单号
    UpdateTrackingNumber,
    /// 立即补发
    ReshipNow,
    /// 包裹已收到
    PackageReceived,
    /// 立即提供签收底单
    SignedSlipNow,
    /// 重新约定时间派送
    RescheduleDelivery,
    /// 提供签收底单或完成补发 (TB-25: the upload follows within 24 hours)
    SlipOrReshipLater,
    /// 主动理赔 (TB-26)
    ProactiveCompensation,
}

impl TaskPlan {
    pub const ALL: [TaskPlan; 7] = [
        TaskPlan::UpdateTrackingNumber,
        TaskPlan::ReshipNow,
        TaskPlan::PackageReceived,
        TaskPlan::SignedSlipNow,
        TaskPlan::RescheduleDelivery,
        TaskPlan::SlipOrReshipLater,
        TaskPlan::ProactiveCompensation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskPlan::UpdateTrackingNumber => "update_tracking_number",
            TaskPlan::ReshipNow => "reship_now",
            TaskPlan::PackageReceived => "package_received",
            TaskPlan::SignedSlipNow => "signed_slip_now",
            TaskPlan::RescheduleDelivery => "reschedule_delivery",
            TaskPlan::SlipOrReshipLater => "slip_or_reship_later",
            TaskPlan::ProactiveCompensation => "proactive_compensation",
        }
    }

    /// The option as Taobao's seller centre words it.
    pub fn platform_text(self) -> &'static str {
        match self {
            TaskPlan::UpdateTrackingNumber => "更新错误物流单号",
            TaskPlan::ReshipNow => "立即补发",
            TaskPlan::PackageReceived => "包裹已收到",
            TaskPlan::SignedSlipNow => "立即提供签收底单",
            TaskPlan::RescheduleDelivery => "重新约定时间派送",
            TaskPlan::SlipOrReshipLater => "提供签收底单或完成补发",
            TaskPlan::ProactiveCompensation => "主动理赔",
        }
    }

    /// What the merchant must attach to choose it (TB-24).
    pub fn required_proof(self) -> &'static str {
        match self {
            TaskPlan::UpdateTrackingNumber => "the correct carrier and tracking number",
            TaskPlan::ReshipNow => "the reship carrier and tracking number",
            TaskPlan::PackageReceived => {
                "evidence that the buyer has the parcel (e.g. a chat screenshot reference)"
            }
            TaskPlan::SignedSlipNow => "the signed delivery slip (签收底单) image reference",
            TaskPlan::RescheduleDelivery => "the newly agreed delivery time and a note",
            TaskPlan::SlipOrReshipLater => {
                "nothing now; a reship number or signed slip within 24 hours (TB-25)"
            }
            TaskPlan::ProactiveCompensation => {
                "nothing; the platform compensates the buyer (TB-26)"
            }
        }
    }
}

impl fmt::Display for TaskPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TaskPlan {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        TaskPlan::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown task reply {s:?}"))
    }
}

/// A reply with its proof. The proofs are typed so a reply cannot be sent without the proof
/// its option needs.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskReply {
    UpdateTrackingNumber {
        shipment: Shipment,
    },
    ReshipNow {
        shipment: Shipment,
    },
    PackageReceived {
        evidence: EvidenceRef,
    },
    SignedSlipNow {
        evidence: EvidenceRef,
    },
    RescheduleDelivery {
        agreed_at: DateTime<Utc>,
        note: BoundedText,
    },
    SlipOrReshipLater,
    ProactiveCompensation,
}

impl TaskReply {
    pub fn plan(&self) -> TaskPlan {
        match self {
            TaskReply::UpdateTrackingNumber { .. } => TaskPlan::UpdateTrackingNumber,
            TaskReply::ReshipNow { .. } => TaskPlan::ReshipNow,
            TaskReply::PackageReceived { .. } => TaskPlan::PackageReceived,
            TaskReply::SignedSlipNow { .. } => TaskPlan::SignedSlipNow,
            TaskReply::RescheduleDelivery { .. } => TaskPlan::RescheduleDelivery,
            TaskReply::SlipOrReshipLater => TaskPlan::SlipOrReshipLater,
            TaskReply::ProactiveCompensation => TaskPlan::ProactiveCompensation,
        }
    }

    fn proof_json(&self) -> serde_json::Value {
        match self {
            TaskReply::UpdateTrackingNumber { shipment } | TaskReply::ReshipNow { shipment } => {
                serde_json::json!({ "shipment": shipment })
            }
            TaskReply::PackageReceived { evidence } | TaskReply::SignedSlipNow { evidence } => {
                serde_json::json!({ "evidence": evidence })
            }
            TaskReply::RescheduleDelivery { agreed_at, note } => serde_json::json!({
                "agreed_delivery_at": agreed_at.to_rfc3339(),
                "note": note.as_str(),
            }),
            TaskReply::SlipOrReshipLater | TaskReply::ProactiveCompensation => {
                serde_json::json!({})
            }
        }
    }
}

/// The first half of TB-28: what settled the buyer's problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskOutcome {
    Refunded,
    DeliveryProved,
    Reshipped,
}

impl TaskOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskOutcome::Refunded => "refunded",
            TaskOutcome::DeliveryProved => "delivery_proved",
            TaskOutcome::Reshipped => "reshipped",
        }
    }

    /// The resolved state a completed task ends in.
    fn final_state(self) -> CaseState {
        match self {
            TaskOutcome::Refunded => CaseState::Refunded,
            TaskOutcome::Reshipped => CaseState::Reshipped,
            TaskOutcome::DeliveryProved => CaseState::Closed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComplaintKind {
    /// 虚假发货投诉, filed by the platform when the task timed out (TB-29).
    FalseShipment,
    /// A complaint the platform files for the buyer when a chosen plan was not carried out
    /// (TB-25) or the merchant chose proactive compensation (TB-26).
    OnBuyersBehalf,
}

impl ComplaintKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ComplaintKind::FalseShipment => "false_shipment",
            ComplaintKind::OnBuyersBehalf => "on_buyers_behalf",
        }
    }
}

/// A complaint raised from the task (TB-28 (2): the task waits for the platform to finish it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Complaint {
    pub kind: ComplaintKind,
    /// The rule that raised it.
    pub rule: String,
    pub filed_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// The five task states of TB-30, as views of the common states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    AwaitingReply,
    AwaitingExecution,
    FollowUpPending,
    PlatformIntervening,
    Completed,
}

impl TaskState {
    pub const ALL: [TaskState; 5] = [
        TaskState::AwaitingReply,
        TaskState::AwaitingExecution,
        TaskState::FollowUpPending,
        TaskState::PlatformIntervening,
        TaskState::Completed,
    ];

    pub fn of(state: CaseState) -> TaskState {
        match state {
            CaseState::AwaitingMerchant | CaseState::AwaitingBuyer | CaseState::ReturnInTransit => {
                TaskState::AwaitingReply
            }
            CaseState::AwaitingMerchantExecution => TaskState::AwaitingExecution,
            CaseState::FollowUpPending => TaskState::FollowUpPending,
            CaseState::PlatformIntervening => TaskState::PlatformIntervening,
            CaseState::Refunded
            | CaseState::Reshipped
            | CaseState::Exchanged
            | CaseState::Repaired
            | CaseState::Closed
            | CaseState::WithdrawnByBuyer
            | CaseState::Expired => TaskState::Completed,
        }
    }

    /// The common state a task in this platform state is in. Completed maps to the state the
    /// outcome implies, or Closed when the platform did not say how it ended.
    pub fn common_state(self, outcome: Option<TaskOutcome>) -> CaseState {
        match self {
            TaskState::AwaitingReply => CaseState::AwaitingMerchant,
            TaskState::AwaitingExecution => CaseState::AwaitingMerchantExecution,
            TaskState::FollowUpPending => CaseState::FollowUpPending,
            TaskState::PlatformIntervening => CaseState::PlatformIntervening,
            TaskState::Completed => outcome.map_or(CaseState::Closed, TaskOutcome::final_state),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::AwaitingReply => "awaiting_reply",
            TaskState::AwaitingExecution => "awaiting_execution",
            TaskState::FollowUpPending => "follow_up_pending",
            TaskState::PlatformIntervening => "platform_intervening",
            TaskState::Completed => "completed",
        }
    }

    /// TB-30 in the platform's own words.
    pub fn platform_text(self) -> &'static str {
        match self {
            TaskState::AwaitingReply => "等待卖家回复",
            TaskState::AwaitingExecution => "待卖家执行",
            TaskState::FollowUpPending => "后续待跟进",
            TaskState::PlatformIntervening => "平台介入中",
            TaskState::Completed => "已完结",
        }
    }

    /// Reads TB-30 status as a platform sends it: the Chinese words or our snake_case name.
    pub fn parse(raw: &str) -> Option<TaskState> {
        let raw = raw.trim();
        TaskState::ALL
            .into_iter()
            .find(|s| s.platform_text() == raw || s.as_str() == raw)
            // The seed itself misspells 待卖家执行 once as 等家执行.
            .or_else(|| (raw == "等家执行").then_some(TaskState::AwaitingExecution))
    }
}

/// One side of the TB-20 check, resolved to administrative divisions.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResolvedPlace {
    /// The text as given.
    pub text: String,
    /// `(GB/T 2260 code, name)` of each level that could be resolved.
    pub province: Option<(String, String)>,
    pub city: Option<(String, String)>,
    pub county: Option<(String, String)>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SigningVerdict {
    SignedElsewhere,
    SameDistrict,
    Undetermined,
}

impl SigningVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningVerdict::SignedElsewhere => "signed_elsewhere",
            SigningVerdict::SameDistrict => "same_district",
            SigningVerdict::Undetermined => "undetermined",
        }
    }
}

/// TB-20: was the parcel signed for outside the buyer's district/county?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningCheck {
    pub verdict: SigningVerdict,
    /// Machine-readable reason, e.g. `different_district`, `pickup_point_in_same_compound`.
    pub reason: String,
    pub delivery: ResolvedPlace,
    pub signing: ResolvedPlace,
    /// The signing location names a parcel station, property office or locker.
    pub pickup_point: bool,
    /// The division dataset used, for the record.
    pub dataset: String,
}

/// What the case holds about its task beyond the common fields.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SignedElsewhereTask {
    /// The buyer's delivery address, as on the order.
    pub delivery_address: String,
    /// Where the carrier says the parcel was signed for.
    pub signing_location: String,
    pub check: Option<SigningCheck>,
    /// The reply chosen (TB-24); a later upload after TB-25 does not replace it.
    pub plan: Option<TaskPlan>,
    pub outcome: Option<TaskOutcome>,
    pub complaint: Option<Complaint>,
    /// TB-29: a false-shipment complaint already exists for this sub-order (the buyer filed
    /// one, or an earlier task's timeout did), so a timeout files no second one.
    pub prior_false_shipment_complaint: bool,
}

impl SignedElsewhereTask {
    /// TB-28: both conditions hold.
    fn can_complete(&self) -> bool {
        self.outcome.is_some()
            && self
                .complaint
                .as_ref()
                .is_none_or(|c| c.finished_at.is_some())
    }
}

impl Case {
    /// TB-30: the task state, for task cases.
    pub fn task_state(&self) -> Option<TaskState> {
        self.task.as_ref().map(|_| TaskState::of(self.state))
    }

    /// The merchant answers the task (TB-24), or makes the follow-up upload (TB-25, TB-26).
    pub fn reply_to_task(
        &self,
        reply: &TaskReply,
        policy: &Policy,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Change, DomainError> {
        let task = self
            .task
            .as_ref()
            .ok_or(DomainError::NotATask { kind: self.kind })?;
        let plan = reply.plan();
        if !policy.task_replies.contains(&plan) {
            return Err(DomainError::TaskReplyNotOffered {
                plan,
                policy_version: policy.version.clone(),
            });
        }
        let mut next = self.clone();
        let mut t = task.clone();
        // Where the reply is allowed, and what it settles (the first half of TB-28).
        let outcome = match (TaskState::of(self.state), reply) {
            (TaskState::AwaitingReply, _) => {
                t.plan = Some(plan);
                match reply {
                    TaskReply::UpdateTrackingNumber { .. }
                    | TaskReply::PackageReceived { .. }
                    | TaskReply::SignedSlipNow { .. } => Some(TaskOutcome::DeliveryProved),
                    TaskReply::ReshipNow { .. } => Some(TaskOutcome::Reshipped),
                    TaskReply::RescheduleDelivery { .. }
                    | TaskReply::SlipOrReshipLater
                    | TaskReply::ProactiveCompensation => None,
                }
            }
            // TB-25: 上传补发单 / 上传签收单 after choosing a plan that needs a later upload.
            (TaskState::AwaitingExecution, TaskReply::ReshipNow { .. }) => {
                Some(TaskOutcome::Reshipped)
            }
            (TaskState::AwaitingExecution, TaskReply::SignedSlipNow { .. }) => {
                Some(TaskOutcome::DeliveryProved)
            }
            // TB-26: after proactive compensation (or any intervention) the merchant may still
            // agree a reship with the buyer (协商一致补发) and upload its number.
            (
                TaskState::PlatformIntervening | TaskState::FollowUpPending,
                TaskReply::ReshipNow { .. },
            ) => Some(TaskOutcome::Reshipped),
            (state, _) => return Err(DomainError::TaskReplyNotAllowedNow { plan, state }),
        };
        match reply {
            TaskReply::UpdateTrackingNumber { .. } => {}
            TaskReply::ReshipNow { shipment } => next.reship_shipment = Some(shipment.clone()),
            TaskReply::PackageReceived { evidence } | TaskReply::SignedSlipNow { evidence } => {
                next.evidence.push(evidence.clone())
            }
            TaskReply::RescheduleDelivery { .. }
            | TaskReply::SlipOrReshipLater
            | TaskReply::ProactiveCompensation => {}
        }
        if outcome.is_some() {
            t.outcome = outcome;
        }
        let mut detail = serde_json::json!({
            "reply": plan.as_str(),
            "reply_text": plan.platform_text(),
            "rule": "TB-24",
            "proof": reply.proof_json(),
        });
        let target = match reply {
            // TB-30 待卖家执行: a plan that needs a later upload.
            TaskReply::RescheduleDelivery { .. } | TaskReply::SlipOrReshipLater => {
                CaseState::AwaitingMerchantExecution
            }
            TaskReply::ProactiveCompensation => {
                // TB-26: the platform intervenes and files a complaint for the buyer.
                t.complaint = Some(Complaint {
                    kind: ComplaintKind::OnBuyersBehalf,
                    rule: "TB-26".into(),
                    filed_at: now,
                    finished_at: None,
                });
                detail["complaint"] = serde_json::json!("filed_on_buyers_behalf");
                CaseState::PlatformIntervening
            }
            _ => completion_target(&t, self.state),
        };
        next.task = Some(t);
        self.move_task(
            next,
            target,
            policy,
            actor,
            now,
            EventKind::MerchantAction(crate::ActionKind::ReplyToTask),
            detail,
        )
    }

    /// The merchant refunds the buyer. Within the 24 hours that completes the task (TB-27);
    /// later, it completes once any complaint is finished (TB-28).
    pub(crate) fn refund_task(
        &self,
        amount: crate::money::Fen,
        policy: &Policy,
        actor: Actor,
        now: DateTime<Utc>,
        detail: serde_json::Value,
    ) -> Result<Change, DomainError> {
        let task = self
            .task
            .as_ref()
            .ok_or(DomainError::NotATask { kind: self.kind })?;
        if self.state.is_resolved() {
            return Err(DomainError::ActionNotAllowedInState {
                action: crate::ActionKind::Refund,
                state: self.state,
            });
        }
        let mut next = self.clone();
        let mut t = task.clone();
        t.outcome = Some(TaskOutcome::Refunded);
        next.refunded = Some(amount);
        let target = completion_target(&t, self.state);
        next.task = Some(t);
        let kind = EventKind::MerchantAction(crate::ActionKind::Refund);
        self.move_task(next, target, policy, actor, now, kind, detail)
    }

    #[allow(clippy::too_many_arguments)]
    fn move_task(
        &self,
        mut next: Case,
        to: CaseState,
        policy: &Policy,
        actor: Actor,
        now: DateTime<Utc>,
        kind: EventKind,
        mut detail: serde_json::Value,
    ) -> Result<Change, DomainError> {
        if !self.state.can_move_to(to) {
            return Err(DomainError::IllegalTransition {
                from: self.state,
                to,
            });
        }
        next.enter_state(to, policy, now, None, DeadlineState::Met);
        next.updated_at = now;
        next.version += 1;
        detail["task_state"] = serde_json::json!(TaskState::of(to).as_str());
        detail["task_state_text"] = serde_json::json!(TaskState::of(to).platform_text());
        Ok(Change {
            case: next,
            events: vec![NewEvent {
                kind,
                actor,
                from_state: Some(self.state),
                to_state: Some(to),
                detail,
                occurred_at: now,
            }],
        })
    }

    /// A timeout's complaint (TB-25, TB-29), recorded on the task. Returns what the event
    /// should say about it.
    pub(crate) fn file_timeout_complaint(
        &mut self,
        kind: ComplaintKind,
        rule: &str,
        at: DateTime<Utc>,
    ) -> Option<&'static str> {
        let task = self.task.as_mut()?;
        if kind == ComplaintKind::FalseShipment && task.prior_false_shipment_complaint {
            // TB-29: a buyer who already filed a false-shipment complaint gets no second one.
            return Some("not_filed_duplicate");
        }
        task.complaint = Some(Complaint {
            kind,
            rule: rule.to_string(),
            filed_at: at,
            finished_at: None,
        });
        if kind == ComplaintKind::FalseShipment {
            // TB-29: the buyer cannot file another one for this sub-order.
            task.prior_false_shipment_complaint = true;
        }
        Some("filed")
    }

    /// Bring a task in line with what the platform reports (ingest). Leaving 平台介入中 means
    /// the platform finished handling the complaint (TB-28 (2)).
    pub(crate) fn absorb_task_status(&mut self, reported: CaseState, now: DateTime<Utc>) {
        let was = self.state;
        let Some(task) = self.task.as_mut() else {
            return;
        };
        if was == CaseState::PlatformIntervening && reported != CaseState::PlatformIntervening {
            if let Some(c) = task.complaint.as_mut() {
                c.finished_at.get_or_insert(now);
            }
        }
        if reported == CaseState::PlatformIntervening && task.complaint.is_none() {
            // The platform took the task over without this service seeing why (a timeout
            // recorded there first): record that a complaint exists so TB-28 waits for it.
            task.complaint = Some(Complaint {
                kind: ComplaintKind::OnBuyersBehalf,
                rule: "TB-30".into(),
                filed_at: now,
                finished_at: None,
            });
        }
    }
}

/// Where a task goes once something settled it, by TB-28.
fn completion_target(task: &SignedElsewhereTask, current: CaseState) -> CaseState {
    match task.outcome {
        Some(outcome) if task.can_complete() => outcome.final_state(),
        // Settled, but a complaint is still open (only while the platform intervenes): stay
        // there until the platform finishes it.
        Some(_) | None => current,
    }
}
