//! 1688 buyer-protection deposit release (AL-10 … AL-13): each rule alone, the counting of
//! days in Beijing time, and a shop's realistic history before and after its blockers are
//! resolved, checked against dates computed by hand.

use aftersales_domain::deposit::{
    evaluate_deposit_release, Blocker, Blocking, Complaint, ComplaintLink, DepositFactsError,
    DepositReleaseEvaluation, Finish, ProtectionPeriod, ProtectionState, Rule, ServiceKind,
    ServiceNote, ServiceSubscription, ShopDepositFacts, StepState, Trade, TradeStatus, ASSUMPTIONS,
};
use aftersales_domain::time::parse_shanghai;
use chrono::{DateTime, Duration, NaiveDate, Utc};

// ---- Fixtures ------------------------------------------------------------------------------

fn at(beijing: &str) -> DateTime<Utc> {
    parse_shanghai(beijing).unwrap()
}

fn date(raw: &str) -> NaiveDate {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap()
}

fn service(
    kind: ServiceKind,
    code: &str,
    name: &str,
    opened: &str,
    closed: Option<&str>,
) -> ServiceSubscription {
    ServiceSubscription {
        code: code.into(),
        name: name.into(),
        kind,
        opened_at: at(opened),
        closed_at: closed.map(at),
    }
}

fn protection(opened: &str, closed: Option<&str>) -> ServiceSubscription {
    service(
        ServiceKind::BuyerProtection,
        "buyer_protection",
        "买家保障",
        opened,
        closed,
    )
}

fn direct_delivery(opened: &str, closed: Option<&str>) -> ServiceSubscription {
    service(
        ServiceKind::OfficialDirectDelivery,
        "official_direct",
        "官方直送",
        opened,
        closed,
    )
}

fn shipping_48h(opened: &str) -> ServiceSubscription {
    service(
        ServiceKind::ShippingTime,
        "ship_48h",
        "48小时发货",
        opened,
        None,
    )
}

fn success(beijing: &str) -> TradeStatus {
    TradeStatus::Success { at: at(beijing) }
}

fn closed(beijing: &str) -> TradeStatus {
    TradeStatus::Closed { at: at(beijing) }
}

fn trade(order_id: &str, placed: &str, status: TradeStatus) -> Trade {
    Trade {
        order_id: order_id.into(),
        placed_at: at(placed),
        status,
        anxin_gou: false,
    }
}

fn anxin(order_id: &str, placed: &str, status: TradeStatus) -> Trade {
    Trade {
        anxin_gou: true,
        ..trade(order_id, placed, status)
    }
}

fn complaint(case_id: &str, order: Option<&str>, opened: &str, done: Option<&str>) -> Complaint {
    Complaint {
        case_id: case_id.into(),
        order_id: order.map(Into::into),
        opened_at: at(opened),
        finished_at: done.map(at),
    }
}

fn facts(services: Vec<ServiceSubscription>, trades: Vec<Trade>) -> ShopDepositFacts {
    ShopDepositFacts {
        services,
        trades,
        ..ShopDepositFacts::default()
    }
}

fn eval(facts: &ShopDepositFacts, now: &str) -> DepositReleaseEvaluation {
    evaluate_deposit_release(facts, &rules(), at(now)).expect("consistent facts")
}

fn step(e: &DepositReleaseEvaluation, n: u8) -> &StepState {
    &e.steps[usize::from(n) - 1].state
}

fn blocker_kinds(reasons: &[Blocker]) -> Vec<(Rule, String)> {
    reasons
        .iter()
        .map(|b| {
            let what = match &b.what {
                Blocking::ProtectionNeverOpened => "never_opened".to_string(),
                Blocking::ServiceOpen { code, .. } => format!("service {code}"),
                Blocking::ProtectionActive { .. } => "protection_active".to_string(),
                Blocking::TradeInFlight { order_id } => format!("trade {order_id}"),
                Blocking::ComplaintOpen { case_id, .. } => format!("complaint {case_id}"),
            };
            (b.rule, what)
        })
        .collect()
}

fn blocked(state: &StepState) -> Vec<(Rule, String)> {
    match state {
        StepState::Blocked { reasons } => blocker_kinds(reasons),
        other => panic!("expected blocked, got {other:?}"),
    }
}

fn done_since(state: &StepState) -> DateTime<Utc> {
    match state {
        StepState::Done { since } => *since,
        other => panic!("expected done, got {other:?}"),
    }
}

fn waiting_until(state: &StepState) -> DateTime<Utc> {
    match state {
        StepState::Waiting { until, .. } => *until,
        other => panic!("expected waiting, got {other:?}"),
    }
}

fn s(x: &str) -> String {
    x.to_string()
}

// ---- AL-10: close the protection and every closable sub-service ----------------------------

#[test]
fn al_10_open_services_block_and_shipping_time_sub_services_are_ignored() {
    let f = facts(
        vec![
            protection("2025-03-01 09:00:00", None),
            direct_delivery("2025-03-01 09:05:00", None),
            shipping_48h("2025-03-02 10:00:00"),
            service(
                ServiceKind::Other,
                "fast_refund",
                "极速退款",
                "2025-04-01 10:00:00",
                Some("2025-05-01 10:00:00"),
            ),
        ],
        vec![],
    );
    let e = eval(&f, "2026-04-01 12:00:00");

    let codes = |notes: &[ServiceNote]| notes.iter().map(|n| n.code.clone()).collect::<Vec<_>>();
    assert_eq!(
        codes(&e.services.blocking),
        [s("buyer_protection"), s("official_direct")]
    );
    assert_eq!(codes(&e.services.ignored), [s("ship_48h")]);
    assert_eq!(codes(&e.services.closed), [s("fast_refund")]);
    assert!(e.services.ignored[0].explanation.contains("cannot be"));
    assert!(e
        .services
        .blocking
        .iter()
        .all(|n| n.rule == Rule::Al10 && n.explanation.contains("still open")));
    assert_eq!(e.services.all_closed_at, None);
    assert_eq!(
        e.services.protection,
        ProtectionState::Active {
            opened_at: at("2025-03-01 09:00:00")
        }
    );

    assert_eq!(
        blocked(step(&e, 1)),
        [
            (Rule::Al10, s("service buyer_protection")),
            (Rule::Al10, s("service official_direct")),
        ]
    );
    // While the protection is active, the orders that count are not known yet.
    assert_eq!(blocked(step(&e, 2)), [(Rule::Al11, s("protection_active"))]);
    assert_eq!(e.release.unfreezes_at, None);
    assert_eq!(
        blocker_kinds(&e.release.not_computable),
        [
            (Rule::Al10, s("service buyer_protection")),
            (Rule::Al10, s("service official_direct")),
        ]
    );
}

