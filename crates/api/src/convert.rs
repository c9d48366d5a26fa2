//! proto ↔ domain. Wire types never reach the domain: requests are parsed into domain types
//! here, collecting every bad field at once so the caller can fix them in one round.

use crate::error::ApiError;
use aftersales_domain::deadline::{
    DeadlineSource as DSource, DeadlineState as DState, DueParty as DParty,
};
use aftersales_domain::event::ActorKind as DActorKind;
use aftersales_domain::ids::OrderId;
use aftersales_domain::policy::DeadlineRule;
use aftersales_domain::task::ComplaintKind;
use aftersales_domain::{
    Address, BoundedText, Case, CaseDraft, CaseId, CaseKind, CaseState, Deadline, EvidenceRef, Fen,
    Fulfilment, OrderState, PlatformCaseId, PlatformCode, Policy, ProjectedStep, ReasonCategory,
    ResolvedPlace, Shipment, ShopId, SignedElsewhereTask, SigningCheck, SigningVerdict,
    TaskOutcome, TaskPlan, TaskReply, TaskState, TimerSignal,
};
use aftersales_proto::v1 as pb;
use aftersales_store::{DueDeadline, StoredEvent};
use chrono::{DateTime, Utc};

pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// A protobuf Duration as chrono's, None if it is not a valid duration (mixed signs, nanos
/// out of range).
pub fn from_duration(d: &prost_types::Duration) -> Option<chrono::Duration> {
    if !(-999_999_999..=999_999_999).contains(&d.nanos)
        || (d.seconds > 0 && d.nanos < 0)
        || (d.seconds < 0 && d.nanos > 0)
    {
        return None;
    }
    chrono::Duration::try_seconds(d.seconds)?
        .checked_add(&chrono::Duration::nanoseconds(i64::from(d.nanos)))
}

