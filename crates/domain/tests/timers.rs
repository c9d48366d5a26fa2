//! The deadline engine's pure core: reminders, expiries and their consequences, on a
//! controlled clock (every instant is passed in; nothing sleeps).

mod common;

use aftersales_domain::case::Fulfilment;
use aftersales_domain::evidence::EvidenceDraft;
use aftersales_domain::policy::Policy;
use aftersales_domain::task::ComplaintKind;
use aftersales_domain::time::parse_shanghai;
use aftersales_domain::timer::timer_actor;
use aftersales_domain::{
    Actor, Case, CaseDraft, CaseId, CaseKind, CaseState, DeadlineState, EventKind, Fen,
    MerchantAction, SignedElsewhereTask, TenantId, TimerSignal,
};
use chrono::{DateTime, Duration, Utc};

/// Rules of several platforms in one test policy, one per consequence. The real policies live
/// in crates/platforms/policies; these numbers follow the catalogue rules they cite.
const POLICY: &str = r#"
platform = "demo"
version = "demo-2024"
effective_from = "2024-01-01T00:00:00+08:00"
source = "test"
merchant_actions = ["agree", "reject", "record_return_shipment", "confirm_return_received", "record_reship", "refund", "escalate", "close"]

[[deadlines]]
key = "merchant_response_unshipped"
rule = "TB-04"
state = "awaiting_merchant"
kinds = ["refund_only"]
fulfilment = ["not_shipped"]
due_party = "merchant"
due_after = "2d"
remind_before = "12h"
consequence = "auto_refund"

[[deadlines]]
key = "merchant_response_signed"
rule = "TB-07"
state = "awaiting_merchant"
kinds = ["refund_only", "return_and_refund"]
fulfilment = ["received"]
due_party = "merchant"
due_after = "5d"
remind_before = "24h"
consequence = "auto_agree"

[[deadlines]]
key = "buyer_may_escalate"
rule = "TB-05"
state = "awaiting_buyer"
kinds = ["return_and_refund"]
due_party = "buyer"
due_after = "3d"
consequence = "buyer_may_escalate"

[[deadlines]]
key = "buyer_return_waybill"
rule = "TB-08"
state = "awaiting_buyer"
kinds = ["return_and_refund"]
due_party = "buyer"
due_after = "7d"
remind_before = "24h"
consequence = "auto_close"

[[deadlines]]
key = "merchant_confirm_return"
rule = "TB-10"
state = "return_in_transit"
kinds = ["return_and_refund"]
due_party = "merchant"
due_after = "10d"
remind_before = "24h"
consequence = "auto_refund"

[[deadlines]]
key = "signed_elsewhere_reply"
rule = "TB-21"
state = "awaiting_merchant"
kinds = ["signed_elsewhere_task"]
due_party = "merchant"
due_after = "24h"
remind_before = "4h"
consequence = "false_shipment_complaint"

[[deadlines]]
key = "signed_elsewhere_execute"
rule = "TB-25"
state = "awaiting_merchant_execution"
kinds = ["signed_elsewhere_task"]
due_party = "merchant"
due_after = "24h"
remind_before = "4h"
consequence = "platform_intervenes"

[[deadlines]]
key = "appliance_inspection"
rule = "PD-E8"
state = "awaiting_merchant"
kinds = ["evidence_request"]
due_party = "merchant"
due_after = "7d"
remind_before = "24h"
consequence = "refund_with_return_at_merchant_cost"

[[deadlines]]
key = "refund_processing"
rule = "PD-03"
state = "awaiting_merchant_execution"
kinds = ["compensation"]
due_party = "merchant"
due_after = "3wd"
remind_before = "4h"
consequence = "platform_intervenes"

# The evidence scenario the PD-E8 rule above is for.
[[evidence]]
scenario = "appliance_quality"
rule = "PD-E8"
title = "三包类大家电质量问题"
requirement = { proof = "inspection_report" }
"#;

fn policy() -> Policy {
    Policy::parse_toml(POLICY).expect("test policy parses")
}

fn at(beijing: &str) -> DateTime<Utc> {
    parse_shanghai(beijing).unwrap()
}