#[test]
fn al_10_a_shipping_time_sub_service_alone_does_not_block() {
    // Protection closed 2026-03-20 18:00; only the 48h shipping sub-service is still open.
    let f = facts(
        vec![
            protection("2025-03-01 09:00:00", Some("2026-03-20 18:00:00")),
            shipping_48h("2025-03-02 10:00:00"),
        ],
        vec![],
    );
    let e = eval(&f, "2026-04-01 12:00:00");
    assert!(e.services.blocking.is_empty());
    assert_eq!(e.services.all_closed_at, Some(at("2026-03-20 18:00:00")));
    assert_eq!(done_since(step(&e, 1)), at("2026-03-20 18:00:00"));
    // Conditions hold at the closure, 2026-03-20 18:00 (no orders) → day 03-20; third day
    // after → 2026-03-23 00:00 Beijing.
    assert_eq!(e.release.unfreezes_at, Some(at("2026-03-23 00:00:00")));
    assert!(e.release.unfrozen);
}

#[test]
fn al_10_the_last_closure_counts_but_the_protection_ends_when_it_is_closed() {
    let f = facts(
        vec![
            protection("2025-03-01 09:00:00", Some("2026-03-01 10:00:00")),
            direct_delivery("2025-03-01 09:05:00", Some("2026-03-05 10:00:00")),
        ],
        // Placed after the protection closed, before the sub-service closed: not counted.
        vec![trade(
            "after-protection",
            "2026-03-03 10:00:00",
            TradeStatus::InFlight,
        )],
    );
    let e = eval(&f, "2026-03-06 12:00:00");
    assert_eq!(
        e.services.protection,
        ProtectionState::Ended {
            opened_at: at("2025-03-01 09:00:00"),
            closed_at: at("2026-03-01 10:00:00"),
        }
    );
    assert_eq!(e.services.all_closed_at, Some(at("2026-03-05 10:00:00")));
    assert_eq!(e.conditions.counted_orders, 0);
    assert_eq!(e.conditions.not_counted_orders, 1);
    // Last closure 2026-03-05 10:00 → day 03-05; third day after → 2026-03-08 00:00 Beijing.
    assert_eq!(
        e.release.conditions_hold_at,
        Some(at("2026-03-05 10:00:00"))
    );
    assert_eq!(e.release.decided_by.as_ref().unwrap().rule, Rule::Al10);
    assert_eq!(e.release.unfreezes_at, Some(at("2026-03-08 00:00:00")));
    assert_eq!(e.release.unfreezes_on, Some(date("2026-03-08")));
    assert_eq!(waiting_until(step(&e, 3)), at("2026-03-08 00:00:00"));
}

#[test]
fn al_10_a_protection_never_opened_is_said_so() {
    let f = ShopDepositFacts {
        services: vec![shipping_48h("2025-03-02 10:00:00")],
        trades: vec![trade("o1", "2025-06-01 10:00:00", TradeStatus::InFlight)],
        complaints: vec![complaint("c1", None, "2025-06-02 10:00:00", None)],
        anxin_gou_exit_requested_at: None,
    };
    let e = eval(&f, "2026-04-01 12:00:00");
    assert_eq!(e.services.protection, ProtectionState::NeverOpened);
    assert!(e.services.periods.is_empty());
    assert!(e.services.explanation.contains("no 买家保障"));
    assert_eq!(e.conditions.counted_orders, 0);
    assert_eq!(e.conditions.counted_complaints, 0);
    assert_eq!(e.release.unfreezes_at, None);
    assert_eq!(
        blocker_kinds(&e.release.not_computable),
        [(Rule::Al10, s("never_opened"))]
    );
    for n in 1..=3 {
        assert!(
            matches!(step(&e, n), StepState::NotApplicable { .. }),
            "step {n}"
        );
    }
}

#[test]
fn al_10_a_reopened_protection_counts_both_periods() {
    let f = facts(
        vec![
            protection("2025-01-01 00:00:00", Some("2025-03-01 00:00:00")),
            protection("2025-06-01 00:00:00", Some("2025-09-01 00:00:00")),
        ],
        vec![
            trade(
                "first",
                "2025-02-01 10:00:00",
                success("2025-02-05 10:00:00"),
            ),
            trade("gap", "2025-04-01 10:00:00", TradeStatus::InFlight),
            trade(
                "second",
                "2025-07-01 10:00:00",
                success("2025-07-05 10:00:00"),
            ),
        ],
    );
    let e = eval(&f, "2026-01-01 00:00:00");
    assert_eq!(
        e.services.periods,
        [
            ProtectionPeriod {
                opened_at: at("2025-01-01 00:00:00"),
                closed_at: Some(at("2025-03-01 00:00:00")),
            },
            ProtectionPeriod {
                opened_at: at("2025-06-01 00:00:00"),
                closed_at: Some(at("2025-09-01 00:00:00")),
            },
        ]
    );
    assert_eq!(e.conditions.counted_orders, 2);
    assert!(e.conditions.unfinished_trades.is_empty(), "the gap order");
    // Last closure 2025-09-01 00:00 is later than "second" + 30 d (2025-08-04 10:00) → day
    // 09-01; third day after → 2025-09-04 00:00 Beijing.
    assert_eq!(e.release.unfreezes_at, Some(at("2025-09-04 00:00:00")));
}

// ---- AL-11: the conditions on the orders of the protection period --------------------------