pub fn from_timestamp(t: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

pub fn case_name(id: &CaseId) -> String {
    format!("cases/{id}")
}

/// `cases/{case}` → the case id.
pub fn parse_case_name(field: &str, name: &str) -> Result<CaseId, ApiError> {
    let id = name
        .strip_prefix("cases/")
        .filter(|rest| !rest.contains('/'))
        .ok_or_else(|| {
            ApiError::field(
                field,
                format!("{name:?} is not a case name of the form cases/{{case}}"),
            )
        })?;
    CaseId::parse(id).map_err(|e| ApiError::field(field, e.to_string()))
}

pub fn kind_to_pb(k: CaseKind) -> pb::CaseKind {
    match k {
        CaseKind::RefundOnly => pb::CaseKind::RefundOnly,
        CaseKind::ReturnAndRefund => pb::CaseKind::ReturnAndRefund,
        CaseKind::Exchange => pb::CaseKind::Exchange,
        CaseKind::Reship => pb::CaseKind::Reship,
        CaseKind::Repair => pb::CaseKind::Repair,
        CaseKind::CancelOrder => pb::CaseKind::CancelOrder,
        CaseKind::SignedElsewhereTask => pb::CaseKind::SignedElsewhereTask,
        CaseKind::EvidenceRequest => pb::CaseKind::EvidenceRequest,
        CaseKind::Compensation => pb::CaseKind::Compensation,
        CaseKind::Dispute => pb::CaseKind::Dispute,
        CaseKind::Appeal => pb::CaseKind::Appeal,
        CaseKind::DepositRelease => pb::CaseKind::DepositRelease,
    }
}

pub fn kind_from_pb(k: pb::CaseKind) -> Option<CaseKind> {
    CaseKind::ALL.into_iter().find(|d| kind_to_pb(*d) == k)
}

pub fn state_to_pb(s: CaseState) -> pb::CaseState {
    match s {
        CaseState::AwaitingMerchant => pb::CaseState::AwaitingMerchant,
        CaseState::AwaitingBuyer => pb::CaseState::AwaitingBuyer,
        CaseState::ReturnInTransit => pb::CaseState::ReturnInTransit,
        CaseState::AwaitingMerchantExecution => pb::CaseState::AwaitingMerchantExecution,
        CaseState::PlatformIntervening => pb::CaseState::PlatformIntervening,
        CaseState::FollowUpPending => pb::CaseState::FollowUpPending,
        CaseState::Refunded => pb::CaseState::Refunded,
        CaseState::Reshipped => pb::CaseState::Reshipped,
        CaseState::Exchanged => pb::CaseState::Exchanged,
        CaseState::Repaired => pb::CaseState::Repaired,
        CaseState::Closed => pb::CaseState::Closed,
        CaseState::WithdrawnByBuyer => pb::CaseState::WithdrawnByBuyer,
        CaseState::Expired => pb::CaseState::Expired,
    }
}

pub fn state_from_pb(s: pb::CaseState) -> Option<CaseState> {
    CaseState::ALL.into_iter().find(|d| state_to_pb(*d) == s)
}

pub fn fulfilment_to_pb(f: Fulfilment) -> pb::Fulfilment {
    match f {
        Fulfilment::Unknown => pb::Fulfilment::Unspecified,
        Fulfilment::NotShipped => pb::Fulfilment::NotShipped,
        Fulfilment::ShippedNotReceived => pb::Fulfilment::ShippedNotReceived,
        Fulfilment::Received => pb::Fulfilment::Received,
    }
}

fn fulfilment_from_pb(f: pb::Fulfilment) -> Fulfilment {
    Fulfilment::ALL
        .into_iter()
        .find(|d| fulfilment_to_pb(*d) == f)
        .unwrap_or(Fulfilment::Unknown)
}

fn due_party_to_pb(p: DParty) -> pb::DueParty {
    match p {
        DParty::Merchant => pb::DueParty::Merchant,
        DParty::Buyer => pb::DueParty::Buyer,
        DParty::Platform => pb::DueParty::Platform,
    }
}

fn address_to_pb(a: &Address) -> pb::Address {
    pb::Address {
        name: a.name.as_str().into(),
        phone: a.phone.as_str().into(),
        province: a.province.as_str().into(),
        city: a.city.as_str().into(),
        district: a.district.as_str().into(),
        detail: a.detail.as_str().into(),
    }
}

fn shipment_to_pb(s: &Shipment) -> pb::Shipment {
    pb::Shipment {
        carrier: s.carrier.as_str().into(),
        tracking_number: s.tracking_number.as_str().into(),
        ship_time: s.shipped_at.map(timestamp),
    }
}

pub fn deadline_to_pb(d: &Deadline) -> pb::Deadline {
    deadline_into_pb(d.clone())
}

fn deadline_into_pb(d: Deadline) -> pb::Deadline {
    pb::Deadline {
        key: d.key,
        rule_id: d.rule_id,
        due_party: due_party_to_pb(d.due_party) as i32,
        due_time: Some(timestamp(d.due_at)),
        remind_time: d.remind_at.map(timestamp),
        consequence: d.consequence.as_str().into(),
        source: match d.source {
            DSource::Policy => pb::DeadlineSource::Policy,
            DSource::Platform => pb::DeadlineSource::Platform,
            DSource::Facts => pb::DeadlineSource::Facts,
        } as i32,
        computed_due_time: d.computed_due_at.map(timestamp),
        state: match d.state {
            DState::Active => pb::DeadlineState::Active,
            DState::Met => pb::DeadlineState::Met,
            DState::Cancelled => pb::DeadlineState::Cancelled,
            DState::Fired => pb::DeadlineState::Fired,
        } as i32,
        start_time: Some(timestamp(d.started_at)),
        remind_sent_time: d.reminded_at.map(timestamp),
        close_time: d.closed_at.map(timestamp),
        assumed: d.assumed,
    }
}

pub fn due_deadline_to_pb(d: &DueDeadline) -> pb::DueDeadline {
    pb::DueDeadline {
        case: case_name(&d.case_id),
        shop: d.shop.to_string(),
        platform: d.platform.to_string(),
        position: i32::try_from(d.position).unwrap_or(i32::MAX),
        deadline: Some(deadline_to_pb(&d.deadline)),
    }
}

pub fn timeline_step_to_pb(s: &ProjectedStep) -> pb::TimelineStep {
    pb::TimelineStep {
        time: Some(timestamp(s.at)),
        signal: match s.signal {
            TimerSignal::Reminder => pb::TimerSignal::Reminder,
            TimerSignal::Expiry => pb::TimerSignal::Expiry,
        } as i32,
        deadline: Some(deadline_to_pb(&s.deadline)),
        from_state: state_to_pb(s.from_state) as i32,
        to_state: state_to_pb(s.to_state) as i32,
        consequence_applied: s.consequence_applied,
    }
}

pub fn due_party_from_pb(p: pb::DueParty) -> Option<DParty> {
    match p {
        pb::DueParty::Unspecified => None,
        pb::DueParty::Merchant => Some(DParty::Merchant),
        pb::DueParty::Buyer => Some(DParty::Buyer),
        pb::DueParty::Platform => Some(DParty::Platform),
    }
}

/// The API's view of a case, built by moving the stored case's strings and maps into the
/// message: GetCase and every page of ListCases decode a case only to hand it over, and
/// cloning its fields was a measurable part of each call (docs/benchmarks.md). The
/// destructuring is exhaustive so that a new field on `Case` cannot be forgotten here.
pub fn case_to_pb(c: Case) -> pb::Case {
    let next_deadline_time = c.next_deadline_at().map(timestamp);
    let etag = c.etag();
    let Case {
        id,
        tenant: _,
        shop,
        platform,
        platform_case_id,
        order_id,
        sub_order_id,
        kind,
        state,
        fulfilment,
        requested_refund,
        order_total,
        refunded,
        platform_advance,
        reason,
        buyer,
        order_state,
        trade_success_at,
        buyer_address,
        return_address,
        return_shipment,
        reship_shipment,
        evidence,
        deadlines,
        platform_status,
        platform_version,
        platform_attributes,
        needs_refresh,
        task,
        evidence_request,
        return_signed_at,
        signed_at,
        reason_category,
        return_shipping_payer,
        merchant_initiated,
        return_plan,
        appeal,
        ruling,
        deposit,
        satisfaction_checks,
        policy_version,
        created_at,
        updated_at,
        version: _,
    } = c;
    pb::Case {
        name: case_name(&id),
        shop: shop.into(),
        platform: platform.into(),
        platform_case_id: platform_case_id.map(String::from).unwrap_or_default(),
        order_id: order_id.map(String::from).unwrap_or_default(),
        sub_order_id: sub_order_id.map(String::from).unwrap_or_default(),
        kind: kind_to_pb(kind) as i32,
        state: state_to_pb(state) as i32,
        fulfilment: fulfilment_to_pb(fulfilment) as i32,
        requested_refund_fen: requested_refund.get(),
        order_total_fen: order_total.map(Fen::get).unwrap_or_default(),
        refunded_fen: refunded.map(Fen::get).unwrap_or_default(),
        reason: reason.into(),
        buyer: buyer.into(),
        buyer_address: buyer_address.as_ref().map(address_to_pb),
        return_address: return_address.as_ref().map(address_to_pb),
        return_shipment: return_shipment.as_ref().map(shipment_to_pb),
        reship_shipment: reship_shipment.as_ref().map(shipment_to_pb),
        evidence: evidence
            .into_iter()
            .map(|e| pb::EvidenceRef {
                kind: e.kind.as_str().into(),
                uri: e.uri.into(),
                sha256: e.sha256.unwrap_or_default(),
                note: e.note.into(),
            })
            .collect(),
        deadlines: deadlines.into_iter().map(deadline_into_pb).collect(),
        next_deadline_time,
        platform_status: platform_status.map(|s| pb::PlatformStatus {
            code: s.code,
            text: s.text,
        }),
        platform_version: platform_version.unwrap_or_default(),
        platform_attributes,
        policy_version,
        create_time: Some(timestamp(created_at)),
        update_time: Some(timestamp(updated_at)),
        etag,
        order_state: order_state.map_or(pb::OrderState::Unspecified, order_state_to_pb) as i32,
        trade_success_time: trade_success_at.map(timestamp),
        platform_advance_fen: platform_advance.map(Fen::get).unwrap_or_default(),
        needs_refresh: needs_refresh.is_some(),
        refresh_topic: needs_refresh.map(|r| r.topic).unwrap_or_default(),
        signed_elsewhere_task: task.as_ref().map(|t| task_to_pb(state, t)),
        evidence_request: evidence_request
            .as_ref()
            .map(crate::evidence::request_to_pb),
        return_signed_time: return_signed_at.map(timestamp),
        signed_time: signed_at.map(timestamp),
        reason_category: reason_category.map_or(0, |r| reason_to_pb(r) as i32),
        return_shipping_payer: return_shipping_payer.map_or(0, |p| due_party_to_pb(p) as i32),
        merchant_initiated,
        return_plan: return_plan.map(|p| pb::ReturnPlan {
            address: p.address.into(),
            recipient: p.recipient.into(),
            phone: p.phone.into(),
            carrier: p.carrier.into(),
            freight: match p.freight {
                aftersales_domain::action::FreightPayment::Collect => pb::FreightPayment::Collect,
                aftersales_domain::action::FreightPayment::Prepaid => pb::FreightPayment::Prepaid,
            } as i32,
            carrier_requirement: p.carrier_requirement.into(),
            return_within_days: p.return_within_days as i32,
            goods_condition: p.goods_condition.into(),
            chat_record: p.chat_record.into(),
        }),
        appeal: appeal.map(|a| pb::Appeal {
            ground: crate::evidence::appeal_ground_to_pb(a.ground) as i32,
            appealed: a.appealed.into(),
            statement: a.statement.into(),
            evidence: a.evidence.iter().map(crate::evidence::item_to_pb).collect(),
        }),
        ruling: ruling.map(|r| pb::Ruling {
            in_favour_of: match r.in_favour_of {
                aftersales_domain::appeal::RulingFor::Buyer => pb::RulingFor::Buyer,
                aftersales_domain::appeal::RulingFor::Merchant => pb::RulingFor::Merchant,
            } as i32,
            note: r.note.into(),
            record_time: Some(timestamp(r.recorded_at)),
        }),
        satisfaction_checks: satisfaction_checks
            .iter()
            .map(satisfaction_check_to_pb)
            .collect(),
        deposit: deposit.map(|d| pb::DepositTracking {
            evaluate_time: Some(timestamp(d.evaluated_at)),
            step: i32::from(d.step),
            conditions_hold_time: d.conditions_hold_at.map(timestamp),
            unfreeze_time: d.unfreezes_at.map(timestamp),
            blockers: d.blockers,
        }),
    }
}

fn reason_to_pb(r: ReasonCategory) -> pb::ReasonCategory {
    match r {
        ReasonCategory::QualityProblem => pb::ReasonCategory::QualityProblem,
        ReasonCategory::NotAsDescribed => pb::ReasonCategory::NotAsDescribed,
        ReasonCategory::NoReason => pb::ReasonCategory::NoReason,
        ReasonCategory::NotReceived => pb::ReasonCategory::NotReceived,
        ReasonCategory::Other => pb::ReasonCategory::Other,
    }
}

fn order_state_to_pb(s: OrderState) -> pb::OrderState {
    match s {
        OrderState::AwaitingPayment => pb::OrderState::AwaitingPayment,
        OrderState::AwaitingShipment => pb::OrderState::AwaitingShipment,
        OrderState::AwaitingReceipt => pb::OrderState::AwaitingReceipt,
        OrderState::TradeSuccess => pb::OrderState::TradeSuccess,
    }
}

fn task_state_to_pb(s: TaskState) -> pb::SignedElsewhereTaskState {
    match s {
        TaskState::AwaitingReply => pb::SignedElsewhereTaskState::AwaitingReply,
        TaskState::AwaitingExecution => pb::SignedElsewhereTaskState::AwaitingExecution,
        TaskState::FollowUpPending => pb::SignedElsewhereTaskState::FollowUpPending,
        TaskState::PlatformIntervening => pb::SignedElsewhereTaskState::PlatformIntervening,
        TaskState::Completed => pb::SignedElsewhereTaskState::Completed,
    }
}

fn plan_to_pb(p: TaskPlan) -> pb::TaskReplyOption {
    match p {
        TaskPlan::UpdateTrackingNumber => pb::TaskReplyOption::UpdateTrackingNumber,
        TaskPlan::ReshipNow => pb::TaskReplyOption::ReshipNow,
        TaskPlan::PackageReceived => pb::TaskReplyOption::PackageReceived,
        TaskPlan::SignedSlipNow => pb::TaskReplyOption::SignedSlipNow,
        TaskPlan::RescheduleDelivery => pb::TaskReplyOption::RescheduleDelivery,
        TaskPlan::SlipOrReshipLater => pb::TaskReplyOption::SlipOrReshipLater,
        TaskPlan::ProactiveCompensation => pb::TaskReplyOption::ProactiveCompensation,
    }
}

fn outcome_to_pb(o: TaskOutcome) -> pb::TaskOutcome {
    match o {
        TaskOutcome::Refunded => pb::TaskOutcome::Refunded,
        TaskOutcome::DeliveryProved => pb::TaskOutcome::DeliveryProved,
        TaskOutcome::Reshipped => pb::TaskOutcome::Reshipped,
    }
}

fn task_to_pb(case_state: CaseState, t: &SignedElsewhereTask) -> pb::SignedElsewhereTask {
    let state = TaskState::of(case_state);
    pb::SignedElsewhereTask {
        delivery_address: t.delivery_address.clone(),
        signing_location: t.signing_location.clone(),
        prior_false_shipment_complaint: t.prior_false_shipment_complaint,
        check: t.check.as_ref().map(signing_check_to_pb),
        task_state: task_state_to_pb(state) as i32,
        task_state_text: state.platform_text().into(),
        plan: t.plan.map_or(pb::TaskReplyOption::Unspecified, plan_to_pb) as i32,
        outcome: t
            .outcome
            .map_or(pb::TaskOutcome::Unspecified, outcome_to_pb) as i32,
        complaint: t.complaint.as_ref().map(|k| pb::TaskComplaint {
            kind: match k.kind {
                ComplaintKind::FalseShipment => pb::ComplaintKind::FalseShipment,
                ComplaintKind::OnBuyersBehalf => pb::ComplaintKind::OnBuyersBehalf,
            } as i32,
            rule_id: k.rule.clone(),
            file_time: Some(timestamp(k.filed_at)),
            finish_time: k.finished_at.map(timestamp),
        }),
    }
}

fn place_to_pb(p: &ResolvedPlace) -> pb::ResolvedPlace {
    let division = |d: &Option<(String, String)>| {
        d.as_ref().map(|(code, name)| pb::Division {
            code: code.clone(),
            name: name.clone(),
        })
    };
    pb::ResolvedPlace {
        text: p.text.clone(),
        province: division(&p.province),
        city: division(&p.city),
        county: division(&p.county),
        notes: p.notes.clone(),
    }
}

pub fn signing_check_to_pb(c: &SigningCheck) -> pb::SignedElsewhereCheck {
    pb::SignedElsewhereCheck {
        verdict: match c.verdict {
            SigningVerdict::SignedElsewhere => pb::SigningVerdict::SignedElsewhere,
            SigningVerdict::SameDistrict => pb::SigningVerdict::SameDistrict,
            SigningVerdict::Undetermined => pb::SigningVerdict::Undetermined,
        } as i32,
        reason: c.reason.clone(),
        delivery: Some(place_to_pb(&c.delivery)),
        signing: Some(place_to_pb(&c.signing)),
        pickup_point: c.pickup_point,
        dataset: c.dataset.clone(),
    }
}

/// Longest address text accepted, in characters: real addresses are far shorter.
pub const MAX_ADDRESS_CHARS: usize = 500;

/// An address field of a task or a check: required, bounded.
pub fn address_text(v: &mut Violations, field: &str, raw: &str) -> String {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        v.add(field, "required");
    } else if trimmed.chars().count() > MAX_ADDRESS_CHARS {
        v.add(field, format!("longer than {MAX_ADDRESS_CHARS} characters"));
    }
    trimmed.to_string()
}