/// Opened at 2026-03-02 10:00 Beijing time (a Monday, no holiday near).
const OPENED: &str = "2026-03-02 10:00:00";

fn open(kind: CaseKind, fulfilment: Fulfilment) -> Case {
    open_at(kind, fulfilment, at(OPENED))
}

fn open_at(kind: CaseKind, fulfilment: Fulfilment, now: DateTime<Utc>) -> Case {
    let draft = CaseDraft {
        task: (kind == CaseKind::SignedElsewhereTask).then(|| SignedElsewhereTask {
            delivery_address: "杭州市余杭区某小区".into(),
            signing_location: "杭州市萧山区某驿站".into(),
            ..SignedElsewhereTask::default()
        }),
        evidence_request: (kind == CaseKind::EvidenceRequest).then(|| EvidenceDraft {
            scenario: "appliance_quality".into(),
            ..EvidenceDraft::default()
        }),
        ..common::draft("demo", kind, fulfilment)
    };
    Case::open(
        CaseId::parse("c-1").unwrap(),
        TenantId::parse("t-1").unwrap(),
        draft,
        &policy(),
        Actor::merchant("ops"),
        now,
        &[],
    )
    .unwrap()
    .case
}

fn with_state(mut case: Case, state: CaseState, now: DateTime<Utc>) -> Case {
    // Moves the case the way a platform record would, so the clocks of `state` start at `now`.
    let p = policy();
    let mut record_case = case.clone();
    record_case.state = state;
    case.deadlines
        .iter_mut()
        .for_each(|d| d.state = DeadlineState::Cancelled);
    case.state = state;
    case.deadlines
        .extend(p.deadlines_for(&record_case, now, None));
    case
}

fn fire(case: &Case, now: DateTime<Utc>) -> (Case, Vec<(EventKind, serde_json::Value)>) {
    let change = case
        .apply_due_timers(&policy(), now)
        .expect("something was due");
    let events = change
        .events
        .iter()
        .map(|e| {
            assert_eq!(e.actor, timer_actor());
            (e.kind, e.detail.clone())
        })
        .collect();
    (change.case, events)
}

fn deadline_state(case: &Case, key: &str) -> DeadlineState {
    case.deadlines
        .iter()
        .rev()
        .find(|d| d.key == key)
        .unwrap_or_else(|| panic!("no deadline {key}"))
        .state
}

#[test]
fn nothing_is_due_before_the_reminder_point() {
    let case = open(CaseKind::RefundOnly, Fulfilment::Received);
    let remind = at("2026-03-06 10:00:00");
    assert!(case
        .apply_due_timers(&policy(), remind - Duration::milliseconds(1))
        .is_none());
    assert_eq!(case.next_timer_at(), Some(remind));
}

#[test]
fn x02_tb23_reminder_comes_once_before_the_expiry() {
    let case = open(CaseKind::RefundOnly, Fulfilment::Received);
    let (reminded, events) = fire(&case, at("2026-03-06 10:00:00"));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, EventKind::DeadlineReminder);
    assert_eq!(events[0].1["rule"], "TB-07");
    assert_eq!(events[0].1["late_by_ms"], 0);
    assert_eq!(reminded.state, CaseState::AwaitingMerchant);
    assert_eq!(reminded.version, case.version + 1);
    // Sent once: the same instant again, or later before the due time, has nothing to do.
    assert!(reminded
        .apply_due_timers(&policy(), at("2026-03-07 09:59:59"))
        .is_none());
    assert_eq!(reminded.next_timer_at(), Some(at("2026-03-07 10:00:00")));
}

#[test]
fn tb07_tb02_unanswered_refund_is_agreed_and_paid_when_it_times_out() {
    let case = open(CaseKind::RefundOnly, Fulfilment::Received);
    let (after, events) = fire(&case, at("2026-03-07 10:00:00"));
    assert_eq!(
        events.len(),
        1,
        "expiry only: a reminder is moot once expired"
    );
    assert_eq!(events[0].0, EventKind::DeadlineExpired);
    assert_eq!(events[0].1["consequence"], "auto_agree");
    assert_eq!(events[0].1["consequence_applied"], true);
    assert_eq!(after.state, CaseState::Refunded);
    assert_eq!(after.refunded, Some(Fen::new(12_345).unwrap()));
    assert_eq!(
        deadline_state(&after, "merchant_response_signed"),
        DeadlineState::Fired
    );
    assert!(after.next_timer_at().is_none());
}