#[test]
fn al_11_only_orders_placed_while_the_protection_was_active_count() {
    let f = facts(
        vec![protection(
            "2025-03-01 09:00:00",
            Some("2026-03-20 18:00:00"),
        )],
        vec![
            trade("before", "2025-03-01 08:59:59", TradeStatus::InFlight),
            trade(
                "at-opening",
                "2025-03-01 09:00:00",
                success("2025-03-05 10:00:00"),
            ),
            trade("at-closing", "2026-03-20 18:00:00", TradeStatus::InFlight),
            trade("after", "2026-03-20 18:00:01", TradeStatus::InFlight),
        ],
    );
    let e = eval(&f, "2026-04-01 12:00:00");
    assert_eq!(e.conditions.counted_orders, 2);
    assert_eq!(e.conditions.not_counted_orders, 2);
    let unfinished: Vec<_> = e
        .conditions
        .unfinished_trades
        .iter()
        .map(|t| t.order_id.as_str())
        .collect();
    assert_eq!(unfinished, ["at-closing"], "both ends of the period count");
}

#[test]
fn al_11_a_a_trade_in_flight_blocks_with_its_order_id() {
    let f = facts(
        vec![protection(
            "2025-03-01 09:00:00",
            Some("2026-03-20 18:00:00"),
        )],
        vec![
            trade(
                "done",
                "2025-05-01 10:00:00",
                success("2025-05-04 10:00:00"),
            ),
            trade("stuck", "2026-03-10 15:00:00", TradeStatus::InFlight),
        ],
    );
    let e = eval(&f, "2026-04-01 12:00:00");
    let t = &e.conditions.unfinished_trades[0];
    assert_eq!(e.conditions.unfinished_trades.len(), 1);
    assert_eq!((t.order_id.as_str(), t.rule), ("stuck", Rule::Al11));
    assert!(t.explanation.contains("AL-11(a)"), "{}", t.explanation);
    assert_eq!(done_since(step(&e, 1)), at("2026-03-20 18:00:00"));
    assert_eq!(blocked(step(&e, 2)), [(Rule::Al11, s("trade stuck"))]);
    assert_eq!(blocked(step(&e, 3)), [(Rule::Al11, s("trade stuck"))]);
    assert_eq!(e.release.conditions_hold_at, None);
    assert_eq!(e.release.unfreezes_at, None);
    assert!(!e.release.unfrozen);
}

#[test]
fn al_11_b_which_complaints_count_and_which_block() {
    let f = ShopDepositFacts {
        services: vec![protection(
            "2025-03-01 09:00:00",
            Some("2026-03-20 18:00:00"),
        )],
        trades: vec![
            trade("in", "2025-05-01 10:00:00", success("2025-05-04 10:00:00")),
            trade("out", "2026-03-25 10:00:00", success("2026-03-27 10:00:00")),
        ],
        complaints: vec![
            // About a counted order, open: blocks.
            complaint("on-counted", Some("in"), "2025-05-10 10:00:00", None),
            // About an order placed after the protection closed: does not count.
            complaint("on-outside", Some("out"), "2026-03-28 10:00:00", None),
            // No order, opened during the protection: counts (assumed), open: blocks.
            complaint("no-order", None, "2025-08-01 10:00:00", None),
            // No order, opened before the protection: cannot concern an order of the period.
            complaint("no-order-early", None, "2025-02-01 10:00:00", None),
            // An order not among the trades given: counts (assumed), open: blocks.
            complaint("unknown-order", Some("ghost"), "2025-09-01 10:00:00", None),
            // About a counted order, concluded.
            complaint(
                "done",
                Some("in"),
                "2025-05-06 10:00:00",
                Some("2025-05-08 10:00:00"),
            ),
        ],
        anxin_gou_exit_requested_at: None,
    };
    let e = eval(&f, "2026-04-01 12:00:00");
    assert_eq!(e.conditions.counted_complaints, 4);
    let open: Vec<_> = e
        .conditions
        .unfinished_complaints
        .iter()
        .map(|c| (c.case_id.as_str(), c.link, c.rule))
        .collect();
    assert_eq!(
        open,
        [
            ("on-counted", ComplaintLink::CountedOrder, Rule::Al11),
            ("no-order", ComplaintLink::NoOrder, Rule::Al11),
            ("unknown-order", ComplaintLink::UnknownOrder, Rule::Al11),
        ]
    );
    assert!(e.conditions.unfinished_complaints[1]
        .explanation
        .contains("assumed"));
    assert_eq!(
        blocked(step(&e, 2)),
        [
            (Rule::Al11, s("complaint on-counted")),
            (Rule::Al11, s("complaint no-order")),
            (Rule::Al11, s("complaint unknown-order")),
        ]
    );
    assert_eq!(e.release.unfreezes_at, None);
    assert_eq!(e.conditions.last_complaint_finished_at, None);
}

#[test]
fn al_11_b_the_last_concluded_complaint_can_set_the_date() {
    let f = ShopDepositFacts {
        services: vec![protection(
            "2025-03-01 09:00:00",
            Some("2026-01-10 18:00:00"),
        )],
        trades: vec![trade(
            "in",
            "2025-12-01 10:00:00",
            success("2025-12-05 10:00:00"),
        )],
        complaints: vec![complaint(
            "late",
            Some("in"),
            "2025-12-20 10:00:00",
            Some("2026-02-11 16:45:00"),
        )],
        anxin_gou_exit_requested_at: None,
    };
    let e = eval(&f, "2026-02-12 09:00:00");
    // Closure 2026-01-10 18:00; "in" 2025-12-05 10:00 + 30 d = 2026-01-04 10:00; complaint
    // concluded 2026-02-11 16:45, the latest → day 02-11; third day after → 2026-02-14 00:00.
    assert_eq!(
        e.conditions.last_complaint_finished_at,
        Some(at("2026-02-11 16:45:00"))
    );
    assert_eq!(
        e.release.conditions_hold_at,
        Some(at("2026-02-11 16:45:00"))
    );
    assert!(e
        .release
        .decided_by
        .as_ref()
        .unwrap()
        .explanation
        .contains("complaint"));
    assert_eq!(e.release.unfreezes_at, Some(at("2026-02-14 00:00:00")));
    assert_eq!(done_since(step(&e, 2)), at("2026-02-11 16:45:00"));
}