fn evidence_from_pb(v: &mut Violations, f: &str, e: &pb::EvidenceRef) -> EvidenceRef {
    if e.uri.trim().is_empty() {
        v.add(format!("{f}.uri"), "required");
    }
    if !e.sha256.is_empty()
        && (e.sha256.len() != 64 || !e.sha256.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        v.add(format!("{f}.sha256"), "must be 64 hex characters");
    }
    EvidenceRef {
        kind: v.text(&format!("{f}.kind"), &e.kind),
        uri: v.text(&format!("{f}.uri"), &e.uri),
        sha256: (!e.sha256.is_empty()).then(|| e.sha256.to_ascii_lowercase()),
        note: v.text(&format!("{f}.note"), &e.note),
    }
}

/// The reply and its proof (TB-24), or every field violation at once.
pub fn task_reply_from_pb(
    reply: Option<&pb::reply_signed_elsewhere_task_request::Reply>,
) -> Result<TaskReply, ApiError> {
    use pb::reply_signed_elsewhere_task_request::Reply;
    let mut v = Violations::default();
    let Some(reply) = reply else {
        return Err(ApiError::field(
            "reply",
            "required: one of update_tracking_number, reship_now, package_received, \
             signed_slip_now, reschedule_delivery, slip_or_reship_later, proactive_compensation",
        ));
    };
    let out = match reply {
        Reply::UpdateTrackingNumber(s) => {
            shipment_from_pb(&mut v, "update_tracking_number", Some(s))
                .map(|shipment| TaskReply::UpdateTrackingNumber { shipment })
        }
        Reply::ReshipNow(s) => shipment_from_pb(&mut v, "reship_now", Some(s))
            .map(|shipment| TaskReply::ReshipNow { shipment }),
        Reply::PackageReceived(e) => Some(TaskReply::PackageReceived {
            evidence: evidence_from_pb(&mut v, "package_received", e),
        }),
        Reply::SignedSlipNow(e) => Some(TaskReply::SignedSlipNow {
            evidence: evidence_from_pb(&mut v, "signed_slip_now", e),
        }),
        Reply::RescheduleDelivery(r) => {
            let agreed_at = match r.agreed_delivery_time.as_ref().map(from_timestamp) {
                Some(Some(t)) => Some(t),
                Some(None) => {
                    v.add(
                        "reschedule_delivery.agreed_delivery_time",
                        "not a valid time",
                    );
                    None
                }
                None => {
                    v.add("reschedule_delivery.agreed_delivery_time", "required");
                    None
                }
            };
            if r.note.trim().is_empty() {
                v.add("reschedule_delivery.note", "required: what was agreed");
            }
            let note = v.text("reschedule_delivery.note", &r.note);
            agreed_at.map(|agreed_at| TaskReply::RescheduleDelivery { agreed_at, note })
        }
        Reply::SlipOrReshipLater(_) => Some(TaskReply::SlipOrReshipLater),
        Reply::ProactiveCompensation(_) => Some(TaskReply::ProactiveCompensation),
    };
    v.into_result()?;
    out.ok_or_else(|| ApiError::Internal("reply validation let a missing field through".into()))
}