#[test]
fn tb04_unshipped_refund_is_refunded_automatically_after_2_days() {
    let case = open(CaseKind::RefundOnly, Fulfilment::NotShipped);
    let (after, events) = fire(&case, at("2026-03-04 10:00:00"));
    assert_eq!(events[0].1["rule"], "TB-04");
    assert_eq!(after.state, CaseState::Refunded);
    assert_eq!(after.refunded, Some(case.requested_refund));
}

#[test]
fn acting_before_the_deadline_marks_it_met_and_nothing_fires() {
    let case = open(CaseKind::RefundOnly, Fulfilment::Received);
    // The merchant agrees one millisecond before the deadline.
    let acted = case
        .apply_merchant_action(
            &MerchantAction::Agree {
                stock_check: None,
                return_plan: None,
            },
            &policy(),
            Actor::merchant("ops"),
            at("2026-03-07 09:59:59") + Duration::milliseconds(999),
        )
        .unwrap()
        .case;
    assert_eq!(
        deadline_state(&acted, "merchant_response_signed"),
        DeadlineState::Met
    );
    assert!(acted
        .apply_due_timers(&policy(), at("2026-03-20 00:00:00"))
        .is_none());
}

#[test]
fn tb07_then_tb05_tb08_a_long_outage_fires_the_whole_chain_from_the_due_times() {
    // Return and refund, signed for; nobody acts and the service was down for 20 days.
    let case = open(CaseKind::ReturnAndRefund, Fulfilment::Received);
    let now = at("2026-03-27 10:00:00");
    let (after, events) = fire(&case, now);
    let names: Vec<_> = events
        .iter()
        .map(|(k, d)| format!("{}:{}", k.as_str(), d["rule"].as_str().unwrap()))
        .collect();
    // TB-07 times out 03-07 (auto-agree: the buyer must now ship the return); TB-05 opens
    // 03-10 and TB-08 lapses 03-14, counted from the agreement, not from the late recording.
    assert_eq!(
        names,
        [
            "deadline_expired:TB-07",
            "deadline_expired:TB-05",
            "deadline_expired:TB-08"
        ]
    );
    assert_eq!(events[0].1["late_by_ms"], 20 * 24 * 3_600_000_i64);
    assert_eq!(
        events[2].1["due_at"],
        at("2026-03-14 10:00:00").to_rfc3339()
    );
    assert_eq!(
        events[1].1["consequence_applied"], false,
        "TB-05 is informational"
    );
    assert_eq!(after.state, CaseState::Expired);
    assert_eq!(after.version, case.version + 1, "one change, one version");
}

#[test]
fn tb10_merchant_not_confirming_the_return_refunds_the_buyer() {
    let case = with_state(
        open(CaseKind::ReturnAndRefund, Fulfilment::Received),
        CaseState::ReturnInTransit,
        at(OPENED),
    );
    let (after, events) = fire(&case, at("2026-03-12 10:00:00"));
    assert_eq!(events.last().unwrap().1["rule"], "TB-10");
    assert_eq!(after.state, CaseState::Refunded);
    assert_eq!(after.refunded, Some(case.requested_refund));
}

#[test]
fn tb08_buyer_not_shipping_the_return_lets_the_request_lapse() {
    let case = with_state(
        open(CaseKind::ReturnAndRefund, Fulfilment::Received),
        CaseState::AwaitingBuyer,
        at(OPENED),
    );
    let (after, _) = fire(&case, at("2026-03-09 10:00:00"));
    assert_eq!(after.state, CaseState::Expired);
    assert_eq!(after.refunded, None);
}