#[test]
fn al_11_c_the_acceptance_period_is_30_times_24_hours_after_success_or_close() {
    let f = facts(
        vec![protection(
            "2025-03-01 09:00:00",
            Some("2026-03-01 00:00:00"),
        )],
        vec![
            // 2026-02-12 10:00 + 30 d = 2026-03-14 10:00 (February 2026 has 28 days).
            trade("ok", "2026-02-01 10:00:00", success("2026-02-12 10:00:00")),
            // Closed 2026-02-14 08:15 + 30 d = 2026-03-16 08:15.
            trade(
                "cancelled",
                "2026-02-02 10:00:00",
                closed("2026-02-14 08:15:00"),
            ),
        ],
    );
    let inside = eval(&f, "2026-03-14 09:59:59");
    let ids = |e: &DepositReleaseEvaluation| {
        e.conditions
            .in_acceptance_period
            .iter()
            .map(|p| p.order_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&inside), [s("ok"), s("cancelled")]);
    let ok = &inside.conditions.in_acceptance_period[0];
    assert_eq!(ok.ends_at, at("2026-03-14 10:00:00"));
    assert_eq!(ok.ends_on, date("2026-03-14"));
    assert_eq!((ok.finish, ok.rule), (Finish::Success, Rule::Al11));
    assert!(ok.explanation.contains("assumed"), "{}", ok.explanation);
    let cancelled = &inside.conditions.in_acceptance_period[1];
    assert_eq!(cancelled.finish, Finish::Closed);
    assert_eq!(cancelled.ends_at, at("2026-03-16 08:15:00"));

    // At the end instant the order has left its period.
    let left = eval(&f, "2026-03-14 10:00:00");
    assert_eq!(ids(&left), [s("cancelled")]);

    // Step 2 waits for the last period (2026-03-16 08:15); the deposit unfreezes on the third
    // day after 03-16 → 2026-03-19 00:00 Beijing.
    assert_eq!(waiting_until(step(&left, 2)), at("2026-03-16 08:15:00"));
    assert_eq!(left.release.unfreezes_at, Some(at("2026-03-19 00:00:00")));
    assert_eq!(
        left.conditions
            .last_acceptance_period
            .as_ref()
            .map(|p| p.order_id.as_str()),
        Some("cancelled")
    );
}

#[test]
fn al_11_c_period_ends_fall_on_the_beijing_date() {
    let f = facts(
        vec![protection(
            "2025-03-01 09:00:00",
            Some("2026-03-01 00:00:00"),
        )],
        vec![
            // 23:30 and 00:30 Beijing are 15:30 and 16:30 UTC of the same UTC day (03-14).
            trade(
                "late",
                "2026-02-20 10:00:00",
                success("2026-03-14 23:30:00"),
            ),
            trade(
                "early",
                "2026-02-20 11:00:00",
                success("2026-03-15 00:30:00"),
            ),
        ],
    );
    let e = eval(&f, "2026-03-20 00:00:00");
    let ends: Vec<_> = e
        .conditions
        .in_acceptance_period
        .iter()
        .map(|p| (p.order_id.as_str(), p.ends_on))
        .collect();
    assert_eq!(
        ends,
        [("late", date("2026-04-13")), ("early", date("2026-04-14"))]
    );
}

// ---- AL-12: the third day, then transfer out ------------------------------------------------

/// A closed protection with one successful order; the order's period decides the date.
fn one_order(success_at: &str) -> ShopDepositFacts {
    facts(
        vec![protection(
            "2025-03-01 09:00:00",
            Some("2026-03-01 00:00:00"),
        )],
        vec![trade("only", "2026-02-20 10:00:00", success(success_at))],
    )
}

#[test]
fn al_12_the_deposit_unfreezes_at_the_start_of_the_third_day_after() {
    // Success 2026-03-14 10:00 + 30 d = 2026-04-13 10:00 → day 04-13; third day after →
    // 2026-04-16 00:00 Beijing.
    let f = one_order("2026-03-14 10:00:00");
    let e = eval(&f, "2026-04-13 12:00:00");
    assert_eq!(
        e.release.conditions_hold_at,
        Some(at("2026-04-13 10:00:00"))
    );
    assert_eq!(e.release.unfreezes_at, Some(at("2026-04-16 00:00:00")));
    assert_eq!(e.release.unfreezes_on, Some(date("2026-04-16")));
    assert_eq!(e.release.rule, Rule::Al12);
    let m = e.release.decided_by.as_ref().unwrap();
    assert_eq!((m.rule, m.at), (Rule::Al11, at("2026-04-13 10:00:00")));
    assert!(m.explanation.contains("only"), "{}", m.explanation);
    assert!(e.release.explanation.contains("assumed"));
}

#[test]
fn al_12_a_beijing_day_boundary_decides_the_day() {
    // Success 2026-03-14 23:30 Beijing (15:30 UTC) + 30 d = 2026-04-13 23:30 → day 04-13;
    // third day after → 2026-04-16 00:00 Beijing.
    let late = eval(&one_order("2026-03-14 23:30:00"), "2026-04-01 00:00:00");
    assert_eq!(late.release.unfreezes_at, Some(at("2026-04-16 00:00:00")));
    // Success 2026-03-15 00:30 Beijing (16:30 UTC, the same UTC day) + 30 d = 2026-04-14 00:30
    // → day 04-14; third day after → 2026-04-17 00:00 Beijing.
    let early = eval(&one_order("2026-03-15 00:30:00"), "2026-04-01 00:00:00");
    assert_eq!(early.release.unfreezes_at, Some(at("2026-04-17 00:00:00")));
    // Conditions holding at exactly 00:00 Beijing belong to that day: success 2026-03-15
    // 00:00 + 30 d = 2026-04-14 00:00 → day 04-14 → 2026-04-17 00:00.
    let midnight = eval(&one_order("2026-03-15 00:00:00"), "2026-04-01 00:00:00");
    assert_eq!(
        midnight.release.unfreezes_at,
        Some(at("2026-04-17 00:00:00"))
    );
    // One second earlier belongs to the day before: 2026-04-13 23:59:59 → 2026-04-16 00:00.
    let before = eval(&one_order("2026-03-14 23:59:59"), "2026-04-01 00:00:00");
    assert_eq!(before.release.unfreezes_at, Some(at("2026-04-16 00:00:00")));
}

#[test]
fn al_12_unfrozen_from_the_unfreeze_instant_then_transfer_out() {
    let f = one_order("2026-03-14 10:00:00");
    let before = eval(&f, "2026-04-15 23:59:59");
    assert!(!before.release.unfrozen);
    assert_eq!(waiting_until(step(&before, 3)), at("2026-04-16 00:00:00"));
    assert_eq!(done_since(step(&before, 2)), at("2026-04-13 10:00:00"));

    let after = eval(&f, "2026-04-16 00:00:00");
    assert!(after.release.unfrozen);
    assert_eq!(done_since(step(&after, 3)), at("2026-04-16 00:00:00"));
    assert!(
        after.release.explanation.contains("转出"),
        "{}",
        after.release.explanation
    );
}