pub fn event_to_pb(e: &StoredEvent) -> pb::CaseEvent {
    let state =
        |s: Option<CaseState>| s.map(state_to_pb).unwrap_or(pb::CaseState::Unspecified) as i32;
    pb::CaseEvent {
        name: format!("cases/{}/events/{}", e.case_id, e.seq),
        case: case_name(&e.case_id),
        sequence: e.seq,
        r#type: e.kind.clone(),
        actor_kind: match e.actor.kind {
            DActorKind::Merchant => pb::ActorKind::Merchant,
            DActorKind::Buyer => pb::ActorKind::Buyer,
            DActorKind::Platform => pb::ActorKind::Platform,
            DActorKind::SystemTimer => pb::ActorKind::SystemTimer,
        } as i32,
        actor: e.actor.id.clone(),
        from_state: state(e.from_state),
        to_state: state(e.to_state),
        detail_json: e.detail.to_string(),
        occur_time: Some(timestamp(e.occurred_at)),
        recorded_by: e
            .recorded_by
            .as_ref()
            .map(|c| c.account.clone())
            .unwrap_or_default(),
        recorded_by_key: e
            .recorded_by
            .as_ref()
            .map(|c| format!("apiKeys/{}", c.key_id))
            .unwrap_or_default(),
    }
}

