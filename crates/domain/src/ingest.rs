//! Opening cases and applying platform records to them.

use crate::action::Change;
use crate::case::{
    Address, Case, CaseKind, EvidenceRef, Fulfilment, OrderState, PlatformStatus, RefreshNeeded,
    Shipment,
};
use crate::deadline::DeadlineState;
use crate::error::DomainError;
use crate::event::{Actor, EventKind, NewEvent};
use crate::ids::{CaseId, OrderId, PlatformCaseId, PlatformCode, ShopId, TenantId};
use crate::money::Fen;
use crate::policy::Policy;
use crate::state::CaseState;
use crate::task::{SignedElsewhereTask, TaskState};
use crate::text::BoundedText;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// A platform's after-sales record, already translated by its adapter into common terms.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformRecord {
    pub platform_case_id: PlatformCaseId,
    pub order_id: Option<OrderId>,
    pub sub_order_id: Option<OrderId>,
    pub kind: CaseKind,
    pub state: CaseState,
    pub fulfilment: Fulfilment,
    pub requested_refund: Fen,
    pub order_total: Option<Fen>,
    pub refunded: Option<Fen>,
    pub reason: BoundedText,
    pub buyer: BoundedText,
    pub return_address: Option<Address>,
    pub return_shipment: Option<Shipment>,
    pub reship_shipment: Option<Shipment>,
    pub status: PlatformStatus,
    /// Monotonic version stamp (epoch millis of the platform's modified/version time).
    pub version: i64,
    /// The deadline the platform itself announces for the party now due, if any.
    pub platform_deadline: Option<DateTime<Utc>>,
    pub attributes: BTreeMap<String, String>,
    /// When the buyer opened the request on the platform.
    pub opened_at: Option<DateTime<Utc>>,
    /// CM-01: the order's state, when the platform says.
    pub order_state: Option<OrderState>,
    /// TB-11: the platform paid the buyer in advance (极速退款 / 先行垫付).
    pub platform_advance: Option<Fen>,
    /// For a platform task: what the platform says about it (addresses, the TB-20 check,
    /// earlier complaints). Plan, outcome and complaint are this service's record and are
    /// kept from the stored case.
    pub task: Option<SignedElsewhereTask>,
}

/// A platform message that says a record changed without saying how (Taobao TMC refund
/// topics carry no status, platform-apis.md §1.5).
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformNotice {
    pub platform_case_id: PlatformCaseId,
    pub order_id: Option<OrderId>,
    pub sub_order_id: Option<OrderId>,
    /// The message topic as the platform names it.
    pub topic: String,
    /// What the topic means, in words.
    pub meaning: String,
    /// When the platform says the change happened.
    pub occurred_at: Option<DateTime<Utc>>,
    /// The message's other fields, kept for the record.
    pub attributes: BTreeMap<String, String>,
}

/// What an adapter makes of one native payload.
#[derive(Debug, Clone, PartialEq)]
pub enum PlatformInput {
    /// A full record with a status: it can open or move a case.
    Record(Box<PlatformRecord>),
    /// A message without a status: it marks the case as needing a fresh fetch.
    Notice(PlatformNotice),
}

/// A case entered by hand (CreateCase).
#[derive(Debug, Clone, PartialEq)]
pub struct CaseDraft {
    pub shop: ShopId,
    pub platform: PlatformCode,
    pub platform_case_id: Option<PlatformCaseId>,
    pub order_id: Option<OrderId>,
    pub sub_order_id: Option<OrderId>,
    pub kind: CaseKind,
    pub fulfilment: Fulfilment,
    pub requested_refund: Fen,
    pub order_total: Option<Fen>,
    pub reason: BoundedText,
    pub buyer: BoundedText,
    pub buyer_address: Option<Address>,
    pub evidence: Vec<EvidenceRef>,
    pub order_state: Option<OrderState>,
    pub trade_success_at: Option<DateTime<Utc>>,
    /// For a signed-elsewhere task: the addresses and whether the buyer already complained.
    pub task: Option<SignedElsewhereTask>,
    /// For an evidence request: the scenario and what it needs to know.
    pub evidence_request: Option<crate::evidence::EvidenceDraft>,
    /// When the buyer signed for the goods.
    pub signed_at: Option<DateTime<Utc>>,
    pub reason_category: Option<crate::case::ReasonCategory>,
    /// For an appeal (AL-20 … AL-22).
    pub appeal: Option<crate::appeal::Appeal>,
}