#[test]
fn al_12_no_date_while_anything_has_no_known_end() {
    let f = ShopDepositFacts {
        services: vec![
            protection("2025-03-01 09:00:00", Some("2026-03-01 00:00:00")),
            direct_delivery("2025-03-01 09:05:00", None),
        ],
        trades: vec![
            trade("stuck", "2026-02-10 10:00:00", TradeStatus::InFlight),
            trade(
                "done",
                "2026-02-11 10:00:00",
                success("2026-02-15 10:00:00"),
            ),
        ],
        complaints: vec![complaint("open", Some("done"), "2026-02-16 10:00:00", None)],
        anxin_gou_exit_requested_at: None,
    };
    let e = eval(&f, "2026-04-01 12:00:00");
    assert_eq!(e.release.conditions_hold_at, None);
    assert_eq!(e.release.decided_by, None);
    assert_eq!(e.release.unfreezes_at, None);
    assert_eq!(e.release.unfreezes_on, None);
    assert_eq!(
        blocker_kinds(&e.release.not_computable),
        [
            (Rule::Al10, s("service official_direct")),
            (Rule::Al11, s("trade stuck")),
            (Rule::Al11, s("complaint open")),
        ]
    );
    assert!(e.release.explanation.contains("no unfreeze date"));
    assert_eq!(blocked(step(&e, 3)).len(), 3);
}

// ---- AL-13: leaving 安心购 ------------------------------------------------------------------

fn anxin_history(last: TradeStatus) -> ShopDepositFacts {
    ShopDepositFacts {
        services: vec![],
        trades: vec![
            // In flight at the request (2026-03-01 12:00), success 2026-03-05 10:00 + 90 d =
            // 2026-06-03 10:00 (03-05 +26 d = 03-31, +30 = 04-30, +31 = 05-31, +3 = 06-03).
            anxin(
                "a-success",
                "2026-02-20 10:00:00",
                success("2026-03-05 10:00:00"),
            ),
            // Closed 2026-03-10 20:00 + 90 d = 2026-06-08 20:00.
            anxin(
                "a-closed",
                "2026-02-25 10:00:00",
                closed("2026-03-10 20:00:00"),
            ),
            // Finished before the request: not in flight at it.
            anxin(
                "a-before",
                "2026-02-01 10:00:00",
                success("2026-02-25 10:00:00"),
            ),
            // Finished exactly at the request: not in flight at it.
            anxin(
                "a-at",
                "2026-02-02 10:00:00",
                success("2026-03-01 12:00:00"),
            ),
            // Placed after the request: not a trade of the exit.
            anxin("a-after", "2026-03-02 10:00:00", TradeStatus::InFlight),
            // Not 安心购.
            trade("plain", "2026-02-20 10:00:00", TradeStatus::InFlight),
            // The one that decides.
            anxin("a-last", "2026-02-28 10:00:00", last),
        ],
        complaints: vec![],
        anxin_gou_exit_requested_at: Some(at("2026-03-01 12:00:00")),
    }
}

#[test]
fn al_13_trades_in_flight_at_the_exit_leave_90_days_after_they_complete() {
    let e = eval(&anxin_history(TradeStatus::InFlight), "2026-04-01 12:00:00");
    let x = e.anxin_gou_exit.as_ref().expect("an exit was requested");
    assert_eq!(x.rule, Rule::Al13);
    let leaving: Vec<_> = x
        .leaving
        .iter()
        .map(|l| (l.order_id.as_str(), l.leaves_at, l.leaves_on, l.rule))
        .collect();
    assert_eq!(
        leaving,
        [
            (
                "a-success",
                at("2026-06-03 10:00:00"),
                date("2026-06-03"),
                Rule::Al13
            ),
            (
                "a-closed",
                at("2026-06-08 20:00:00"),
                date("2026-06-08"),
                Rule::Al13
            ),
        ]
    );
    assert!(x.leaving[0].explanation.contains("assumed"));
    let in_flight: Vec<_> = x.in_flight.iter().map(|t| t.order_id.as_str()).collect();
    assert_eq!(in_flight, ["a-last"]);
    assert_eq!(x.exit_completes_at, None, "one is still in flight");
    assert!(!x.exited);

    // a-last succeeds 2026-04-01 09:00 + 90 d = 2026-06-30 09:00 (04-01 +29 d = 04-30,
    // +31 = 05-31, +30 = 06-30): the last to leave.
    let later = anxin_history(success("2026-04-01 09:00:00"));
    let e = eval(&later, "2026-06-30 08:59:59");
    let x = e.anxin_gou_exit.as_ref().unwrap();
    assert!(x.in_flight.is_empty());
    assert_eq!(x.leaving.last().unwrap().order_id, "a-last");
    assert_eq!(x.exit_completes_at, Some(at("2026-06-30 09:00:00")));
    assert!(!x.exited);
    let e = eval(&later, "2026-06-30 09:00:00");
    assert!(e.anxin_gou_exit.as_ref().unwrap().exited);
}

#[test]
fn al_13_with_nothing_in_flight_the_exit_completes_at_the_request() {
    let f = ShopDepositFacts {
        trades: vec![anxin(
            "a-before",
            "2026-02-01 10:00:00",
            success("2026-02-25 10:00:00"),
        )],
        anxin_gou_exit_requested_at: Some(at("2026-03-01 12:00:00")),
        ..ShopDepositFacts::default()
    };
    let e = eval(&f, "2026-03-01 12:00:00");
    let x = e.anxin_gou_exit.as_ref().unwrap();
    assert!(x.leaving.is_empty() && x.in_flight.is_empty());
    assert_eq!(x.exit_completes_at, Some(at("2026-03-01 12:00:00")));
    assert!(x.exited);
    assert!(eval(&facts(vec![], vec![]), "2026-03-01 12:00:00")
        .anxin_gou_exit
        .is_none());
}