#[test]
fn tb05_escalation_window_opening_does_not_move_the_case() {
    let case = with_state(
        open(CaseKind::ReturnAndRefund, Fulfilment::Received),
        CaseState::AwaitingBuyer,
        at(OPENED),
    );
    let (after, events) = fire(&case, at("2026-03-05 10:00:00"));
    assert_eq!(
        events.len(),
        1,
        "TB-05 expires; the TB-08 reminder is due 03-08"
    );
    let (kind, detail) = &events[0];
    assert_eq!(*kind, EventKind::DeadlineExpired);
    assert_eq!(detail["consequence"], "buyer_may_escalate");
    assert_eq!(after.state, CaseState::AwaitingBuyer);
    assert_eq!(
        deadline_state(&after, "buyer_return_waybill"),
        DeadlineState::Active
    );
}

#[test]
fn tb21_tb29_unanswered_signed_elsewhere_task_becomes_a_false_shipment_complaint() {
    let case = open(CaseKind::SignedElsewhereTask, Fulfilment::Received);
    // TB-23: the reminder 4 hours before the 24-hour reply window ends.
    let (reminded, events) = fire(&case, at("2026-03-03 06:00:00"));
    assert_eq!(events[0].0, EventKind::DeadlineReminder);
    assert_eq!(events[0].1["rule"], "TB-21");
    let (after, events) = fire(&reminded, at("2026-03-03 10:00:00"));
    assert_eq!(events[0].1["consequence"], "false_shipment_complaint");
    assert_eq!(events[0].1["complaint"], "filed");
    assert_eq!(after.state, CaseState::PlatformIntervening);
    let task = after.task.as_ref().unwrap();
    let complaint = task
        .complaint
        .as_ref()
        .expect("TB-29: the platform files a complaint");
    assert_eq!(complaint.kind, ComplaintKind::FalseShipment);
    assert!(
        task.prior_false_shipment_complaint,
        "TB-29: the buyer cannot file another one for this sub-order"
    );
}

#[test]
fn tb29_no_second_false_shipment_complaint_when_the_buyer_already_filed_one() {
    let mut case = open(CaseKind::SignedElsewhereTask, Fulfilment::Received);
    case.task.as_mut().unwrap().prior_false_shipment_complaint = true;
    let (after, events) = fire(&case, at("2026-03-03 10:00:00"));
    let expired = events
        .iter()
        .find(|(k, _)| *k == EventKind::DeadlineExpired)
        .unwrap();
    assert_eq!(expired.1["complaint"], "not_filed_duplicate");
    assert_eq!(after.state, CaseState::PlatformIntervening);
    assert!(after.task.as_ref().unwrap().complaint.is_none());
}

#[test]
fn tb25_plan_not_carried_out_in_24h_brings_platform_intervention() {
    let case = with_state(
        open(CaseKind::SignedElsewhereTask, Fulfilment::Received),
        CaseState::AwaitingMerchantExecution,
        at(OPENED),
    );
    let (after, events) = fire(&case, at("2026-03-03 10:00:00"));
    assert_eq!(events[0].1["rule"], "TB-25");
    assert_eq!(after.state, CaseState::PlatformIntervening);
    let complaint = after.task.as_ref().unwrap().complaint.as_ref().unwrap();
    assert_eq!(
        (complaint.kind, complaint.rule.as_str()),
        (ComplaintKind::OnBuyersBehalf, "TB-25")
    );
}

#[test]
fn pd_e8_missed_inspection_refunds_with_return_at_merchant_cost() {
    let case = open(CaseKind::EvidenceRequest, Fulfilment::Received);
    let (after, events) = fire(&case, at("2026-03-09 10:00:00"));
    assert_eq!(
        events[0].1["consequence"],
        "refund_with_return_at_merchant_cost"
    );
    assert_eq!(after.state, CaseState::AwaitingBuyer);
}

#[test]
fn pd03_working_days_skip_the_2026_spring_festival() {
    // Friday 2026-02-13 15:00: 3 working days are Sat 02-14 (make-up day), Tue 02-24 and
    // Wed 02-25; 02-15..02-23 are the holiday.
    let case = with_state(
        open_at(
            CaseKind::Compensation,
            Fulfilment::Received,
            at("2026-02-13 15:00:00"),
        ),
        CaseState::AwaitingMerchantExecution,
        at("2026-02-13 15:00:00"),
    );
    let d = case.active_deadlines().next().unwrap();
    assert_eq!(d.rule_id, "PD-03");
    assert_eq!(d.due_at, at("2026-02-25 15:00:00"));
    assert!(!d.assumed);
    assert!(case
        .apply_due_timers(&policy(), at("2026-02-25 10:59:59"))
        .is_none());
    let (after, _) = fire(&case, at("2026-02-25 15:00:00"));
    assert_eq!(after.state, CaseState::PlatformIntervening);
}