fn rule_to_pb(r: &DeadlineRule) -> pb::DeadlineRule {
    pb::DeadlineRule {
        key: r.key.clone(),
        rule_id: r.rule.clone(),
        state: state_to_pb(r.state) as i32,
        kinds: r.kinds.iter().map(|k| kind_to_pb(*k) as i32).collect(),
        fulfilments: r
            .fulfilment
            .iter()
            .map(|f| fulfilment_to_pb(*f) as i32)
            .collect(),
        due_party: due_party_to_pb(r.due_party) as i32,
        due_after: String::from(r.due_after),
        remind_before: r.remind_before.map(String::from).unwrap_or_default(),
        consequence: r.consequence.as_str().into(),
        assumed: r.assumed,
        note: r.note.clone(),
    }
}

pub fn policy_to_pb(p: &Policy) -> pb::Policy {
    pb::Policy {
        name: format!("platforms/{}/policies/{}", p.platform, p.version),
        platform: p.platform.to_string(),
        version: p.version.clone(),
        effective_time: Some(timestamp(p.effective_from)),
        source: p.source.clone(),
        after_sales_window_days: p
            .after_sales_window_days
            .map(|d| d as i32)
            .unwrap_or_default(),
        merchant_actions: p
            .merchant_actions
            .iter()
            .map(|a| a.as_str().to_string())
            .collect(),
        deadlines: p.deadlines.iter().map(rule_to_pb).collect(),
        evidence_scenarios: p
            .evidence
            .iter()
            .map(crate::evidence::scenario_to_pb)
            .collect(),
    }
}