#[test]
fn al_13_does_not_move_the_unfreeze_date() {
    let mut f = one_order("2026-03-14 10:00:00");
    f.trades[0].anxin_gou = true;
    f.trades.push(Trade {
        anxin_gou: true,
        ..trade("outside", "2026-03-05 10:00:00", TradeStatus::InFlight)
    });
    f.anxin_gou_exit_requested_at = Some(at("2026-03-10 10:00:00"));
    let e = eval(&f, "2026-04-01 00:00:00");
    // "only" leaves 2026-03-14 10:00 + 90 d = 2026-06-12 10:00; "outside" (placed after the
    // protection closed) is still in flight: no exit date, but the deposit date stands.
    let x = e.anxin_gou_exit.as_ref().unwrap();
    assert_eq!(x.leaving[0].leaves_at, at("2026-06-12 10:00:00"));
    assert_eq!(x.exit_completes_at, None);
    assert_eq!(e.release.unfreezes_at, Some(at("2026-04-16 00:00:00")));
}

// ---- A realistic shop history --------------------------------------------------------------

const OPENED: &str = "2025-03-01 09:00:00";
const CLOSED: &str = "2026-03-20 18:00:00";

/// A shop on 买家保障 from 2025-03-01 09:00 to 2026-03-20 18:00 Beijing, 337 orders:
/// - A-000 … A-299: placed daily at 08:00 from 2025-02-01 (A-299 on 2025-11-27); A-000 …
///   A-028 are before the opening (A-028 is 2025-03-01 08:00), 271 count. Each i ≡ 3 (mod
///   10) closed a day after placing, the rest successful 5 d + (i mod 24) h after: all long
///   finished (the last by early December 2025).
/// - B-00 … B-19: placed 2026-02-20 10:00 + 12 h × j, successful 6 d + j h after placing,
///   i.e. at 2026-02-26 10:00 + 13 h × j (B-19: 2026-03-08 17:00); all count.
/// - IF-1: placed 2026-03-10 15:00, in flight until `if1`.
/// - P-00 … P-14: placed after the closure, from 2026-03-20 19:00 every 7 h; every third in
///   flight, the others successful 2026-03-25 10:00 + k days (P-14: 2026-04-08): none count.
/// - PRE: placed 2025-01-15, still in flight: before the opening, does not count.
///
/// Complaints: C-OPEN on B-05 (open until `c_open`), C-DONE on A-100 (2025-06-15 →
/// 2025-06-25), C-NOORDER (no order, 2025-09-01 → 2025-09-03, counts), C-OUTSIDE on P-02
/// (open, does not count), C-BEFORE (no order, opened 2025-01-20, open, does not count).
///
/// Services: 买家保障 as above; 官方直送 from 2025-03-01 09:05, open until `direct`; 48h
/// shipping from 2025-03-02, never closable.
fn shop(direct: Option<&str>, if1: TradeStatus, c_open: Option<&str>) -> ShopDepositFacts {
    let mut trades = Vec::new();
    let a0 = at("2025-02-01 08:00:00");
    for i in 0..300_i64 {
        let placed = a0 + Duration::days(i);
        let status = if i % 10 == 3 {
            TradeStatus::Closed {
                at: placed + Duration::days(1),
            }
        } else {
            TradeStatus::Success {
                at: placed + Duration::days(5) + Duration::hours(i % 24),
            }
        };
        trades.push(Trade {
            order_id: format!("A-{i:03}"),
            placed_at: placed,
            status,
            anxin_gou: false,
        });
    }
    let b0 = at("2026-02-20 10:00:00");
    for j in 0..20_i64 {
        let placed = b0 + Duration::hours(12 * j);
        trades.push(Trade {
            order_id: format!("B-{j:02}"),
            placed_at: placed,
            status: TradeStatus::Success {
                at: placed + Duration::days(6) + Duration::hours(j),
            },
            anxin_gou: false,
        });
    }
    trades.push(trade("IF-1", "2026-03-10 15:00:00", if1));
    let p0 = at("2026-03-20 19:00:00");
    for k in 0..15_i64 {
        let status = if k % 3 == 0 {
            TradeStatus::InFlight
        } else {
            TradeStatus::Success {
                at: at("2026-03-25 10:00:00") + Duration::days(k),
            }
        };
        trades.push(Trade {
            order_id: format!("P-{k:02}"),
            placed_at: p0 + Duration::hours(7 * k),
            status,
            anxin_gou: false,
        });
    }
    trades.push(trade("PRE", "2025-01-15 10:00:00", TradeStatus::InFlight));

    ShopDepositFacts {
        services: vec![
            protection(OPENED, Some(CLOSED)),
            direct_delivery("2025-03-01 09:05:00", direct),
            shipping_48h("2025-03-02 10:00:00"),
        ],
        trades,
        complaints: vec![
            complaint("C-OPEN", Some("B-05"), "2026-03-18 10:00:00", c_open),
            complaint(
                "C-DONE",
                Some("A-100"),
                "2025-06-15 10:00:00",
                Some("2025-06-25 10:00:00"),
            ),
            complaint(
                "C-NOORDER",
                None,
                "2025-09-01 10:00:00",
                Some("2025-09-03 10:00:00"),
            ),
            complaint("C-OUTSIDE", Some("P-02"), "2026-03-28 10:00:00", None),
            complaint("C-BEFORE", None, "2025-01-20 10:00:00", None),
        ],
        anxin_gou_exit_requested_at: None,
    }
}

