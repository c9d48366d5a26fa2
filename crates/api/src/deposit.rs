//! Deposit release (AL-10 … AL-13) between protobuf and the domain's pure evaluator.

use crate::convert::{from_timestamp, timestamp, Violations};
use crate::error::ApiError;
use aftersales_domain::deposit::{
    Blocker, Blocking, Complaint, DepositReleaseEvaluation, ServiceKind, ServiceSubscription,
    ShopDepositFacts, StepState, Trade, TradeStatus,
};
use aftersales_proto::v1 as pb;
use chrono::{DateTime, Utc};

/// Orders, services and complaints per evaluation: a shop's whole history fits; more is a
/// mistake in the caller.
pub const MAX_FACTS: usize = 100_000;

/// A timestamp field that must be present and valid, its problem recorded in `v`.
pub(crate) fn required_time(
    v: &mut Violations,
    field: &str,
    t: &Option<prost_types::Timestamp>,
) -> Option<DateTime<Utc>> {
    match t.as_ref().map(from_timestamp) {
        Some(Some(t)) => Some(t),
        Some(None) => {
            v.add(field, "not a valid time");
            None
        }
        None => {
            v.add(field, "required");
            None
        }
    }
}

fn optional_time(
    v: &mut Violations,
    field: &str,
    t: &Option<prost_types::Timestamp>,
) -> Option<DateTime<Utc>> {
    t.as_ref()?;
    required_time(v, field, t)
}

/// The facts of a request, or every field violation at once.
pub fn facts_from_pb(
    req: &pb::EvaluateDepositReleaseRequest,
) -> Result<ShopDepositFacts, ApiError> {
    let mut v = Violations::default();
    if req.services.len() + req.trades.len() + req.complaints.len() > MAX_FACTS {
        v.add(
            "trades",
            format!("at most {MAX_FACTS} services, trades and complaints in all"),
        );
    }
    let mut services = Vec::new();
    for (i, s) in req.services.iter().enumerate() {
        let f = |n: &str| format!("services[{i}].{n}");
        let kind = match pb::ServiceKind::try_from(s.kind) {
            Ok(pb::ServiceKind::BuyerProtection) => Some(ServiceKind::BuyerProtection),
            Ok(pb::ServiceKind::OfficialDirectDelivery) => {
                Some(ServiceKind::OfficialDirectDelivery)
            }
            Ok(pb::ServiceKind::ShippingTime) => Some(ServiceKind::ShippingTime),
            Ok(pb::ServiceKind::Other) => Some(ServiceKind::Other),
            Ok(pb::ServiceKind::Unspecified) | Err(_) => {
                v.add(f("kind"), "required: a ServiceKind");
                None
            }
        };
        if s.code.trim().is_empty() {
            v.add(f("code"), "required");
        }
        let opened_at = required_time(&mut v, &f("open_time"), &s.open_time);
        let closed_at = optional_time(&mut v, &f("close_time"), &s.close_time);
        if let (Some(kind), Some(opened_at)) = (kind, opened_at) {
            services.push(ServiceSubscription {
                code: s.code.trim().to_string(),
                name: s.name.trim().to_string(),
                kind,
                opened_at,
                closed_at,
            });
        }
    }
    let mut trades = Vec::new();
    for (i, t) in req.trades.iter().enumerate() {
        let f = |n: &str| format!("trades[{i}].{n}");
        if t.order_id.trim().is_empty() {
            v.add(f("order_id"), "required");
        }
        let placed_at = required_time(&mut v, &f("place_time"), &t.place_time);
        let status = match pb::ShopTradeStatus::try_from(t.status) {
            Ok(pb::ShopTradeStatus::InFlight) => Some(TradeStatus::InFlight),
            Ok(pb::ShopTradeStatus::Success) => {
                required_time(&mut v, &f("finish_time"), &t.finish_time)
                    .map(|at| TradeStatus::Success { at })
            }
            Ok(pb::ShopTradeStatus::Closed) => {
                required_time(&mut v, &f("finish_time"), &t.finish_time)
                    .map(|at| TradeStatus::Closed { at })
            }
            Ok(pb::ShopTradeStatus::Unspecified) | Err(_) => {
                v.add(f("status"), "required: IN_FLIGHT, SUCCESS or CLOSED");
                None
            }
        };
        if let (Some(placed_at), Some(status)) = (placed_at, status) {
            trades.push(Trade {
                order_id: t.order_id.trim().to_string(),
                placed_at,
                status,
                anxin_gou: t.anxin_gou,
            });
        }
    }
    let mut complaints = Vec::new();
    for (i, c) in req.complaints.iter().enumerate() {
        let f = |n: &str| format!("complaints[{i}].{n}");
        if c.case_id.trim().is_empty() {
            v.add(f("case_id"), "required");
        }
        let opened_at = required_time(&mut v, &f("open_time"), &c.open_time);
        let finished_at = optional_time(&mut v, &f("finish_time"), &c.finish_time);
        if let Some(opened_at) = opened_at {
            complaints.push(Complaint {
                case_id: c.case_id.trim().to_string(),
                order_id: Some(c.order_id.trim().to_string()).filter(|o| !o.is_empty()),
                opened_at,
                finished_at,
            });
        }
    }
    let anxin_gou_exit_requested_at = optional_time(
        &mut v,
        "anxin_gou_exit_request_time",
        &req.anxin_gou_exit_request_time,
    );
    v.into_result()?;
    Ok(ShopDepositFacts {
        services,
        trades,
        complaints,
        anxin_gou_exit_requested_at,
    })
}

