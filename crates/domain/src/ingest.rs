//! Opening cases and applying platform records to them.

use crate::action::Change;
use crate::case::{Address, Case, CaseKind, EvidenceRef, Fulfilment, PlatformStatus, Shipment};
use crate::deadline::DeadlineState;
use crate::error::DomainError;
use crate::event::{Actor, EventKind, NewEvent};
use crate::ids::{CaseId, OrderId, PlatformCaseId, PlatformCode, ShopId, TenantId};
use crate::money::Fen;
use crate::policy::Policy;
use crate::state::CaseState;
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
    /// Open a case entered by hand. It starts awaiting the merchant's answer.
    pub fn open(
        id: CaseId,
        tenant: TenantId,
        draft: CaseDraft,
        policy: &Policy,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Change, DomainError> {
        amount_invalid(
            "requested_refund_fen",
            draft.requested_refund,
            draft.order_total,
        )?;
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
            state: CaseState::AwaitingMerchant,
            fulfilment: draft.fulfilment,
            requested_refund: draft.requested_refund,
            order_total: draft.order_total,
            refunded: None,
            reason: draft.reason,
            buyer: draft.buyer,
            buyer_address: draft.buyer_address,
            return_address: None,
            return_shipment: None,
            reship_shipment: None,
            evidence: draft.evidence,
            deadlines: Vec::new(),
            platform_status: None,
            platform_version: None,
            platform_attributes: BTreeMap::new(),
            policy_version: policy.version.clone(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        case.deadlines = policy.deadlines_for(&case, now, None);
        let event = NewEvent {
            kind: EventKind::CaseCreated,
            actor,
            from_state: None,
            to_state: Some(case.state),
            detail: serde_json::json!({ "source": "manual", "policy_version": policy.version }),
            occurred_at: now,
        };
        Ok(Change {
            case,
            events: vec![event],
        })
    }

    /// Open a case from a platform record seen for the first time. Deadlines start when the
    /// buyer opened the request on the platform if the record says so.
    pub fn from_platform(
        id: CaseId,
        tenant: TenantId,
        shop: ShopId,
        platform: PlatformCode,
        record: PlatformRecord,
        policy: &Policy,
        now: DateTime<Utc>,
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
            buyer_address: None,
            return_address: record.return_address.clone(),
            return_shipment: record.return_shipment.clone(),
            reship_shipment: record.reship_shipment.clone(),
            evidence: Vec::new(),
            deadlines: Vec::new(),
            platform_status: Some(record.status.clone()),
            platform_version: Some(record.version),
            platform_attributes: record.attributes.clone(),
            policy_version: policy.version.clone(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
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