#[test]
fn al_10_to_al_12_a_shop_history_with_its_blockers_open() {
    let f = shop(None, TradeStatus::InFlight, None);
    assert_eq!(f.trades.len(), 337);
    let e = eval(&f, "2026-04-01 12:00:00");

    // AL-10: 官方直送 still open; 48h shipping ignored; the protection ended at its closure.
    assert_eq!(
        e.services.protection,
        ProtectionState::Ended {
            opened_at: at(OPENED),
            closed_at: at(CLOSED),
        }
    );
    assert_eq!(e.services.blocking.len(), 1);
    assert_eq!(e.services.blocking[0].code, "official_direct");
    assert_eq!(e.services.ignored[0].code, "ship_48h");

    // AL-11: 271 + 20 + 1 orders count; 29 + 15 + 1 do not.
    assert_eq!(e.conditions.counted_orders, 292);
    assert_eq!(e.conditions.not_counted_orders, 45);
    let unfinished: Vec<_> = e
        .conditions
        .unfinished_trades
        .iter()
        .map(|t| t.order_id.as_str())
        .collect();
    assert_eq!(unfinished, ["IF-1"], "P-xx and PRE are outside the period");
    assert_eq!(e.conditions.counted_complaints, 3);
    let open: Vec<_> = e
        .conditions
        .unfinished_complaints
        .iter()
        .map(|c| c.case_id.as_str())
        .collect();
    assert_eq!(open, ["C-OPEN"]);
    // Inside the period at 2026-04-01 12:00: B-j ends 2026-03-28 10:00 + 13 h × j, later than
    // now when 13 j > 98 h, i.e. j ≥ 8: B-08 (ends 2026-04-01 18:00) … B-19 (2026-04-07 17:00).
    let periods = &e.conditions.in_acceptance_period;
    assert_eq!(periods.len(), 12);
    assert_eq!(periods[0].order_id, "B-08");
    assert_eq!(periods[0].ends_at, at("2026-04-01 18:00:00"));
    assert_eq!(periods[11].order_id, "B-19");
    assert_eq!(periods[11].finished_at, at("2026-03-08 17:00:00"));
    assert_eq!(periods[11].ends_at, at("2026-04-07 17:00:00"));
    assert_eq!(periods[11].ends_on, date("2026-04-07"));

    // AL-12: no date while 官方直送, IF-1 and C-OPEN have no known end.
    assert_eq!(e.release.unfreezes_at, None);
    assert_eq!(
        blocker_kinds(&e.release.not_computable),
        [
            (Rule::Al10, s("service official_direct")),
            (Rule::Al11, s("trade IF-1")),
            (Rule::Al11, s("complaint C-OPEN")),
        ]
    );
    assert_eq!(
        blocked(step(&e, 1)),
        [(Rule::Al10, s("service official_direct"))]
    );
    assert_eq!(
        blocked(step(&e, 2)),
        [
            (Rule::Al11, s("trade IF-1")),
            (Rule::Al11, s("complaint C-OPEN"))
        ]
    );
    assert_eq!(blocked(step(&e, 3)).len(), 3);
    assert_eq!(e.assumptions, ASSUMPTIONS.to_vec());
}

#[test]
fn al_10_to_al_12_the_same_shop_once_its_blockers_are_resolved() {
    let f = shop(
        Some("2026-03-21 11:00:00"),
        success("2026-03-28 14:20:00"),
        Some("2026-03-30 17:00:00"),
    );
    // Candidates for "all conditions hold":
    //   官方直送 closed                          2026-03-21 11:00
    //   B-19 success 2026-03-08 17:00 + 30 d  = 2026-04-07 17:00
    //   IF-1 success 2026-03-28 14:20 + 30 d  = 2026-04-27 14:20  (03-28 +3 d = 03-31, +27 = 04-27)
    //   C-OPEN concluded                        2026-03-30 17:00
    // (P-14's success 2026-04-08 + 30 d = 05-08 would be later, but P-xx do not count.)
    // Latest: 2026-04-27 14:20 → day 04-27; third day after → 2026-04-30 00:00 Beijing.
    let e = eval(&f, "2026-04-01 12:00:00");
    assert!(e.release.not_computable.is_empty());
    assert_eq!(e.services.all_closed_at, Some(at("2026-03-21 11:00:00")));
    assert_eq!(
        e.release.conditions_hold_at,
        Some(at("2026-04-27 14:20:00"))
    );
    let m = e.release.decided_by.as_ref().unwrap();
    assert_eq!(m.rule, Rule::Al11);
    assert!(m.explanation.contains("IF-1"), "{}", m.explanation);
    assert_eq!(e.release.unfreezes_at, Some(at("2026-04-30 00:00:00")));
    assert_eq!(e.release.unfreezes_on, Some(date("2026-04-30")));
    assert!(!e.release.unfrozen);

    assert_eq!(done_since(step(&e, 1)), at("2026-03-21 11:00:00"));
    assert_eq!(waiting_until(step(&e, 2)), at("2026-04-27 14:20:00"));
    assert_eq!(waiting_until(step(&e, 3)), at("2026-04-30 00:00:00"));
    assert_eq!(
        e.conditions.in_acceptance_period.len(),
        13,
        "B-08 … B-19, IF-1"
    );
    assert_eq!(
        e.conditions.in_acceptance_period.last().unwrap().order_id,
        "IF-1"
    );

    // The conditions hold from 2026-04-27 14:20; still frozen on 04-29.
    let e = eval(&f, "2026-04-29 23:59:59");
    assert!(e.conditions.in_acceptance_period.is_empty());
    assert_eq!(done_since(step(&e, 2)), at("2026-04-27 14:20:00"));
    assert!(!e.release.unfrozen);
    // From 2026-04-30 00:00 Beijing the merchant transfers it out (转出).
    let e = eval(&f, "2026-04-30 00:00:00");
    assert!(e.release.unfrozen);
    assert_eq!(done_since(step(&e, 3)), at("2026-04-30 00:00:00"));
}

#[test]
fn al_10_to_al_12_without_the_late_order_the_last_b_order_decides() {
    // IF-1 closed two days after it was placed: 2026-03-12 09:00 + 30 d = 2026-04-11 09:00
    // (03-12 +19 d = 03-31, +11 = 04-11), still later than B-19's 2026-04-07 17:00: IF-1
    // decides → day 04-11; third day after → 2026-04-14 00:00 Beijing.
    let f = shop(
        Some("2026-03-21 11:00:00"),
        closed("2026-03-12 09:00:00"),
        Some("2026-03-30 17:00:00"),
    );
    let e = eval(&f, "2026-04-01 12:00:00");
    assert_eq!(
        e.release.conditions_hold_at,
        Some(at("2026-04-11 09:00:00"))
    );
    assert_eq!(e.release.unfreezes_at, Some(at("2026-04-14 00:00:00")));

    // Drop IF-1: B-19 decides, 2026-03-08 17:00 + 30 d = 2026-04-07 17:00 (03-08 +23 d =
    // 03-31, +7 = 04-07) → day 04-07; third day after → 2026-04-10 00:00 Beijing.
    let mut f = f;
    f.trades.retain(|t| t.order_id != "IF-1");
    let e = eval(&f, "2026-04-01 12:00:00");
    assert_eq!(
        e.release.conditions_hold_at,
        Some(at("2026-04-07 17:00:00"))
    );
    assert!(e
        .release
        .decided_by
        .as_ref()
        .unwrap()
        .explanation
        .contains("B-19"));
    assert_eq!(e.release.unfreezes_at, Some(at("2026-04-10 00:00:00")));
}

