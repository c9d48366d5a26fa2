//! X-03: once a case is resolved the merchant may check on the buyer's satisfaction
//! (售后回访); the check is recorded and changes nothing else about the case.

mod common;

use aftersales_domain::case::Fulfilment;
use aftersales_domain::policy::Policy;
use aftersales_domain::satisfaction::{
    SatisfactionOutcome, SatisfactionReport, SatisfactionStatus, MAX_SATISFACTION_CHECKS,
};
use aftersales_domain::text::BoundedText;
use aftersales_domain::time::parse_shanghai;
use aftersales_domain::{
    ActionKind, Actor, Case, CaseId, CaseKind, CaseState, DomainError, EventKind, MerchantAction,
    TenantId,
};
use chrono::{DateTime, Duration, Utc};

fn policy_allowing(actions: &str) -> Policy {
    Policy::parse_toml(&format!(
        r#"
platform = "demo"
version = "demo-2024"
effective_from = "2024-01-01T00:00:00+08:00"
source = "test"
merchant_actions = [{actions}]

[[deadlines]]
key = "merchant_response_signed"
rule = "TB-07"
state = "awaiting_merchant"
kinds = ["refund_only"]
due_party = "merchant"
due_after = "5d"
consequence = "auto_agree"
"#
    ))
    .expect("test policy parses")
}