/// Collects field violations while parsing a request.
#[derive(Default)]
pub struct Violations(Vec<(String, String)>);

impl Violations {
    pub fn add(&mut self, field: impl Into<String>, problem: impl Into<String>) {
        self.0.push((field.into(), problem.into()));
    }

    pub fn check<T, E: std::fmt::Display>(&mut self, field: &str, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e.to_string());
                None
            }
        }
    }

    pub fn text(&mut self, field: &str, raw: &str) -> BoundedText {
        self.check(field, BoundedText::parse(raw))
            .unwrap_or_default()
    }

    pub fn extend(&mut self, more: Vec<(String, String)>) {
        self.0.extend(more);
    }

    pub fn into_result(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::InvalidArgument(self.0))
        }
    }
}

fn optional_id<T, E: std::fmt::Display>(
    v: &mut Violations,
    field: &str,
    raw: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Option<T> {
    if raw.is_empty() {
        None
    } else {
        v.check(field, parse(raw))
    }
}

fn address_from_pb(v: &mut Violations, field: &str, a: &pb::Address) -> Address {
    Address {
        name: v.text(&format!("{field}.name"), &a.name),
        phone: v.text(&format!("{field}.phone"), &a.phone),
        province: v.text(&format!("{field}.province"), &a.province),
        city: v.text(&format!("{field}.city"), &a.city),
        district: v.text(&format!("{field}.district"), &a.district),
        detail: v.text(&format!("{field}.detail"), &a.detail),
    }
}

/// A shipment the merchant records: carrier and tracking number are required.
pub fn shipment_from_pb(
    v: &mut Violations,
    field: &str,
    s: Option<&pb::Shipment>,
) -> Option<Shipment> {
    let Some(s) = s else {
        v.add(field, "required");
        return None;
    };
    if s.carrier.trim().is_empty() {
        v.add(format!("{field}.carrier"), "required");
    }
    if s.tracking_number.trim().is_empty() {
        v.add(format!("{field}.tracking_number"), "required");
    }
    let shipped_at = match &s.ship_time {
        Some(t) => {
            let parsed = from_timestamp(t);
            if parsed.is_none() {
                v.add(format!("{field}.ship_time"), "not a valid timestamp");
            }
            parsed
        }
        None => None,
    };
    Some(Shipment {
        carrier: v.text(&format!("{field}.carrier"), &s.carrier),
        tracking_number: v.text(&format!("{field}.tracking_number"), &s.tracking_number),
        shipped_at,
    })
}

pub const MAX_EVIDENCE_ITEMS: usize = 50;

/// CreateCase: every field checked, all problems reported together.
pub fn draft_from_pb(c: Option<&pb::Case>) -> Result<CaseDraft, ApiError> {
    let Some(c) = c else {
        return Err(ApiError::field("case", "required"));
    };
    let mut v = Violations::default();
    let shop = v.check("case.shop", ShopId::parse(c.shop.as_str()));
    let platform = v.check("case.platform", PlatformCode::parse(c.platform.as_str()));
    let kind = match pb::CaseKind::try_from(c.kind).ok().and_then(kind_from_pb) {
        Some(k) => Some(k),
        None => {
            v.add("case.kind", "required: one of the CaseKind values");
            None
        }
    };
    let platform_case_id = optional_id(&mut v, "case.platform_case_id", &c.platform_case_id, |s| {
        PlatformCaseId::parse(s)
    });
    let order_id = optional_id(&mut v, "case.order_id", &c.order_id, |s| OrderId::parse(s));
    let sub_order_id = optional_id(&mut v, "case.sub_order_id", &c.sub_order_id, |s| {
        OrderId::parse(s)
    });
    let requested_refund = v.check(
        "case.requested_refund_fen",
        Fen::new(c.requested_refund_fen),
    );
    let order_total = if c.order_total_fen == 0 {
        None
    } else {
        v.check("case.order_total_fen", Fen::new(c.order_total_fen))
    };
    let fulfilment = match pb::Fulfilment::try_from(c.fulfilment) {
        Ok(f) => fulfilment_from_pb(f),
        Err(_) => {
            v.add("case.fulfilment", "not a Fulfilment value");
            Fulfilment::Unknown
        }
    };
    let reason = v.text("case.reason", &c.reason);
    let buyer = v.text("case.buyer", &c.buyer);
    let buyer_address = c
        .buyer_address
        .as_ref()
        .map(|a| address_from_pb(&mut v, "case.buyer_address", a));
    if c.evidence.len() > MAX_EVIDENCE_ITEMS {
        v.add(
            "case.evidence",
            format!("at most {MAX_EVIDENCE_ITEMS} items"),
        );
    }
    let evidence: Vec<EvidenceRef> = c
        .evidence
        .iter()
        .enumerate()
        .map(|(i, e)| evidence_from_pb(&mut v, &format!("case.evidence[{i}]"), e))
        .collect();
    let order_state = match pb::OrderState::try_from(c.order_state) {
        Ok(pb::OrderState::Unspecified) => None,
        Ok(s) => OrderState::ALL
            .into_iter()
            .find(|d| order_state_to_pb(*d) == s),
        Err(_) => {
            v.add("case.order_state", "not an OrderState value");
            None
        }
    };
    let trade_success_at = match c.trade_success_time.as_ref().map(from_timestamp) {
        Some(Some(t)) => Some(t),
        Some(None) => {
            v.add("case.trade_success_time", "not a valid time");
            None
        }
        None => None,
    };
    let task = c
        .signed_elsewhere_task
        .as_ref()
        .map(|t| SignedElsewhereTask {
            delivery_address: address_text(
                &mut v,
                "case.signed_elsewhere_task.delivery_address",
                &t.delivery_address,
            ),
            signing_location: address_text(
                &mut v,
                "case.signed_elsewhere_task.signing_location",
                &t.signing_location,
            ),
            prior_false_shipment_complaint: t.prior_false_shipment_complaint,
            ..SignedElsewhereTask::default()
        });
    let evidence_request = c
        .evidence_request
        .as_ref()
        .map(|r| crate::evidence::draft_from_pb(&mut v, r));
    let signed_at = match c.signed_time.as_ref().map(from_timestamp) {
        Some(Some(t)) => Some(t),
        Some(None) => {
            v.add("case.signed_time", "not a valid time");
            None
        }
        None => None,
    };
    let reason_category = match pb::ReasonCategory::try_from(c.reason_category) {
        Ok(pb::ReasonCategory::Unspecified) => None,
        Ok(r) => ReasonCategory::ALL
            .into_iter()
            .find(|d| reason_to_pb(*d) == r),
        Err(_) => {
            v.add("case.reason_category", "not a ReasonCategory value");
            None
        }
    };
    if let Some(k) = kind {
        if k == CaseKind::EvidenceRequest && evidence_request.is_none() {
            v.add(
                "case.evidence_request",
                "required for an evidence request: the scenario (GetPolicy lists them)",
            );
        }
        if k != CaseKind::EvidenceRequest && evidence_request.is_some() {
            v.add(
                "case.evidence_request",
                format!("only for EVIDENCE_REQUEST cases, not {k}"),
            );
        }
        if k.is_platform_task() && task.is_none() {
            v.add(
                "case.signed_elsewhere_task",
                "required for a signed-elsewhere task: delivery_address and signing_location (TB-20)",
            );
        }
        if !k.is_platform_task() && task.is_some() {
            v.add(
                "case.signed_elsewhere_task",
                format!("only for SIGNED_ELSEWHERE_TASK cases, not {k}"),
            );
        }
    }
    if let Some(k) = kind {
        if !k.is_shop_level() && order_id.is_none() && c.order_id.is_empty() {
            v.add("case.order_id", format!("required for a {k} case"));
        }
    }
    if let (Some(r), Some(t)) = (requested_refund, order_total) {
        if r > t {
            v.add("case.requested_refund_fen", "exceeds case.order_total_fen");
        }
    }
    v.into_result()?;
    // Every Option below is Some: a None would have added a violation above.
    match (shop, platform, kind, requested_refund) {
        (Some(shop), Some(platform), Some(kind), Some(requested_refund)) => Ok(CaseDraft {
            shop,
            platform,
            platform_case_id,
            order_id,
            sub_order_id,
            kind,
            fulfilment,
            requested_refund,
            order_total,
            reason,
            buyer,
            buyer_address,
            evidence,
            order_state,
            trade_success_at,
            task,
            evidence_request,
            signed_at,
            reason_category,
            // Appeals are filed with FileAppeal, which checks their grounds (AL-21, AL-22).
            appeal: None,
        }),
        _ => Err(ApiError::Internal(
            "draft validation let a missing field through".into(),
        )),
    }
}

/// None for UNSPECIFIED or an unknown number.
pub fn satisfaction_outcome_from_pb(
    outcome: pb::SatisfactionOutcome,
) -> Option<aftersales_domain::satisfaction::SatisfactionOutcome> {
    use aftersales_domain::satisfaction::SatisfactionOutcome as O;
    match outcome {
        pb::SatisfactionOutcome::Satisfied => Some(O::Satisfied),
        pb::SatisfactionOutcome::Dissatisfied => Some(O::Dissatisfied),
        pb::SatisfactionOutcome::Unreachable => Some(O::Unreachable),
        pb::SatisfactionOutcome::Unspecified => None,
    }
}

fn satisfaction_check_to_pb(
    check: &aftersales_domain::satisfaction::SatisfactionCheck,
) -> pb::SatisfactionCheck {
    use aftersales_domain::satisfaction::SatisfactionOutcome;
    pb::SatisfactionCheck {
        outcome: match check.outcome {
            SatisfactionOutcome::Satisfied => pb::SatisfactionOutcome::Satisfied,
            SatisfactionOutcome::Dissatisfied => pb::SatisfactionOutcome::Dissatisfied,
            SatisfactionOutcome::Unreachable => pb::SatisfactionOutcome::Unreachable,
        } as i32,
        note: check.note.as_str().into(),
        review_invited: check.review_invited,
        record_time: Some(timestamp(check.recorded_at)),
        recorded_by: check.recorded_by.clone(),
    }
}