fn blocker_to_pb(b: &Blocker) -> pb::DepositBlocker {
    let (kind, id) = match &b.what {
        Blocking::ProtectionNeverOpened => ("protection_never_opened", String::new()),
        Blocking::ServiceOpen { code, .. } => ("service_open", code.clone()),
        Blocking::ProtectionActive { .. } => ("protection_active", String::new()),
        Blocking::TradeInFlight { order_id } => ("trade_in_flight", order_id.clone()),
        Blocking::ComplaintOpen { case_id, .. } => ("complaint_open", case_id.clone()),
    };
    pb::DepositBlocker {
        rule_id: b.rule.as_str().into(),
        kind: kind.into(),
        id,
        until: None,
        explanation: b.explanation.clone(),
    }
}

pub fn evaluation_to_pb(e: &DepositReleaseEvaluation) -> pb::DepositReleaseEvaluation {
    let mut blockers: Vec<pb::DepositBlocker> =
        e.release.not_computable.iter().map(blocker_to_pb).collect();
    blockers.extend(
        e.conditions
            .in_acceptance_period
            .iter()
            .map(|p| pb::DepositBlocker {
                rule_id: p.rule.as_str().into(),
                kind: "acceptance_period".into(),
                id: p.order_id.clone(),
                until: Some(timestamp(p.ends_at)),
                explanation: p.explanation.clone(),
            }),
    );
    pb::DepositReleaseEvaluation {
        evaluate_time: Some(timestamp(e.evaluated_at)),
        conditions_hold_time: e.release.conditions_hold_at.map(timestamp),
        unfreeze_time: e.release.unfreezes_at.map(timestamp),
        unfrozen: e.release.unfrozen,
        steps: e
            .steps
            .iter()
            .map(|s| {
                let (state, time, reasons) = match &s.state {
                    StepState::Done { since } => ("done", Some(*since), Vec::new()),
                    StepState::Waiting { until, explanation } => {
                        ("waiting", Some(*until), vec![explanation.clone()])
                    }
                    StepState::Blocked { reasons } => (
                        "blocked",
                        None,
                        reasons.iter().map(|r| r.explanation.clone()).collect(),
                    ),
                    StepState::NotApplicable { reason } => {
                        ("not_applicable", None, vec![reason.clone()])
                    }
                };
                pb::DepositStep {
                    step: i32::from(s.step),
                    rule_id: s.rule.as_str().into(),
                    title: s.title.into(),
                    state: state.into(),
                    time: time.map(timestamp),
                    reasons,
                }
            })
            .collect(),
        blockers,
        anxin_gou_exit_complete_time: e
            .anxin_gou_exit
            .as_ref()
            .and_then(|x| x.exit_completes_at)
            .map(timestamp),
        assumptions: e
            .assumptions
            .iter()
            .map(|a| format!("{} {}: {}", a.rule.as_str(), a.code, a.explanation))
            .collect(),
        detail_json: serde_json::to_string(e).unwrap_or_default(),
    }
}