fn policy() -> Policy {
    policy_allowing(r#""agree", "close", "record_satisfaction_check""#)
}

fn at(beijing: &str) -> DateTime<Utc> {
    parse_shanghai(beijing).unwrap()
}

fn open() -> Case {
    let draft = common::draft("demo", CaseKind::RefundOnly, Fulfilment::Received);
    Case::open(
        CaseId::parse("c-1").unwrap(),
        TenantId::parse("t-1").unwrap(),
        draft,
        &policy(),
        Actor::merchant("ops"),
        at("2026-03-02 10:00:00"),
        &[],
    )
    .unwrap()
    .case
}

fn act(case: &Case, action: MerchantAction, now: DateTime<Utc>) -> Result<Case, DomainError> {
    case.apply_merchant_action(&action, &policy(), Actor::merchant("ops"), now)
        .map(|c| c.case)
}

fn refunded() -> Case {
    let agree = MerchantAction::Agree {
        stock_check: None,
        return_plan: None,
    };
    let case = act(&open(), agree, at("2026-03-02 11:00:00")).unwrap();
    assert_eq!(case.state, CaseState::Refunded);
    case
}

fn check(outcome: SatisfactionOutcome, note: &str) -> MerchantAction {
    MerchantAction::RecordSatisfactionCheck(SatisfactionReport {
        outcome,
        note: BoundedText::parse(note).unwrap(),
        review_invited: true,
    })
}

#[test]
fn x03_an_open_case_has_no_satisfaction_to_check() {
    let case = open();
    assert_eq!(case.satisfaction_status(), None);
    let err = act(
        &case,
        check(SatisfactionOutcome::Satisfied, ""),
        at("2026-03-02 12:00:00"),
    )
    .unwrap_err();
    assert_eq!(
        err,
        DomainError::ActionNotAllowedInState {
            action: ActionKind::RecordSatisfactionCheck,
            state: CaseState::AwaitingMerchant,
        }
    );
}

#[test]
fn x03_a_check_is_recorded_and_the_case_stays_resolved() {
    let case = refunded();
    assert_eq!(
        case.satisfaction_status(),
        Some(SatisfactionStatus::Unchecked)
    );
    let now = at("2026-03-09 10:00:00");
    let change = case
        .apply_merchant_action(
            &check(SatisfactionOutcome::Satisfied, "happy with the refund"),
            &policy(),
            Actor::merchant("agent-7"),
            now,
        )
        .unwrap();
    let after = &change.case;
    assert_eq!(after.state, CaseState::Refunded);
    assert_eq!(after.refunded, case.refunded);
    assert_eq!(after.deadlines, case.deadlines, "no clock starts or stops");
    assert_eq!(after.next_deadline_at(), None);
    assert_eq!((after.version, after.updated_at), (case.version + 1, now));
    let [recorded] = after.satisfaction_checks.as_slice() else {
        panic!("one check: {:?}", after.satisfaction_checks)
    };
    assert_eq!(recorded.outcome, SatisfactionOutcome::Satisfied);
    assert_eq!(recorded.note.as_str(), "happy with the refund");
    assert!(recorded.review_invited);
    assert_eq!(
        (recorded.recorded_at, recorded.recorded_by.as_str()),
        (now, "agent-7")
    );
    assert_eq!(
        after.satisfaction_status(),
        Some(SatisfactionStatus::Checked(SatisfactionOutcome::Satisfied))
    );

    // X-01: the record says who asked, what the buyer said and under which rule.
    let [event] = change.events.as_slice() else {
        panic!("one event: {:?}", change.events)
    };
    assert_eq!(
        event.kind,
        EventKind::MerchantAction(ActionKind::RecordSatisfactionCheck)
    );
    assert_eq!(
        (event.from_state, event.to_state),
        (Some(CaseState::Refunded), Some(CaseState::Refunded))
    );
    assert_eq!(event.detail["rule"], "X-03");
    assert_eq!(event.detail["outcome"], "satisfied");
    assert_eq!(event.detail["review_invited"], true);
    assert_eq!(event.detail["check"], 1);
}

#[test]
fn x03_the_latest_check_decides_the_status() {
    let first = act(
        &refunded(),
        check(SatisfactionOutcome::Unreachable, ""),
        at("2026-03-09 10:00:00"),
    )
    .unwrap();
    assert_eq!(
        first.satisfaction_status(),
        Some(SatisfactionStatus::Checked(
            SatisfactionOutcome::Unreachable
        ))
    );
    let second = act(
        &first,
        check(
            SatisfactionOutcome::Dissatisfied,
            "the refund was short by ¥5",
        ),
        at("2026-03-10 10:00:00"),
    )
    .unwrap();
    assert_eq!(second.satisfaction_checks.len(), 2);
    assert_eq!(
        second.satisfaction_status(),
        Some(SatisfactionStatus::Checked(
            SatisfactionOutcome::Dissatisfied
        ))
    );
}

#[test]
fn x03_a_dissatisfied_buyer_needs_a_note() {
    let err = act(
        &refunded(),
        check(SatisfactionOutcome::Dissatisfied, "   "),
        at("2026-03-09 10:00:00"),
    )
    .unwrap_err();
    assert!(
        matches!(err, DomainError::InvalidField { field: "note", .. }),
        "{err:?}"
    );
}

#[test]
fn x03_a_case_keeps_a_bounded_number_of_checks() {
    let mut case = refunded();
    let mut now = at("2026-03-09 10:00:00");
    for _ in 0..MAX_SATISFACTION_CHECKS {
        case = act(&case, check(SatisfactionOutcome::Unreachable, ""), now).unwrap();
        now += Duration::days(1);
    }
    let err = act(&case, check(SatisfactionOutcome::Satisfied, ""), now).unwrap_err();
    assert_eq!(
        err,
        DomainError::SatisfactionCheckLimitReached {
            limit: MAX_SATISFACTION_CHECKS
        }
    );
    assert_eq!(err.reason(), "SATISFACTION_CHECK_LIMIT_REACHED");
    assert_eq!(err.rule_id(), Some("X-03"));
}

#[test]
fn x03_every_resolved_state_may_be_checked() {
    for state in CaseState::ALL.into_iter().filter(|s| s.is_resolved()) {
        let mut case = refunded();
        case.state = state;
        let after = act(
            &case,
            check(SatisfactionOutcome::Satisfied, ""),
            at("2026-03-09 10:00:00"),
        )
        .unwrap_or_else(|e| panic!("{state}: {e}"));
        assert_eq!(after.state, state);
    }
}

#[test]
fn x03_a_policy_that_does_not_list_the_check_refuses_it() {
    let case = refunded();
    let err = case
        .apply_merchant_action(
            &check(SatisfactionOutcome::Satisfied, ""),
            &policy_allowing(r#""agree""#),
            Actor::merchant("ops"),
            at("2026-03-09 10:00:00"),
        )
        .unwrap_err();
    assert!(
        matches!(err, DomainError::ActionNotSupportedByPlatform { .. }),
        "{err:?}"
    );
}

#[test]
fn x03_checks_survive_the_stored_body_and_an_old_body_has_none() {
    let case = act(
        &refunded(),
        check(SatisfactionOutcome::Satisfied, "ok"),
        at("2026-03-09 10:00:00"),
    )
    .unwrap();
    let body = serde_json::to_string(&case).unwrap();
    let back: Case = serde_json::from_str(&body).unwrap();
    assert_eq!(back.satisfaction_checks, case.satisfaction_checks);

    // A body stored before X-03 was built has no such field.
    let mut old: serde_json::Value = serde_json::from_str(&body).unwrap();
    old.as_object_mut().unwrap().remove("satisfaction_checks");
    let back: Case = serde_json::from_value(old).unwrap();
    assert!(back.satisfaction_checks.is_empty());
}