#[test]
fn al_11_a_whole_shop_history_is_evaluated_in_one_pass() {
    // 200 000 orders and 50 000 complaints: a trades × complaints loop would not finish.
    let opened = at("2020-01-01 00:00:00");
    let trades: Vec<Trade> = (0..200_000_i64)
        .map(|i| {
            let placed = opened + Duration::minutes(10 * i);
            Trade {
                order_id: format!("T{i}"),
                placed_at: placed,
                status: TradeStatus::Success {
                    at: placed + Duration::days(3),
                },
                anxin_gou: false,
            }
        })
        .collect();
    let last_success = trades.last().unwrap().status.finished_at().unwrap();
    let complaints = (0..50_000_i64)
        .map(|i| Complaint {
            case_id: format!("C{i}"),
            order_id: Some(format!("T{}", i * 4)),
            opened_at: opened + Duration::minutes(40 * i + 1),
            finished_at: Some(opened + Duration::minutes(40 * i + 2)),
        })
        .collect();
    let f = ShopDepositFacts {
        services: vec![ServiceSubscription {
            closed_at: Some(last_success),
            ..protection("2020-01-01 00:00:00", None)
        }],
        trades,
        complaints,
        anxin_gou_exit_requested_at: None,
    };
    let e = evaluate_deposit_release(&f, &rules(), last_success).unwrap();
    assert_eq!(e.conditions.counted_orders, 200_000);
    assert_eq!(e.conditions.counted_complaints, 50_000);
    assert_eq!(
        e.release.conditions_hold_at,
        Some(last_success + Duration::days(30))
    );
}

// ---- Facts and the answer's shape ----------------------------------------------------------

#[test]
fn facts_that_contradict_themselves_are_refused() {
    let base = || facts(vec![protection(OPENED, Some(CLOSED))], vec![]);
    let now = at("2026-04-01 12:00:00");

    let mut f = base();
    f.services.push(direct_delivery(
        "2025-03-01 09:05:00",
        Some("2025-03-01 09:04:00"),
    ));
    assert!(matches!(
        evaluate_deposit_release(&f, &rules(), now),
        Err(DepositFactsError::ServiceClosedBeforeOpened { code, .. }) if code == "official_direct"
    ));

    let mut f = base();
    f.trades.push(trade(
        "o",
        "2025-05-01 10:00:00",
        success("2025-04-30 10:00:00"),
    ));
    let err = evaluate_deposit_release(&f, &rules(), now).unwrap_err();
    assert!(matches!(
        err,
        DepositFactsError::TradeFinishedBeforePlaced { .. }
    ));
    assert_eq!(
        err.to_string(),
        "order o finished at 2025-04-30 10:00:00 Beijing, before it was placed at \
         2025-05-01 10:00:00 Beijing"
    );

    let mut f = base();
    f.complaints.push(complaint(
        "c",
        None,
        "2025-05-01 10:00:00",
        Some("2025-04-01 10:00:00"),
    ));
    assert!(matches!(
        evaluate_deposit_release(&f, &rules(), now),
        Err(DepositFactsError::ComplaintFinishedBeforeOpened { .. })
    ));

    let mut f = base();
    f.trades = vec![
        trade("o", "2025-05-01 10:00:00", TradeStatus::InFlight),
        trade("o", "2025-05-02 10:00:00", TradeStatus::InFlight),
    ];
    assert_eq!(
        evaluate_deposit_release(&f, &rules(), now),
        Err(DepositFactsError::DuplicateOrder {
            order_id: "o".into()
        })
    );

    let mut f = base();
    f.complaints = vec![
        complaint("c", None, "2025-05-01 10:00:00", None),
        complaint("c", None, "2025-05-02 10:00:00", None),
    ];
    assert_eq!(
        evaluate_deposit_release(&f, &rules(), now),
        Err(DepositFactsError::DuplicateComplaint {
            case_id: "c".into()
        })
    );
}

#[test]
fn the_answer_serializes_with_rule_ids_and_tagged_states() {
    let f = shop(None, TradeStatus::InFlight, None);
    let json = serde_json::to_value(eval(&f, "2026-04-01 12:00:00")).unwrap();
    assert_eq!(json["services"]["rule"], "AL-10");
    assert_eq!(json["services"]["protection"]["state"], "ended");
    assert_eq!(json["conditions"]["rule"], "AL-11");
    assert_eq!(json["release"]["rule"], "AL-12");
    assert_eq!(json["release"]["unfreezes_at"], serde_json::Value::Null);
    let blocker = &json["release"]["not_computable"][0];
    assert_eq!(blocker["rule"], "AL-10");
    assert_eq!(blocker["kind"], "service_open");
    assert_eq!(blocker["code"], "official_direct");
    assert_eq!(blocker["service"], "official_direct_delivery");
    assert_eq!(json["steps"][0]["state"]["status"], "blocked");
    assert_eq!(json["steps"][1]["rule"], "AL-11");
    assert_eq!(
        json["conditions"]["in_acceptance_period"][0]["ends_on"],
        "2026-04-01"
    );
    assert_eq!(json["assumptions"][0]["code"], "ACCEPTANCE_PERIOD_30_X_24H");

    // Input types round-trip, a finished trade carrying its time.
    let t = trade("o", "2026-02-20 10:00:00", success("2026-02-26 10:00:00"));
    let v = serde_json::to_value(&t).unwrap();
    assert_eq!(v["status"]["state"], "success");
    assert_eq!(serde_json::from_value::<Trade>(v).unwrap(), t);
}

/// The numbers come from the 1688 policy file, as the service reads them.
fn rules() -> aftersales_domain::deposit::DepositRules {
    let policy = aftersales_domain::Policy::parse_toml(include_str!(
        "../../platforms/policies/alibaba1688/2024-01-01.toml"
    ))
    .expect("the 1688 policy parses");
    policy
        .deposit_release
        .expect("the 1688 policy states its deposit rules")
}