impl CaseDraft {
    /// A draft of what every case has, with none of the optional facts (no order line, total,
    /// address, evidence, task…). Callers that know more add it with struct update, so a fact
    /// added to the model later is one more `None` here rather than in each of them.
    pub fn new(
        shop: ShopId,
        platform: PlatformCode,
        kind: CaseKind,
        fulfilment: Fulfilment,
        requested_refund: Fen,
        reason: BoundedText,
        buyer: BoundedText,
    ) -> Self {
        CaseDraft {
            shop,
            platform,
            platform_case_id: None,
            order_id: None,
            sub_order_id: None,
            kind,
            fulfilment,
            requested_refund,
            order_total: None,
            reason,
            buyer,
            buyer_address: None,
            evidence: vec![],
            order_state: None,
            trade_success_at: None,
            task: None,
            evidence_request: None,
            signed_at: None,
            reason_category: None,
            appeal: None,
        }
    }
}

/// What applying a platform record did.
#[derive(Debug, Clone, PartialEq)]
pub enum PlatformOutcome {
    /// The record was newer and has been applied.
    Applied(Box<Change>),
    /// Same version as stored: nothing to do (an idempotent re-delivery).
    Unchanged,
    /// Older than stored: recorded, not applied.
    Stale(NewEvent),
    /// Newer, but asks for a move the state machine forbids: recorded, not applied.
    Refused(NewEvent, DomainError),
}

fn amount_invalid(field: &'static str, a: Fen, total: Option<Fen>) -> Result<(), DomainError> {
    match total {
        Some(t) if a > t => Err(DomainError::InvalidField {
            field,
            reason: format!("{a} yuan exceeds the order total of {t} yuan"),
        }),
        _ => Ok(()),
    }
}