#[test]
fn pd03_working_days_skip_the_2026_national_day_and_count_its_make_up_saturday() {
    // Tuesday 2026-09-29 09:00: Wed 09-30 is 1; 10-01..10-07 off; Thu 10-08 is 2, Fri 10-09
    // is 3 (and Sat 10-10 would be 4, a make-up day).
    let start = at("2026-09-29 09:00:00");
    let case = with_state(
        open_at(CaseKind::Compensation, Fulfilment::Received, start),
        CaseState::AwaitingMerchantExecution,
        start,
    );
    let d = case.active_deadlines().next().unwrap();
    assert_eq!(d.due_at, at("2026-10-09 09:00:00"));
}

#[test]
fn pd03_past_the_calendar_only_weekends_are_skipped_and_the_deadline_says_it_is_assumed() {
    // Thursday 2026-12-31: the vendored calendar ends with 2026, so 2027's holidays are not
    // known yet; Fri 01-01 is counted (it will be a holiday), then Mon 01-04, Tue 01-05.
    let start = at("2026-12-31 09:00:00");
    let case = with_state(
        open_at(CaseKind::Compensation, Fulfilment::Received, start),
        CaseState::AwaitingMerchantExecution,
        start,
    );
    let d = case.active_deadlines().next().unwrap();
    assert_eq!(d.due_at, at("2027-01-05 09:00:00"));
    assert!(d.assumed);
}

#[test]
fn projection_shows_what_happens_if_nobody_acts() {
    let case = open(CaseKind::ReturnAndRefund, Fulfilment::Received);
    let steps = case.project_timeline(&policy(), at(OPENED), 20);
    let seen: Vec<_> = steps
        .iter()
        .map(|s| {
            (
                s.at.with_timezone(&aftersales_domain::time::PLATFORM_TZ)
                    .format("%m-%d %H:%M")
                    .to_string(),
                s.signal,
                s.deadline.rule_id.as_str(),
                s.to_state,
            )
        })
        .collect();
    use CaseState::*;
    use TimerSignal::*;
    assert_eq!(
        seen,
        [
            (
                "03-06 10:00".to_string(),
                Reminder,
                "TB-07",
                AwaitingMerchant
            ),
            ("03-07 10:00".to_string(), Expiry, "TB-07", AwaitingBuyer),
            ("03-10 10:00".to_string(), Expiry, "TB-05", AwaitingBuyer),
            ("03-13 10:00".to_string(), Reminder, "TB-08", AwaitingBuyer),
            ("03-14 10:00".to_string(), Expiry, "TB-08", Expired),
        ]
    );
    assert!(steps[1].consequence_applied);
    assert!(!steps[2].consequence_applied);
    // The projection is a view: the case itself is untouched.
    assert_eq!(case.state, AwaitingMerchant);
    assert_eq!(case.project_timeline(&policy(), at(OPENED), 2).len(), 2);
}

#[test]
fn projection_of_an_overdue_deadline_starts_now() {
    let case = open(CaseKind::RefundOnly, Fulfilment::Received);
    let now = at("2026-03-08 00:00:00");
    let steps = case.project_timeline(&policy(), now, 10);
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].at, now);
    assert_eq!(steps[0].to_state, CaseState::Refunded);
}

#[test]
fn policy_working_day_durations_parse_and_print() {
    let p = policy();
    let rule = p.deadlines.iter().find(|r| r.rule == "PD-03").unwrap();
    assert_eq!(String::from(rule.due_after), "3wd");
    for bad in ["0wd", "-1wd", "1.5wd", "wd"] {
        let text = POLICY.replace("\"3wd\"", &format!("{bad:?}"));
        assert!(Policy::parse_toml(&text).is_err(), "{bad} must be refused");
    }
}