impl Case {
    /// Open a case entered by hand. It starts awaiting the merchant's answer. `earlier` are
    /// the cases already opened on the same order (same platform, shop and order, any line):
    /// TB-03, TB-29 and PD-07 depend on them.
    pub fn open(
        id: CaseId,
        tenant: TenantId,
        draft: CaseDraft,
        policy: &Policy,
        actor: Actor,
        now: DateTime<Utc>,
        earlier: &[Case],
    ) -> Result<Change, DomainError> {
        amount_invalid(
            "requested_refund_fen",
            draft.requested_refund,
            draft.order_total,
        )?;
        let order_state = draft
            .order_state
            .or(draft.trade_success_at.map(|_| OrderState::TradeSuccess));
        if let Some(order_state) = order_state {
            // CM-03: which kinds an order in this state allows.
            if !order_state.allows(draft.kind) {
                return Err(DomainError::KindNotAllowedForOrderState {
                    kind: draft.kind,
                    order_state,
                });
            }
        }
        let same_line: Vec<&Case> = earlier
            .iter()
            .filter(|c| c.sub_order_id == draft.sub_order_id)
            .collect();
        if draft.kind.is_buyer_request() {
            let window_start = match policy.after_sales_window_from {
                crate::policy::WindowStart::TradeSuccess => draft.trade_success_at,
                crate::policy::WindowStart::Signed => draft.signed_at,
            };
            check_window(policy, window_start, now)?;
            check_once_per_order_line(policy, &same_line)?;
            check_request_limit(policy, draft.kind, earlier)?;
        }
        if draft.kind.is_platform_task() && draft.task.is_none() {
            return Err(DomainError::InvalidField {
                field: "signed_elsewhere_task",
                reason: "a signed-elsewhere task needs the delivery address and the signing location (TB-20)".into(),
            });
        }
        let evidence_request = match (draft.kind, draft.evidence_request) {
            (CaseKind::EvidenceRequest, Some(e)) => {
                Some(crate::evidence::open_request(policy, e, earlier, now)?)
            }
            (CaseKind::EvidenceRequest, None) => {
                return Err(DomainError::InvalidField {
                    field: "evidence_request",
                    reason: format!(
                        "an evidence request names its scenario: one of {}",
                        policy.scenario_keys()
                    ),
                })
            }
            (kind, Some(_)) => {
                return Err(DomainError::InvalidField {
                    field: "evidence_request",
                    reason: format!("only for EVIDENCE_REQUEST cases, not {kind}"),
                })
            }
            (_, None) => None,
        };
        match (draft.kind, &draft.appeal) {
            (CaseKind::Appeal, Some(appeal)) => {
                appeal.check().map_err(|r| DomainError::AppealRefused {
                    rule: r.rule,
                    reason: r.reason,
                })?;
            }
            (CaseKind::Appeal, None) => {
                return Err(DomainError::InvalidField {
                    field: "appeal",
                    reason: "an appeal states its ground, what is appealed and the evidence".into(),
                })
            }
            (kind, Some(_)) => {
                return Err(DomainError::InvalidField {
                    field: "appeal",
                    reason: format!("only for APPEAL cases, not {kind}"),
                })
            }
            (_, None) => {}
        }
        if !draft.kind.is_shop_level() && draft.order_id.is_none() {
            return Err(DomainError::InvalidField {
                field: "order_id",
                reason: format!(
                    "a {} case is about one order line and needs its order id",
                    draft.kind
                ),
            });
        }
        let mut case = Case {
            id,
            tenant,
            shop: draft.shop,
            platform: draft.platform,
            platform_case_id: draft.platform_case_id,
            order_id: draft.order_id,
            sub_order_id: draft.sub_order_id,
            kind: draft.kind,
            // PD-06: a request the merchant opened waits for the buyer's confirmation first;
            // an appeal is the platform's to review (AL-20).
            state: if policy.merchant_initiated_kinds.contains(&draft.kind) {
                CaseState::AwaitingBuyer
            } else if draft.kind == CaseKind::Appeal {
                CaseState::PlatformIntervening
            } else {
                CaseState::AwaitingMerchant
            },
            fulfilment: draft.fulfilment,
            requested_refund: draft.requested_refund,
            order_total: draft.order_total,
            refunded: None,
            reason: draft.reason,
            buyer: draft.buyer,
            order_state,
            trade_success_at: draft.trade_success_at,
            platform_advance: None,
            buyer_address: draft.buyer_address,
            return_address: None,
            return_shipment: None,
            reship_shipment: None,
            evidence: draft.evidence,
            deadlines: Vec::new(),
            platform_status: None,
            platform_version: None,
            platform_attributes: BTreeMap::new(),
            needs_refresh: None,
            task: draft.task.map(|t| with_prior_complaints(t, &same_line)),
            evidence_request,
            return_signed_at: None,
            signed_at: draft.signed_at,
            reason_category: draft.reason_category,
            return_shipping_payer: return_shipping_payer(policy, draft.kind, draft.reason_category),
            merchant_initiated: policy.merchant_initiated_kinds.contains(&draft.kind),
            return_plan: None,
            appeal: draft.appeal,
            ruling: None,
            deposit: None,
            satisfaction_checks: Vec::new(),
            policy_version: policy.version.clone(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        case.deadlines = policy.deadlines_for(&case, now, None);
        let mut events = vec![NewEvent {
            kind: EventKind::CaseCreated,
            actor,
            from_state: None,
            to_state: Some(case.state),
            detail: serde_json::json!({ "source": "manual", "policy_version": policy.version }),
            occurred_at: now,
        }];
        events.extend(new_task_reminder(&case, now));
        Ok(Change { case, events })
    }

    /// Open a case from a platform record seen for the first time. Deadlines start when the
    /// buyer opened the request on the platform if the record says so.
    ///
    /// The platform already accepted the request, so TB-01/TB-03/CM-03/PD-07 are not
    /// re-checked; `earlier` (the cases on the same order) only feeds TB-29.
    #[allow(clippy::too_many_arguments)]
    pub fn from_platform(
        id: CaseId,
        tenant: TenantId,
        shop: ShopId,
        platform: PlatformCode,
        record: PlatformRecord,
        policy: &Policy,
        now: DateTime<Utc>,
        earlier: &[Case],
    ) -> Result<Change, DomainError> {
        amount_invalid("refund_fee", record.requested_refund, record.order_total)?;
        let started = record.opened_at.unwrap_or(now).min(now);
        let mut case = Case {
            id,
            tenant,
            shop,
            platform: platform.clone(),
            platform_case_id: Some(record.platform_case_id.clone()),
            order_id: record.order_id.clone(),
            sub_order_id: record.sub_order_id.clone(),
            kind: record.kind,
            state: record.state,
            fulfilment: record.fulfilment,
            requested_refund: record.requested_refund,
            order_total: record.order_total,
            refunded: record.refunded,
            reason: record.reason.clone(),
            buyer: record.buyer.clone(),
            order_state: record.order_state,
            trade_success_at: None,
            platform_advance: record.platform_advance,
            buyer_address: None,
            return_address: record.return_address.clone(),
            return_shipment: record.return_shipment.clone(),
            reship_shipment: record.reship_shipment.clone(),
            evidence: Vec::new(),
            deadlines: Vec::new(),
            platform_status: Some(record.status.clone()),
            platform_version: Some(record.version),
            platform_attributes: record.attributes.clone(),
            needs_refresh: None,
            task: record.task.clone().map(|t| {
                let same_line: Vec<&Case> = earlier
                    .iter()
                    .filter(|c| c.sub_order_id == record.sub_order_id)
                    .collect();
                with_prior_complaints(t, &same_line)
            }),
            evidence_request: None,
            return_signed_at: None,
            signed_at: None,
            reason_category: None,
            return_shipping_payer: None,
            merchant_initiated: false,
            return_plan: None,
            appeal: None,
            ruling: None,
            deposit: None,
            satisfaction_checks: Vec::new(),
            policy_version: policy.version.clone(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        // A task first seen while the platform intervenes has a complaint open (TB-28 (2)).
        case.absorb_task_status(case.state, started);
        case.deadlines = policy.deadlines_for(&case, started, record.platform_deadline);
        let mut events = vec![NewEvent {
            kind: EventKind::CaseCreated,
            actor: Actor::platform(platform.as_str()),
            from_state: None,
            to_state: Some(case.state),
            detail: serde_json::json!({
                "source": "platform",
                "platform_status": record.status.code,
                "platform_version": record.version,
                "policy_version": policy.version,
            }),
            occurred_at: now,
        }];
        events.extend(new_task_reminder(&case, now));
        events.extend(mismatch_events(&case, &platform, now));
        Ok(Change { case, events })
    }

    /// Apply a newer platform record, or record why not.
    pub fn apply_platform_record(
        &self,
        record: PlatformRecord,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> PlatformOutcome {
        let actor = Actor::platform(self.platform.as_str());
        let stored = self.platform_version.unwrap_or(i64::MIN);
        if record.version == stored {
            if self.needs_refresh.is_some() {
                // The fetch a notice asked for came back with nothing new: the record is
                // trustworthy again.
                let mut next = self.clone();
                next.needs_refresh = None;
                next.updated_at = now;
                next.version += 1;
                return PlatformOutcome::Applied(Box::new(Change {
                    events: vec![NewEvent {
                        kind: EventKind::PlatformUpdated,
                        actor,
                        from_state: Some(self.state),
                        to_state: Some(self.state),
                        detail: serde_json::json!({
                            "platform_status": record.status.code,
                            "platform_version": record.version,
                            "refreshed": true,
                        }),
                        occurred_at: now,
                    }],
                    case: next,
                }));
            }
            return PlatformOutcome::Unchanged;
        }
        let summary = serde_json::json!({
            "platform_status": record.status.code,
            "platform_version": record.version,
            "stored_platform_version": self.platform_version,
        });
        if record.version < stored {
            return PlatformOutcome::Stale(NewEvent {
                kind: EventKind::StalePlatformRecord,
                actor,
                from_state: Some(self.state),
                to_state: Some(record.state),
                detail: summary,
                occurred_at: now,
            });
        }
        let mut record = record;
        if let Some(outcome) = self.task.as_ref().and_then(|t| t.outcome) {
            // TB-30 已完结 does not say how the task ended; what this service recorded does.
            if TaskState::of(record.state) == TaskState::Completed {
                record.state = TaskState::Completed.common_state(Some(outcome));
            }
        }
        if !self.state.can_move_to(record.state) {
            let err = DomainError::IllegalTransition {
                from: self.state,
                to: record.state,
            };
            return PlatformOutcome::Refused(
                NewEvent {
                    kind: EventKind::TransitionRefused,
                    actor,
                    from_state: Some(self.state),
                    to_state: Some(record.state),
                    detail: summary,
                    occurred_at: now,
                },
                err,
            );
        }
        if let Err(e) = amount_invalid("refund_fee", record.requested_refund, record.order_total) {
            return PlatformOutcome::Refused(
                NewEvent {
                    kind: EventKind::TransitionRefused,
                    actor,
                    from_state: Some(self.state),
                    to_state: Some(record.state),
                    detail: summary,
                    occurred_at: now,
                },
                e,
            );
        }
        let mut next = self.clone();
        next.kind = record.kind;
        next.fulfilment = record.fulfilment;
        next.requested_refund = record.requested_refund;
        next.order_total = record.order_total.or(self.order_total);
        next.refunded = record.refunded.or(self.refunded);
        next.reason = record.reason;
        next.buyer = record.buyer;
        next.return_address = record.return_address.or(next.return_address);
        next.return_shipment = record.return_shipment.or(next.return_shipment);
        next.reship_shipment = record.reship_shipment.or(next.reship_shipment);
        next.platform_status = Some(record.status);
        next.platform_version = Some(record.version);
        next.platform_attributes = record.attributes;
        next.platform_advance = record.platform_advance.or(next.platform_advance);
        next.order_state = record.order_state.or(next.order_state);
        next.needs_refresh = None;
        if let Some(reported) = record.task {
            let mut task = next.task.take().unwrap_or_default();
            task.delivery_address = reported.delivery_address;
            task.signing_location = reported.signing_location;
            task.check = reported.check.or(task.check);
            task.prior_false_shipment_complaint |= reported.prior_false_shipment_complaint;
            task.plan = task.plan.or(reported.plan);
            task.outcome = task.outcome.or(reported.outcome);
            next.task = Some(task);
            next.absorb_task_status(record.state, now);
        }
        next.enter_state(
            record.state,
            policy,
            now,
            record.platform_deadline,
            DeadlineState::Met,
        );
        next.updated_at = now;
        next.version += 1;
        let mut events = vec![NewEvent {
            kind: EventKind::PlatformUpdated,
            actor,
            from_state: Some(self.state),
            to_state: Some(next.state),
            detail: summary,
            occurred_at: now,
        }];
        let before: Vec<_> = self
            .active_deadlines()
            .map(|d| (d.key.clone(), d.due_at))
            .collect();
        let after: Vec<_> = next
            .active_deadlines()
            .map(|d| (d.key.clone(), d.due_at))
            .collect();
        if before != after {
            events.extend(mismatch_events(&next, &self.platform, now));
        }
        PlatformOutcome::Applied(Box::new(Change { case: next, events }))
    }
}

impl Case {
    /// A platform message without status arrived: mark the case for a fresh fetch and record
    /// the message. The state does not move: the message does not say where to.
    pub fn note_platform_notice(&self, notice: &PlatformNotice, now: DateTime<Utc>) -> Change {
        let mut next = self.clone();
        next.needs_refresh = Some(RefreshNeeded {
            topic: notice.topic.clone(),
            noticed_at: now,
        });
        next.updated_at = now;
        next.version += 1;
        let event = NewEvent {
            kind: EventKind::PlatformNotice,
            actor: Actor::platform(self.platform.as_str()),
            from_state: Some(self.state),
            to_state: Some(self.state),
            detail: serde_json::json!({
                "topic": notice.topic,
                "meaning": notice.meaning,
                "occurred_at": notice.occurred_at.map(|t| t.to_rfc3339()),
                "fields": notice.attributes,
                "needs_refresh": true,
            }),
            occurred_at: now,
        };
        Change {
            case: next,
            events: vec![event],
        }
    }
}

/// PD-02: who pays for shipping the goods back, by the reason. `None` when no goods travel
/// back or the reason is not known.
fn return_shipping_payer(
    policy: &Policy,
    kind: CaseKind,
    reason: Option<crate::case::ReasonCategory>,
) -> Option<crate::deadline::DueParty> {
    use crate::deadline::DueParty;
    let rule = policy.return_shipping.as_ref()?;
    if !kind.needs_return() {
        return None;
    }
    let reason = reason?;
    Some(if rule.merchant_pays_for.contains(&reason) {
        DueParty::Merchant
    } else {
        rule.payer
    })
}

/// TB-01 / PD-01: a request can be opened within the window after trade success (or signing).
fn check_window(
    policy: &Policy,
    window_start: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    let (Some(days), Some(success)) = (policy.after_sales_window_days, window_start) else {
        return Ok(());
    };
    let closes = success + chrono::Duration::days(i64::from(days));
    if now > closes {
        return Err(DomainError::OutsideAfterSalesWindow {
            window_days: days,
            start: match policy.after_sales_window_from {
                crate::policy::WindowStart::TradeSuccess => "trade success",
                crate::policy::WindowStart::Signed => "signing",
            },
            start_at: success.to_rfc3339(),
            closed_at: closes.to_rfc3339(),
            rule: policy
                .after_sales_window_rule
                .clone()
                .unwrap_or_else(|| "CM-04".into()),
        });
    }
    Ok(())
}

/// TB-03: once a request on an order line succeeded, failed or was withdrawn — or while one
/// is still open — no new one can be opened.
fn check_once_per_order_line(policy: &Policy, earlier: &[&Case]) -> Result<(), DomainError> {
    if !policy.one_request_per_order_line {
        return Ok(());
    }
    match earlier.iter().find(|c| c.kind.is_buyer_request()) {
        Some(c) => Err(DomainError::OrderLineAlreadyUsed {
            order_line: order_line_label(c),
            existing: format!("cases/{}", c.id),
            existing_state: c.state,
        }),
        None => Ok(()),
    }
}

/// PD-07: past the cap of counted requests on an order, the entry is closed.
fn check_request_limit(
    policy: &Policy,
    kind: CaseKind,
    earlier: &[Case],
) -> Result<(), DomainError> {
    let Some(limit) = policy
        .request_limit
        .as_ref()
        .filter(|l| l.kinds.contains(&kind))
    else {
        return Ok(());
    };
    let count = earlier
        .iter()
        .filter(|c| limit.kinds.contains(&c.kind))
        .count();
    if count >= limit.max_per_order as usize {
        let kinds: Vec<&str> = limit.kinds.iter().map(|k| k.as_str()).collect();
        return Err(DomainError::RequestLimitReached {
            order: earlier
                .first()
                .and_then(|c| c.order_id.as_ref())
                .map(|o| o.to_string())
                .unwrap_or_default(),
            count: count as u32,
            kinds: kinds.join("/"),
            rule: limit.rule.clone(),
        });
    }
    Ok(())
}

fn order_line_label(c: &Case) -> String {
    let order = c.order_id.as_ref().map(|o| o.as_str()).unwrap_or("");
    match &c.sub_order_id {
        Some(sub) => format!("{order}/{sub}"),
        None => order.to_string(),
    }
}

/// TB-29: a false-shipment complaint on this sub-order from an earlier task counts too.
fn with_prior_complaints(mut task: SignedElsewhereTask, earlier: &[&Case]) -> SignedElsewhereTask {
    let earlier_complaint = earlier.iter().filter_map(|c| c.task.as_ref()).any(|t| {
        t.prior_false_shipment_complaint
            || t.complaint
                .as_ref()
                .is_some_and(|c| c.kind == crate::task::ComplaintKind::FalseShipment)
    });
    task.prior_false_shipment_complaint |= earlier_complaint;
    task
}

/// TB-23: a reminder goes out when a new task is created, not only before it times out.
fn new_task_reminder(case: &Case, now: DateTime<Utc>) -> Option<NewEvent> {
    if !case.kind.is_platform_task() || case.state.is_resolved() {
        return None;
    }
    let due = case.active_deadlines().min_by_key(|d| d.due_at);
    Some(NewEvent {
        kind: EventKind::DeadlineReminder,
        actor: crate::timer::timer_actor(),
        from_state: Some(case.state),
        to_state: Some(case.state),
        detail: serde_json::json!({
            "signal": "task_created",
            "rule": "TB-23",
            "task_state": TaskState::of(case.state).as_str(),
            "task_state_text": TaskState::of(case.state).platform_text(),
            "deadline": due.map(|d| d.key.clone()),
            "due_at": due.map(|d| d.due_at.to_rfc3339()),
        }),
        occurred_at: now,
    })
}

/// Where the platform's deadline and the policy's computation disagree, say so: either the
/// policy data is out of date or the platform applied a special rule, and someone should know.
fn mismatch_events(case: &Case, platform: &PlatformCode, now: DateTime<Utc>) -> Vec<NewEvent> {
    case.active_deadlines()
        .filter_map(|d| {
            let computed = d.computed_due_at?;
            (computed != d.due_at).then(|| NewEvent {
                kind: EventKind::DeadlineMismatch,
                actor: Actor::platform(platform.as_str()),
                from_state: Some(case.state),
                to_state: Some(case.state),
                detail: serde_json::json!({
                    "deadline": d.key,
                    "rule": d.rule_id,
                    "platform_due_at": d.due_at.to_rfc3339(),
                    "policy_due_at": computed.to_rfc3339(),
                    "difference_seconds": (d.due_at - computed).num_seconds(),
                }),
                occurred_at: now,
            })
        })
        .collect()
}
