//! Platform-intervention evidence (举证, PD-E0 … PD-E10): the requirement algebra, every
//! scenario of the real Pinduoduo policy, and the evidence request on a case.

mod common;

use aftersales_domain::case::{Fulfilment, Shipment};
use aftersales_domain::evidence::{
    Check, EvidenceContext, EvidenceDraft, EvidenceItem, EvidenceScenario, GroupCheck, Problem,
    ProofKind, Requirement, Source, Stamp, StampField, Submission,
};
use aftersales_domain::policy::Policy;
use aftersales_domain::text::BoundedText;
use aftersales_domain::time::parse_shanghai;
use aftersales_domain::{
    ActionKind, Actor, Case, CaseDraft, CaseId, CaseKind, CaseState, Change, Consequence,
    DeadlineState, DomainError, EventKind, Fen, MerchantAction, TenantId,
};
use chrono::{DateTime, Duration, Utc};
use std::sync::OnceLock;

// ---- Fixtures ------------------------------------------------------------------------------

fn pdd() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        Policy::parse_toml(include_str!(
            "../../platforms/policies/pinduoduo/2024-01-01.toml"
        ))
        .expect("the Pinduoduo policy parses")
    })
}

fn scenario(key: &str) -> &'static EvidenceScenario {
    pdd()
        .scenario(key)
        .unwrap_or_else(|| panic!("the policy has no scenario {key}"))
}

fn at(beijing: &str) -> DateTime<Utc> {
    parse_shanghai(beijing).unwrap()
}

/// When the buyer's claim was made (and the evidence request opened): a Monday.
fn t0() -> DateTime<Utc> {
    at("2026-03-02 10:00:00")
}

fn fen(n: i64) -> Fen {
    Fen::new(n).unwrap()
}

const BUYER_NAME: &str = "张三";
const BUYER_ADDRESS: &str = "浙江省杭州市西湖区文三路 1 号";
const BUYER_ACCOUNT: &str = "zhangsan@alipay";
const SHOP: &str = "某某家电旗舰店";
const PROMISED_FEN: i64 = 500;

fn context() -> EvidenceContext {
    EvidenceContext {
        reported_at: Some(t0()),
        buyer_account: Some(BUYER_ACCOUNT.into()),
        promised_amount: Some(fen(PROMISED_FEN)),
        shop_name: Some(SHOP.into()),
    }
}

fn item(kind: ProofKind) -> EvidenceItem {
    EvidenceItem::new(kind, format!("oss://evidence/{kind}"))
}

fn shipping_slip() -> EvidenceItem {
    EvidenceItem {
        recipient_name: Some(BUYER_NAME.into()),
        recipient_address: Some(BUYER_ADDRESS.into()),
        tracking_number: Some("ZT0001".into()),
        ..item(ProofKind::ShippingSlip)
    }
}

/// A red-stamp proof valid under PD-E9 and PD-E1: carrier red stamp, the four details
/// handwritten on the carrier's printed form, the signer's signature.
fn red_stamp() -> EvidenceItem {
    EvidenceItem {
        stamp: Some(Stamp::CarrierRedStamp),
        handwritten: StampField::ALL.to_vec(),
        printed_form: true,
        signer_signature: true,
        recipient_name: Some(BUYER_NAME.into()),
        recipient_address: Some(BUYER_ADDRESS.into()),
        tracking_number: Some("ZT0001".into()),
        ..item(ProofKind::RedStampProof)
    }
}

/// PD-E3: the red-stamp proof that the return was not signed for at the return address.
fn not_signed_red_stamp() -> EvidenceItem {
    EvidenceItem {
        shows_not_signed: true,
        recipient_name: Some(SHOP.into()),
        ..red_stamp()
    }
}

/// PD-E4: the red-stamp proof of the refusal, addressed to the shop.
fn refusal_red_stamp() -> EvidenceItem {
    EvidenceItem {
        recipient_name: Some(SHOP.into()),
        refusal_reason_stated: true,
        ..red_stamp()
    }
}

/// PD-E5: the red-stamp proof that the goods were damaged on arrival.
fn damage_red_stamp() -> EvidenceItem {
    EvidenceItem {
        recipient_name: Some(SHOP.into()),
        damage_stated: true,
        ..red_stamp()
    }
}

/// A platform-chat screenshot in which the buyer confirms (the goods or the money).
fn platform_chat() -> EvidenceItem {
    EvidenceItem {
        source: Some(Source::PlatformChat),
        continuous: true,
        complete: true,
        buyer_confirms: true,
        ..item(ProofKind::ChatScreenshot)
    }
}

fn transfer() -> EvidenceItem {
    EvidenceItem {
        payee_account: Some(BUYER_ACCOUNT.into()),
        amount: Some(fen(PROMISED_FEN)),
        complete: true,
        clear: true,
        ..item(ProofKind::TransferScreenshot)
    }
}

fn carrier_internal_record() -> EvidenceItem {
    EvidenceItem {
        source: Some(Source::CarrierInternalSystem),
        shows_not_signed: true,
        tracking_number: Some("YT0002".into()),
        ..item(ProofKind::CarrierInternalRecord)
    }
}

fn returned_goods_photo() -> EvidenceItem {
    EvidenceItem {
        clear: true,
        complete: true,
        waybill_visible: true,
        defect_marked: true,
        ..item(ProofKind::ReturnedGoodsPhoto)
    }
}

fn unboxing_video() -> EvidenceItem {
    EvidenceItem {
        clear: true,
        complete: true,
        courier_present: true,
        ..item(ProofKind::UnboxingVideo)
    }
}

fn official_tracking_record() -> EvidenceItem {
    EvidenceItem {
        source: Some(Source::CarrierOfficialSite),
        full_history: true,
        tracking_number: Some("SF0003".into()),
        ..item(ProofKind::OfficialTrackingRecord)
    }
}

/// A screenshot of the carrier's tracking page ("已签收"): not proof of signing (PD-E1).
fn tracking_page_screenshot() -> EvidenceItem {
    EvidenceItem {
        source: Some(Source::TrackingPage),
        full_history: true,
        complete: true,
        clear: true,
        tracking_number: Some("ZT0001".into()),
        ..item(ProofKind::OfficialTrackingRecord)
    }
}

fn weighing_photo() -> EvidenceItem {
    EvidenceItem {
        clear: true,
        complete: true,
        weight_grams: Some(1_250),
        ..item(ProofKind::WeighingPhoto)
    }
}

fn carrier_weighing_record() -> EvidenceItem {
    EvidenceItem {
        source: Some(Source::CarrierInternalSystem),
        tracking_number: Some("ZT0001".into()),
        weight_grams: Some(1_250),
        ..item(ProofKind::CarrierWeighingRecord)
    }
}

/// PD-E8: posted a day after the report, the technician visits two days after it.
fn visit_message() -> EvidenceItem {
    EvidenceItem {
        captured_at: Some(t0() + Duration::hours(24)),
        visit_at: Some(t0() + Duration::hours(48)),
        ..item(ProofKind::TechnicianVisitMessage)
    }
}

/// PD-E8: the report, half a day after the visit.
fn inspection_report() -> EvidenceItem {
    EvidenceItem {
        captured_at: Some(t0() + Duration::hours(60)),
        ..item(ProofKind::InspectionReport)
    }
}

// ---- Checking helpers ----------------------------------------------------------------------

fn evaluate(key: &str, items: &[EvidenceItem]) -> aftersales_domain::evidence::EvidenceVerdict {
    let s = scenario(key);
    s.requirement.evaluate(items, &context(), &s.rule)
}

/// Every problem names what it is about the same way: the message ends with its rule, an
/// item problem points at an item of its proof kind, a missing proof has no item of its kind.
fn assert_well_formed(items: &[EvidenceItem], problems: &[Problem]) {
    for p in problems {
        assert!(
            p.message.ends_with(&format!("— {}", p.rule)),
            "message does not end with its rule: {p:?}"
        );
        assert!(p.path.starts_with("requirement"), "{p:?}");
        match p.item {
            Some(i) => {
                assert_ne!(p.code, "MISSING", "{p:?}");
                assert_eq!(Some(items[i].kind), p.proof, "{p:?}");
            }
            None => {
                assert_eq!(p.code, "MISSING", "{p:?}");
                let kind = p.proof.expect("a missing problem names its proof");
                assert!(p.message.contains(kind.label()), "{p:?}");
                assert!(items.iter().all(|i| i.kind != kind), "{p:?}");
            }
        }
    }
}

fn codes(problems: &[Problem]) -> Vec<(&str, &str)> {
    let mut out: Vec<(&str, &str)> = problems
        .iter()
        .map(|p| (p.code.as_str(), p.rule.as_str()))
        .collect();
    out.sort();
    out
}

/// One way of breaking a valid evidence set, and the problems (code, rule) it must cause.
struct Break {
    name: &'static str,
    mutate: fn(&mut Vec<EvidenceItem>),
    expect: &'static [(&'static str, &'static str)],
}

fn brk(
    name: &'static str,
    mutate: fn(&mut Vec<EvidenceItem>),
    expect: &'static [(&'static str, &'static str)],
) -> Break {
    Break {
        name,
        mutate,
        expect,
    }
}

/// `valid` meets the scenario through the alternative at `alt`; each break fails it with
/// exactly the expected problems under `alt`, and every other alternative only reports its
/// proofs as missing.
fn assert_breaks(key: &str, valid: Vec<EvidenceItem>, alt: &str, breaks: &[Break]) {
    let s = scenario(key);
    let ok = evaluate(key, &valid);
    assert!(ok.met, "{key}: the valid set fails: {:#?}", ok.problems);
    assert!(ok.problems.is_empty());
    for b in breaks {
        let mut items = valid.clone();
        (b.mutate)(&mut items);
        let v = evaluate(key, &items);
        assert!(!v.met, "{key} / {}: still met", b.name);
        assert!(v.used.is_empty(), "{key} / {}: {:?}", b.name, v.used);
        assert_well_formed(&items, &v.problems);
        let (mine, others): (Vec<Problem>, Vec<Problem>) = v
            .problems
            .iter()
            .cloned()
            .partition(|p| p.path.starts_with(alt));
        let mut want = b.expect.to_vec();
        want.sort();
        assert_eq!(codes(&mine), want, "{key} / {}: {:#?}", b.name, v.problems);
        for p in &others {
            assert_eq!(
                (p.code.as_str(), p.rule.as_str()),
                ("MISSING", s.rule.as_str()),
                "{key} / {}: another alternative reports more than its missing proof: {p:?}",
                b.name
            );
        }
    }
}

// ---- PD-E0: the requirement algebra --------------------------------------------------------

fn proof(kind: ProofKind) -> Requirement {
    Requirement::Proof {
        proof: kind,
        checks: vec![],
    }
}

fn proof_with(kind: ProofKind, checks: &[Check]) -> Requirement {
    Requirement::Proof {
        proof: kind,
        checks: checks.to_vec(),
    }
}

fn all_of(rs: Vec<Requirement>) -> Requirement {
    Requirement::AllOf {
        all_of: rs,
        checks: vec![],
    }
}

fn any_of(rs: Vec<Requirement>) -> Requirement {
    Requirement::AnyOf { any_of: rs }
}

fn paths(problems: &[Problem]) -> Vec<&str> {
    problems.iter().map(|p| p.path.as_str()).collect()
}

#[test]
fn pd_e0_bare_proof_is_met_by_its_item_and_missing_without_it() {
    let r = proof(ProofKind::ShippingSlip);
    let ctx = EvidenceContext::default();
    let met = r.evaluate(&[shipping_slip()], &ctx, "PD-E0");
    assert!(met.met);
    assert_eq!(met.used, vec![0]);
    assert!(met.problems.is_empty());

    // An item of another kind does not count.
    let items = [item(ProofKind::InspectionReport)];
    let missing = r.evaluate(&items, &ctx, "PD-E0");
    assert!(!missing.met);
    assert!(missing.used.is_empty());
    assert_eq!(missing.problems.len(), 1);
    let p = &missing.problems[0];
    assert_eq!(p.code, "MISSING");
    assert_eq!(p.rule, "PD-E0");
    assert_eq!(p.path, "requirement");
    assert_eq!(p.proof, Some(ProofKind::ShippingSlip));
    assert_eq!(p.item, None);
    assert!(p.message.contains("shipping slip"), "{}", p.message);
    assert_well_formed(&items, &missing.problems);

    let none = r.evaluate(&[], &ctx, "PD-E0");
    assert_eq!(codes(&none.problems), vec![("MISSING", "PD-E0")]);
}

#[test]
fn pd_e0_all_of_needs_every_item_and_reports_every_missing_one() {
    let r = all_of(vec![
        proof(ProofKind::ShippingSlip),
        proof(ProofKind::TransferScreenshot),
        proof(ProofKind::InspectionReport),
    ]);
    let ctx = EvidenceContext::default();

    // Every item, in any order: used lists them in the requirement's order.
    let items = [
        item(ProofKind::InspectionReport),
        shipping_slip(),
        transfer(),
    ];
    let met = r.evaluate(&items, &ctx, "PD-E0");
    assert!(met.met, "{:#?}", met.problems);
    assert_eq!(met.used, vec![1, 2, 0]);

    // One present: the other two are both reported, each at its own place.
    let items = [transfer()];
    let v = r.evaluate(&items, &ctx, "PD-E0");
    assert!(!v.met);
    assert!(v.used.is_empty(), "nothing is used while unmet");
    assert_eq!(
        paths(&v.problems),
        vec!["requirement.all_of[0]", "requirement.all_of[2]"]
    );
    assert_eq!(
        v.problems.iter().map(|p| p.proof).collect::<Vec<_>>(),
        vec![
            Some(ProofKind::ShippingSlip),
            Some(ProofKind::InspectionReport)
        ]
    );
    assert!(v.problems.iter().all(|p| p.code == "MISSING"));
    assert_well_formed(&items, &v.problems);

    // Nothing: all three.
    let v = r.evaluate(&[], &ctx, "PD-E0");
    assert_eq!(
        paths(&v.problems),
        vec![
            "requirement.all_of[0]",
            "requirement.all_of[1]",
            "requirement.all_of[2]"
        ]
    );

    // An invalid item and a missing one are both reported.
    let r = all_of(vec![
        proof(ProofKind::ShippingSlip),
        proof(ProofKind::ChatScreenshot),
    ]);
    let items = [EvidenceItem {
        source: Some(Source::Qq),
        ..platform_chat()
    }];
    let v = r.evaluate(&items, &ctx, "PD-E0");
    assert_eq!(
        codes(&v.problems),
        vec![("MISSING", "PD-E0"), ("NOT_PLATFORM_CHAT", "PD-E9")]
    );
    assert_eq!(
        paths(&v.problems),
        vec!["requirement.all_of[0]", "requirement.all_of[1]"]
    );
    assert_eq!(v.problems[1].item, Some(0));
    assert_well_formed(&items, &v.problems);

    // An empty all_of needs nothing.
    assert!(all_of(vec![]).evaluate(&[], &ctx, "PD-E0").met);
}

#[test]
fn pd_e0_any_of_is_met_by_any_alternative() {
    let r = any_of(vec![
        proof(ProofKind::ShippingSlip),
        proof(ProofKind::TransferScreenshot),
    ]);
    let ctx = EvidenceContext::default();
    let first = r.evaluate(&[shipping_slip()], &ctx, "PD-E0");
    assert!(first.met);
    assert_eq!(first.used, vec![0]);
    let second = r.evaluate(
        &[item(ProofKind::InspectionReport), transfer()],
        &ctx,
        "PD-E0",
    );
    assert!(second.met);
    assert_eq!(second.used, vec![1]);
    // Both: the first alternative that is met is the one used.
    let both = r.evaluate(&[transfer(), shipping_slip()], &ctx, "PD-E0");
    assert!(both.met);
    assert_eq!(both.used, vec![1]);
}

#[test]
fn pd_e0_unmet_any_of_reports_every_alternative_with_distinct_paths() {
    let r = any_of(vec![
        proof_with(ProofKind::ChatScreenshot, &[Check::BuyerConfirms]),
        proof(ProofKind::ShippingSlip),
        all_of(vec![
            proof(ProofKind::TransferScreenshot),
            proof(ProofKind::InspectionReport),
        ]),
    ]);
    let ctx = EvidenceContext::default();
    let items = [
        EvidenceItem {
            buyer_confirms: false,
            ..platform_chat()
        },
        transfer(),
    ];
    let v = r.evaluate(&items, &ctx, "PD-E0");
    assert!(!v.met);
    assert!(v.used.is_empty());
    assert_eq!(
        paths(&v.problems),
        vec![
            "requirement.any_of[0]",
            "requirement.any_of[1]",
            "requirement.any_of[2].all_of[1]"
        ]
    );
    assert_eq!(
        codes(&v.problems),
        vec![
            ("MISSING", "PD-E0"),
            ("MISSING", "PD-E0"),
            ("NO_BUYER_CONFIRMATION", "PD-E0")
        ]
    );
    assert_well_formed(&items, &v.problems);

    // Nothing at all: one problem per alternative (and per proof of a nested all_of), every
    // path distinct.
    let v = r.evaluate(&[], &ctx, "PD-E0");
    let ps = paths(&v.problems);
    assert_eq!(ps.len(), 4);
    let distinct: std::collections::BTreeSet<&str> = ps.iter().copied().collect();
    assert_eq!(distinct.len(), 4, "{ps:?}");
}

#[test]
fn pd_e0_any_of_nested_in_all_of() {
    let r = all_of(vec![
        proof(ProofKind::ShippingSlip),
        any_of(vec![
            proof_with(ProofKind::ChatScreenshot, &[Check::BuyerConfirms]),
            proof(ProofKind::TransferScreenshot),
        ]),
    ]);
    let ctx = EvidenceContext::default();

    let with_chat = r.evaluate(&[platform_chat(), shipping_slip()], &ctx, "PD-E0");
    assert!(with_chat.met, "{:#?}", with_chat.problems);
    assert_eq!(with_chat.used, vec![1, 0]);
    let with_transfer = r.evaluate(&[shipping_slip(), transfer()], &ctx, "PD-E0");
    assert!(with_transfer.met);
    assert_eq!(with_transfer.used, vec![0, 1]);

    // The slip alone: the nested any_of reports both its alternatives.
    let v = r.evaluate(&[shipping_slip()], &ctx, "PD-E0");
    assert!(!v.met);
    assert_eq!(
        paths(&v.problems),
        vec![
            "requirement.all_of[1].any_of[0]",
            "requirement.all_of[1].any_of[1]"
        ]
    );
    // An alternative alone without the slip: the slip is missing.
    let v = r.evaluate(&[transfer()], &ctx, "PD-E0");
    assert_eq!(paths(&v.problems), vec!["requirement.all_of[0]"]);
    assert_eq!(v.problems[0].proof, Some(ProofKind::ShippingSlip));
    // Nothing: three problems.
    assert_eq!(r.evaluate(&[], &ctx, "PD-E0").problems.len(), 3);
}

#[test]
fn pd_e0_the_best_candidate_of_a_kind_is_used() {
    let r = proof_with(ProofKind::ChatScreenshot, &[Check::BuyerConfirms]);
    let ctx = EvidenceContext::default();
    let qq = EvidenceItem {
        source: Some(Source::Qq),
        ..platform_chat()
    };
    // A valid one wins over an invalid one before it.
    let v = r.evaluate(&[qq.clone(), platform_chat()], &ctx, "PD-E0");
    assert!(v.met, "{:#?}", v.problems);
    assert_eq!(v.used, vec![1]);
    // ... and after it.
    let v = r.evaluate(&[platform_chat(), qq.clone()], &ctx, "PD-E0");
    assert!(v.met);
    assert_eq!(v.used, vec![0]);
    // Items of other kinds in between do not matter.
    let v = r.evaluate(
        &[qq.clone(), shipping_slip(), transfer(), platform_chat()],
        &ctx,
        "PD-E0",
    );
    assert!(v.met);
    assert_eq!(v.used, vec![3]);

    // None valid: the problems of the closest one are reported, pointing at it.
    let bad = EvidenceItem {
        source: Some(Source::Wechat),
        continuous: false,
        complete: false,
        buyer_confirms: false,
        ..platform_chat()
    };
    let almost = EvidenceItem {
        continuous: false,
        ..platform_chat()
    };
    let items = [bad, almost];
    let v = r.evaluate(&items, &ctx, "PD-E0");
    assert!(!v.met);
    assert_eq!(codes(&v.problems), vec![("NOT_CONTINUOUS", "PD-E9")]);
    assert_eq!(v.problems[0].item, Some(1));
    assert_well_formed(&items, &v.problems);
}

#[test]
fn pd_e0_policy_requirements_are_the_catalogue_expressions() {
    let mut keys: Vec<&str> = pdd().evidence.iter().map(|s| s.scenario.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            "appliance_quality",
            "compensation_not_paid",
            "damaged_return_refused",
            "damaged_return_signed",
            "empty_parcel",
            "goods_not_received",
            "return_not_received",
            "tracking_not_found"
        ]
    );
    let pd_e1 = scenario("goods_not_received");
    assert_eq!(pd_e1.rule, "PD-E1");
    assert_eq!(
        pd_e1.requirement,
        any_of(vec![
            Requirement::AllOf {
                all_of: vec![
                    proof(ProofKind::ShippingSlip),
                    proof_with(
                        ProofKind::RedStampProof,
                        &[Check::HandwrittenDetailsOnPrintedForm]
                    ),
                ],
                checks: vec![GroupCheck::SameRecipient],
            },
            proof_with(ProofKind::ChatScreenshot, &[Check::BuyerConfirms]),
        ])
    );
    assert_eq!(
        pd_e1.requirement.proofs(),
        vec![
            ProofKind::ShippingSlip,
            ProofKind::RedStampProof,
            ProofKind::ChatScreenshot
        ]
    );
    let pd_e8 = scenario("appliance_quality");
    assert_eq!(pd_e8.progress, Some(ProofKind::TechnicianVisitMessage));
    assert_eq!(
        pd_e8.requirement,
        Requirement::AllOf {
            all_of: vec![
                proof_with(
                    ProofKind::TechnicianVisitMessage,
                    &[Check::PostedWithin72HoursWithVisitTime]
                ),
                proof_with(ProofKind::InspectionReport, &[Check::WithinOneWeek]),
            ],
            checks: vec![GroupCheck::ReportWithin72HoursOfVisit],
        }
    );
    assert_eq!(
        scenario("damaged_return_refused")
            .if_return_signed
            .as_deref(),
        Some("damaged_return_signed")
    );
    for (key, rule) in [
        ("compensation_not_paid", "PD-E2"),
        ("return_not_received", "PD-E3"),
        ("damaged_return_refused", "PD-E4"),
        ("damaged_return_signed", "PD-E5"),
        ("tracking_not_found", "PD-E6"),
        ("empty_parcel", "PD-E7"),
        ("appliance_quality", "PD-E8"),
    ] {
        assert_eq!(scenario(key).rule, rule, "{key}");
    }
}

// ---- PD-E1: goods not received -------------------------------------------------------------

#[test]
fn pd_e1_shipping_slip_and_red_stamp_or_buyer_chat() {
    let v = evaluate("goods_not_received", &[shipping_slip(), red_stamp()]);
    assert!(v.met, "{:#?}", v.problems);
    assert_eq!(v.used, vec![0, 1]);
    let v = evaluate("goods_not_received", &[red_stamp(), shipping_slip()]);
    assert!(v.met);
    assert_eq!(v.used, vec![1, 0]);
    let v = evaluate("goods_not_received", &[platform_chat()]);
    assert!(v.met, "{:#?}", v.problems);
    assert_eq!(v.used, vec![0]);
    // Half of the first alternative is not enough, nor is anything else.
    assert!(!evaluate("goods_not_received", &[shipping_slip()]).met);
    assert!(!evaluate("goods_not_received", &[red_stamp()]).met);
    let none = evaluate("goods_not_received", &[]);
    assert_eq!(
        paths(&none.problems),
        vec![
            "requirement.any_of[0].all_of[0]",
            "requirement.any_of[0].all_of[1]",
            "requirement.any_of[1]"
        ]
    );
    assert_eq!(
        codes(&none.problems),
        vec![
            ("MISSING", "PD-E1"),
            ("MISSING", "PD-E1"),
            ("MISSING", "PD-E1")
        ]
    );
}

#[test]
fn pd_e1_pd_e9_every_broken_slip_or_red_stamp_fails() {
    assert_breaks(
        "goods_not_received",
        vec![shipping_slip(), red_stamp()],
        "requirement.any_of[0]",
        &[
            brk(
                "no shipping slip",
                |v| {
                    v.remove(0);
                },
                &[("MISSING", "PD-E1")],
            ),
            brk(
                "no red-stamp proof",
                |v| {
                    v.remove(1);
                },
                &[("MISSING", "PD-E1")],
            ),
            brk(
                "finance stamp",
                |v| v[1].stamp = Some(Stamp::FinanceStamp),
                &[("WRONG_STAMP", "PD-E9")],
            ),
            brk(
                "business stamp",
                |v| v[1].stamp = Some(Stamp::BusinessStamp),
                &[("WRONG_STAMP", "PD-E9")],
            ),
            brk(
                "no stamp",
                |v| v[1].stamp = Some(Stamp::NoStamp),
                &[("NO_STAMP", "PD-E9")],
            ),
            brk(
                "stamp not stated",
                |v| v[1].stamp = None,
                &[("NO_STAMP", "PD-E9")],
            ),
            // A detail that is not shown at all is missing, and so not handwritten either.
            brk(
                "no tracking number",
                |v| {
                    v[1].handwritten
                        .retain(|f| *f != StampField::TrackingNumber)
                },
                &[("DETAILS_MISSING", "PD-E9"), ("NOT_HANDWRITTEN", "PD-E1")],
            ),
            brk(
                "no recipient name",
                |v| v[1].handwritten.retain(|f| *f != StampField::RecipientName),
                &[("DETAILS_MISSING", "PD-E9"), ("NOT_HANDWRITTEN", "PD-E1")],
            ),
            brk(
                "no courier name",
                |v| v[1].handwritten.retain(|f| *f != StampField::CourierName),
                &[("DETAILS_MISSING", "PD-E9"), ("NOT_HANDWRITTEN", "PD-E1")],
            ),
            brk(
                "no delivery date",
                |v| v[1].handwritten.retain(|f| *f != StampField::DeliveryDate),
                &[("DETAILS_MISSING", "PD-E9"), ("NOT_HANDWRITTEN", "PD-E1")],
            ),
            brk(
                "no signature",
                |v| v[1].signer_signature = false,
                &[("NO_SIGNATURE", "PD-E9")],
            ),
            brk(
                "fully printed",
                |v| {
                    v[1].handwritten.clear();
                    v[1].printed = StampField::ALL.to_vec();
                },
                &[("FULLY_PRINTED", "PD-E1")],
            ),
            brk(
                "fully handwritten",
                |v| v[1].printed_form = false,
                &[("FULLY_HANDWRITTEN", "PD-E1")],
            ),
            brk(
                "delivery date printed",
                |v| {
                    v[1].handwritten.retain(|f| *f != StampField::DeliveryDate);
                    v[1].printed = vec![StampField::DeliveryDate];
                },
                &[("NOT_HANDWRITTEN", "PD-E1")],
            ),
            brk(
                "slip recipient name differs",
                |v| v[0].recipient_name = Some("李四".into()),
                &[("RECIPIENT_MISMATCH", "PD-E9")],
            ),
            brk(
                "slip recipient address differs",
                |v| v[0].recipient_address = Some("浙江省杭州市滨江区江南大道 2 号".into()),
                &[("RECIPIENT_MISMATCH", "PD-E9")],
            ),
            brk(
                "red-stamp recipient differs",
                |v| v[1].recipient_name = Some("李四".into()),
                &[("RECIPIENT_MISMATCH", "PD-E9")],
            ),
            brk(
                "no recipient name on either",
                |v| {
                    v[0].recipient_name = None;
                    v[1].recipient_name = None;
                },
                &[("RECIPIENT_MISMATCH", "PD-E9")],
            ),
            brk(
                "tracking-page screenshot instead of the red-stamp proof",
                |v| v[1] = tracking_page_screenshot(),
                &[("MISSING", "PD-E1")],
            ),
        ],
    );
}

#[test]
fn pd_e1_pd_e9_every_broken_chat_fails() {
    assert_breaks(
        "goods_not_received",
        vec![platform_chat()],
        "requirement.any_of[1]",
        &[
            brk(
                "QQ",
                |v| v[0].source = Some(Source::Qq),
                &[("NOT_PLATFORM_CHAT", "PD-E9")],
            ),
            brk(
                "WeChat",
                |v| v[0].source = Some(Source::Wechat),
                &[("NOT_PLATFORM_CHAT", "PD-E9")],
            ),
            brk(
                "source not stated",
                |v| v[0].source = None,
                &[("NOT_PLATFORM_CHAT", "PD-E9")],
            ),
            brk(
                "not continuous",
                |v| v[0].continuous = false,
                &[("NOT_CONTINUOUS", "PD-E9")],
            ),
            brk(
                "not complete",
                |v| v[0].complete = false,
                &[("INCOMPLETE", "PD-E9")],
            ),
            brk(
                "buyer does not confirm receipt",
                |v| v[0].buyer_confirms = false,
                &[("NO_BUYER_CONFIRMATION", "PD-E1")],
            ),
            brk(
                "no chat",
                |v| {
                    v.remove(0);
                },
                &[("MISSING", "PD-E1")],
            ),
        ],
    );
    // The message names where it was taken.
    for (source, name) in [(Source::Qq, "qq"), (Source::Wechat, "wechat")] {
        let items = [EvidenceItem {
            source: Some(source),
            ..platform_chat()
        }];
        let v = evaluate("goods_not_received", &items);
        let p = v
            .problems
            .iter()
            .find(|p| p.code == "NOT_PLATFORM_CHAT")
            .unwrap();
        assert_eq!(p.path, "requirement.any_of[1]");
        assert_eq!(p.item, Some(0));
        assert!(p.message.contains(name), "{}", p.message);
        assert!(p.message.contains("platform's chat"), "{}", p.message);
    }
}

#[test]
fn pd_e1_tracking_page_screenshot_is_not_proof_of_signing() {
    let items = [shipping_slip(), tracking_page_screenshot()];
    let v = evaluate("goods_not_received", &items);
    assert!(!v.met);
    assert_eq!(
        v.problems
            .iter()
            .map(|p| (p.path.as_str(), p.code.as_str(), p.proof))
            .collect::<Vec<_>>(),
        vec![
            (
                "requirement.any_of[0].all_of[1]",
                "MISSING",
                Some(ProofKind::RedStampProof)
            ),
            (
                "requirement.any_of[1]",
                "MISSING",
                Some(ProofKind::ChatScreenshot)
            ),
        ]
    );
    assert!(v.problems.iter().all(|p| p.rule == "PD-E1"));
    assert_well_formed(&items, &v.problems);
    // Even alone, with everything it can show.
    let v = evaluate("goods_not_received", &[tracking_page_screenshot()]);
    assert!(!v.met);
    assert!(v.problems.iter().all(|p| p.code == "MISSING"));
}

#[test]
fn pd_e9_red_stamp_problems_name_the_stamp_the_details_and_the_recipient() {
    let finance = [
        shipping_slip(),
        EvidenceItem {
            stamp: Some(Stamp::FinanceStamp),
            ..red_stamp()
        },
    ];
    let v = evaluate("goods_not_received", &finance);
    let p = v.problems.iter().find(|p| p.code == "WRONG_STAMP").unwrap();
    assert_eq!(p.rule, "PD-E9");
    assert_eq!(p.item, Some(1));
    assert_eq!(p.proof, Some(ProofKind::RedStampProof));
    assert_eq!(p.path, "requirement.any_of[0].all_of[1]");
    assert!(p.message.contains("finance stamp"), "{}", p.message);
    assert!(p.message.contains("carrier red stamp"), "{}", p.message);

    let business = [EvidenceItem {
        stamp: Some(Stamp::BusinessStamp),
        ..not_signed_red_stamp()
    }];
    let v = evaluate("return_not_received", &business);
    let p = v.problems.iter().find(|p| p.code == "WRONG_STAMP").unwrap();
    assert!(p.message.contains("business stamp"), "{}", p.message);
    assert!(p.message.contains("carrier red stamp"), "{}", p.message);

    // The missing details are named.
    let items = [EvidenceItem {
        handwritten: vec![StampField::TrackingNumber, StampField::RecipientName],
        ..not_signed_red_stamp()
    }];
    let v = evaluate("return_not_received", &items);
    let p = v
        .problems
        .iter()
        .find(|p| p.code == "DETAILS_MISSING")
        .unwrap();
    assert!(p.message.contains("courier_name"), "{}", p.message);
    assert!(p.message.contains("delivery_date"), "{}", p.message);
    assert!(!p.message.contains("tracking_number"), "{}", p.message);

    // The recipient mismatch points at the red-stamp proof and the whole group.
    let items = [
        EvidenceItem {
            recipient_name: Some("李四".into()),
            ..shipping_slip()
        },
        red_stamp(),
    ];
    let v = evaluate("goods_not_received", &items);
    let p = v
        .problems
        .iter()
        .find(|p| p.code == "RECIPIENT_MISMATCH")
        .unwrap();
    assert_eq!(p.path, "requirement.any_of[0]");
    assert_eq!(p.item, Some(1));
    assert_eq!(p.proof, Some(ProofKind::RedStampProof));

    // A blank red-stamp proof: every problem at once, not only the first.
    let items = [shipping_slip(), item(ProofKind::RedStampProof)];
    let v = evaluate("goods_not_received", &items);
    let mine = codes(&v.problems);
    for expected in [
        ("DETAILS_MISSING", "PD-E9"),
        ("NO_SIGNATURE", "PD-E9"),
        ("NO_STAMP", "PD-E9"),
    ] {
        assert!(mine.contains(&expected), "{expected:?} not in {mine:?}");
    }
    assert!(v
        .problems
        .iter()
        .all(|p| p.item.is_none() || p.item == Some(1)));
}

#[test]
fn pd_e9_the_shipping_slip_matching_the_red_stamp_is_used_among_several() {
    let other_order = EvidenceItem {
        recipient_name: Some("李四".into()),
        recipient_address: Some("浙江省杭州市滨江区江南大道 2 号".into()),
        ..shipping_slip()
    };
    // The first slip does not go with the red-stamp proof; the second does.
    let items = [other_order.clone(), shipping_slip(), red_stamp()];
    let v = evaluate("goods_not_received", &items);
    assert!(v.met, "{:#?}", v.problems);
    assert_eq!(v.used, vec![1, 2]);
    // Likewise with two red-stamp proofs, the first for another recipient.
    let items = [
        EvidenceItem {
            recipient_name: Some("李四".into()),
            ..red_stamp()
        },
        shipping_slip(),
        red_stamp(),
    ];
    let v = evaluate("goods_not_received", &items);
    assert!(v.met, "{:#?}", v.problems);
    assert_eq!(v.used, vec![1, 2]);
    // An invalid red-stamp proof that would match does not count.
    let items = [
        shipping_slip(),
        EvidenceItem {
            stamp: Some(Stamp::FinanceStamp),
            ..red_stamp()
        },
        EvidenceItem {
            recipient_name: Some("李四".into()),
            ..red_stamp()
        },
    ];
    let v = evaluate("goods_not_received", &items);
    assert!(!v.met);
    assert_eq!(
        codes(&v.problems),
        vec![("MISSING", "PD-E1"), ("RECIPIENT_MISMATCH", "PD-E9")]
    );
    // No slip matches: the mismatch is reported against the red-stamp proof.
    let items = [other_order.clone(), other_order, red_stamp()];
    let v = evaluate("goods_not_received", &items);
    assert!(!v.met);
    let p = v
        .problems
        .iter()
        .find(|p| p.code == "RECIPIENT_MISMATCH")
        .unwrap();
    assert_eq!(p.item, Some(2));
    assert_eq!(p.path, "requirement.any_of[0]");
}

// ---- PD-E2: promised compensation not paid -------------------------------------------------

#[test]
fn pd_e2_transfer_to_the_buyer_or_buyer_chat() {
    let v = evaluate("compensation_not_paid", &[transfer()]);
    assert!(v.met, "{:#?}", v.problems);
    assert_eq!(v.used, vec![0]);
    let v = evaluate("compensation_not_paid", &[platform_chat()]);
    assert!(v.met, "{:#?}", v.problems);
    assert_eq!(v.used, vec![0]);
}

#[test]
fn pd_e2_wrong_payee_or_amount_fails() {
    assert_breaks(
        "compensation_not_paid",
        vec![transfer()],
        "requirement.any_of[0]",
        &[
            brk(
                "paid to someone else",
                |v| v[0].payee_account = Some("lisi@alipay".into()),
                &[("WRONG_PAYEE", "PD-E2")],
            ),
            brk(
                "payee not shown",
                |v| v[0].payee_account = None,
                &[("WRONG_PAYEE", "PD-E2")],
            ),
            brk(
                "less than promised",
                |v| v[0].amount = Some(fen(400)),
                &[("WRONG_AMOUNT", "PD-E2")],
            ),
            brk(
                "more than promised",
                |v| v[0].amount = Some(fen(600)),
                &[("WRONG_AMOUNT", "PD-E2")],
            ),
            brk(
                "amount not shown",
                |v| v[0].amount = None,
                &[("WRONG_AMOUNT", "PD-E2")],
            ),
            brk(
                "wrong payee and amount",
                |v| {
                    v[0].payee_account = Some("lisi@alipay".into());
                    v[0].amount = Some(fen(1));
                },
                &[("WRONG_AMOUNT", "PD-E2"), ("WRONG_PAYEE", "PD-E2")],
            ),
            brk(
                "no transfer",
                |v| {
                    v.remove(0);
                },
                &[("MISSING", "PD-E2")],
            ),
        ],
    );
    assert_breaks(
        "compensation_not_paid",
        vec![platform_chat()],
        "requirement.any_of[1]",
        &[
            brk(
                "buyer does not confirm the money",
                |v| v[0].buyer_confirms = false,
                &[("NO_BUYER_CONFIRMATION", "PD-E2")],
            ),
            brk(
                "WeChat",
                |v| v[0].source = Some(Source::Wechat),
                &[("NOT_PLATFORM_CHAT", "PD-E9")],
            ),
            brk(
                "not continuous",
                |v| v[0].continuous = false,
                &[("NOT_CONTINUOUS", "PD-E9")],
            ),
        ],
    );

    let v = evaluate(
        "compensation_not_paid",
        &[EvidenceItem {
            amount: Some(fen(400)),
            payee_account: Some("lisi@alipay".into()),
            ..transfer()
        }],
    );
    let amount = v
        .problems
        .iter()
        .find(|p| p.code == "WRONG_AMOUNT")
        .unwrap();
    assert!(amount.message.contains("4.00"), "{}", amount.message);
    assert!(amount.message.contains("5.00"), "{}", amount.message);
    let payee = v.problems.iter().find(|p| p.code == "WRONG_PAYEE").unwrap();
    assert!(payee.message.contains("lisi@alipay"), "{}", payee.message);

    // Without the buyer's account and the promised amount nothing can be verified, and the
    // answer says what the request lacks rather than blaming the proof.
    let s = scenario("compensation_not_paid");
    let v = s
        .requirement
        .evaluate(&[transfer()], &EvidenceContext::default(), &s.rule);
    assert!(!v.met);
    let mine: Vec<Problem> = v
        .problems
        .iter()
        .filter(|p| p.path == "requirement.any_of[0]")
        .cloned()
        .collect();
    assert_eq!(
        codes(&mine),
        vec![("CONTEXT_MISSING", "PD-E2"), ("CONTEXT_MISSING", "PD-E2")]
    );
}

// ---- PD-E3: the buyer's return never arrived -----------------------------------------------

#[test]
fn pd_e3_carrier_internal_record_or_red_stamp_showing_not_signed() {
    let v = evaluate("return_not_received", &[carrier_internal_record()]);
    assert!(v.met, "{:#?}", v.problems);
    assert_eq!(v.used, vec![0]);
    let v = evaluate("return_not_received", &[not_signed_red_stamp()]);
    assert!(v.met, "{:#?}", v.problems);
    assert_eq!(v.used, vec![0]);

    assert_breaks(
        "return_not_received",
        vec![carrier_internal_record()],
        "requirement.any_of[0]",
        &[
            brk(
                "QQ",
                |v| v[0].source = Some(Source::Qq),
                &[("NOT_CARRIER_SYSTEM", "PD-E3")],
            ),
            brk(
                "WeChat",
                |v| v[0].source = Some(Source::Wechat),
                &[("NOT_CARRIER_SYSTEM", "PD-E3")],
            ),
            brk(
                "tracking page",
                |v| v[0].source = Some(Source::TrackingPage),
                &[("NOT_CARRIER_SYSTEM", "PD-E3")],
            ),
            brk(
                "source not stated",
                |v| v[0].source = None,
                &[("NOT_CARRIER_SYSTEM", "PD-E3")],
            ),
            brk(
                "signing not disproved",
                |v| v[0].shows_not_signed = false,
                &[("SIGNING_NOT_DISPROVED", "PD-E3")],
            ),
            brk(
                "no record",
                |v| {
                    v.remove(0);
                },
                &[("MISSING", "PD-E3")],
            ),
        ],
    );
    assert_breaks(
        "return_not_received",
        vec![not_signed_red_stamp()],
        "requirement.any_of[1]",
        &[
            brk(
                "signing not disproved",
                |v| v[0].shows_not_signed = false,
                &[("SIGNING_NOT_DISPROVED", "PD-E3")],
            ),
            brk(
                "finance stamp",
                |v| v[0].stamp = Some(Stamp::FinanceStamp),
                &[("WRONG_STAMP", "PD-E9")],
            ),
            brk(
                "no stamp",
                |v| v[0].stamp = Some(Stamp::NoStamp),
                &[("NO_STAMP", "PD-E9")],
            ),
            brk(
                "no delivery date",
                |v| v[0].handwritten.retain(|f| *f != StampField::DeliveryDate),
                &[("DETAILS_MISSING", "PD-E9")],
            ),
            brk(
                "no signature",
                |v| v[0].signer_signature = false,
                &[("NO_SIGNATURE", "PD-E9")],
            ),
            brk(
                "no red-stamp proof",
                |v| {
                    v.remove(0);
                },
                &[("MISSING", "PD-E3")],
            ),
        ],
    );

    // The message says QQ and WeChat evidence is invalid.
    let v = evaluate(
        "return_not_received",
        &[EvidenceItem {
            source: Some(Source::Wechat),
            ..carrier_internal_record()
        }],
    );
    let p = v
        .problems
        .iter()
        .find(|p| p.code == "NOT_CARRIER_SYSTEM")
        .unwrap();
    assert!(p.message.contains("wechat"), "{}", p.message);
    assert!(p.message.contains("QQ and WeChat"), "{}", p.message);
}

// ---- PD-E4: a damaged return refused -------------------------------------------------------

#[test]
fn pd_e4_each_of_three_alternatives() {
    for (items, used) in [
        (vec![returned_goods_photo()], vec![0]),
        (vec![unboxing_video()], vec![0]),
        (vec![refusal_red_stamp()], vec![0]),
        (
            vec![item(ProofKind::ShippingSlip), refusal_red_stamp()],
            vec![1],
        ),
    ] {
        let v = evaluate("damaged_return_refused", &items);
        assert!(v.met, "{items:?}: {:#?}", v.problems);
        assert_eq!(v.used, used);
    }
    let none = evaluate("damaged_return_refused", &[]);
    assert_eq!(
        paths(&none.problems),
        vec![
            "requirement.any_of[0]",
            "requirement.any_of[1]",
            "requirement.any_of[2]"
        ]
    );
}

#[test]
fn pd_e4_every_broken_alternative_fails() {
    assert_breaks(
        "damaged_return_refused",
        vec![returned_goods_photo()],
        "requirement.any_of[0]",
        &[
            brk(
                "waybill not in the picture",
                |v| v[0].waybill_visible = false,
                &[("NO_WAYBILL", "PD-E4")],
            ),
            brk(
                "defect not marked",
                |v| v[0].defect_marked = false,
                &[("DEFECT_NOT_MARKED", "PD-E4")],
            ),
            brk(
                "not clear",
                |v| v[0].clear = false,
                &[("NOT_CLEAR", "PD-E9")],
            ),
            brk(
                "not complete",
                |v| v[0].complete = false,
                &[("INCOMPLETE", "PD-E9")],
            ),
            brk(
                "no photo",
                |v| {
                    v.remove(0);
                },
                &[("MISSING", "PD-E4")],
            ),
        ],
    );
    assert_breaks(
        "damaged_return_refused",
        vec![unboxing_video()],
        "requirement.any_of[1]",
        &[
            brk(
                "no courier present",
                |v| v[0].courier_present = false,
                &[("NO_COURIER", "PD-E4")],
            ),
            brk(
                "not clear",
                |v| v[0].clear = false,
                &[("NOT_CLEAR", "PD-E9")],
            ),
            brk(
                "not complete",
                |v| v[0].complete = false,
                &[("INCOMPLETE", "PD-E9")],
            ),
            brk(
                "no video",
                |v| {
                    v.remove(0);
                },
                &[("MISSING", "PD-E4")],
            ),
        ],
    );
    assert_breaks(
        "damaged_return_refused",
        vec![refusal_red_stamp()],
        "requirement.any_of[2]",
        &[
            brk(
                "recipient is the buyer",
                |v| v[0].recipient_name = Some(BUYER_NAME.into()),
                &[("RECIPIENT_NOT_SHOP", "PD-E4")],
            ),
            brk(
                "recipient not shown",
                |v| v[0].recipient_name = None,
                &[("RECIPIENT_NOT_SHOP", "PD-E4")],
            ),
            brk(
                "no refusal reason",
                |v| v[0].refusal_reason_stated = false,
                &[("NO_REFUSAL_REASON", "PD-E4")],
            ),
            brk(
                "business stamp",
                |v| v[0].stamp = Some(Stamp::BusinessStamp),
                &[("WRONG_STAMP", "PD-E9")],
            ),
            brk(
                "no signature",
                |v| v[0].signer_signature = false,
                &[("NO_SIGNATURE", "PD-E9")],
            ),
            brk(
                "no red-stamp proof",
                |v| {
                    v.remove(0);
                },
                &[("MISSING", "PD-E4")],
            ),
        ],
    );
    // The shop's name must be known to check the recipient.
    let s = scenario("damaged_return_refused");
    let v = s
        .requirement
        .evaluate(&[refusal_red_stamp()], &EvidenceContext::default(), &s.rule);
    assert!(!v.met);
    assert!(v
        .problems
        .iter()
        .any(|p| p.code == "CONTEXT_MISSING" && p.message.contains("shop_name")));
}

// ---- PD-E5: a damaged return signed for ----------------------------------------------------

#[test]
fn pd_e5_photo_and_handwritten_damage_red_stamp() {
    let v = evaluate(
        "damaged_return_signed",
        &[damage_red_stamp(), returned_goods_photo()],
    );
    assert!(v.met, "{:#?}", v.problems);
    assert_eq!(v.used, vec![1, 0]);
    // PD-E5 only forbids printed details: handwritten on a blank form is fine here.
    let v = evaluate(
        "damaged_return_signed",
        &[
            returned_goods_photo(),
            EvidenceItem {
                printed_form: false,
                ..damage_red_stamp()
            },
        ],
    );
    assert!(v.met, "{:#?}", v.problems);
    // Either half alone is not enough (PD-E0: all_of).
    assert!(!evaluate("damaged_return_signed", &[returned_goods_photo()]).met);
    assert!(!evaluate("damaged_return_signed", &[damage_red_stamp()]).met);
    // PD-E4's alternatives do not meet PD-E5.
    assert!(!evaluate("damaged_return_signed", &[unboxing_video()]).met);
}

#[test]
fn pd_e5_every_broken_item_fails() {
    assert_breaks(
        "damaged_return_signed",
        vec![returned_goods_photo(), damage_red_stamp()],
        "requirement",
        &[
            brk(
                "no photo",
                |v| {
                    v.remove(0);
                },
                &[("MISSING", "PD-E5")],
            ),
            brk(
                "no red-stamp proof",
                |v| {
                    v.remove(1);
                },
                &[("MISSING", "PD-E5")],
            ),
            brk(
                "neither",
                |v| v.clear(),
                &[("MISSING", "PD-E5"), ("MISSING", "PD-E5")],
            ),
            brk(
                "details printed",
                |v| {
                    v[1].handwritten.clear();
                    v[1].printed = StampField::ALL.to_vec();
                },
                &[("PRINTED", "PD-E5")],
            ),
            brk(
                "courier name printed",
                |v| {
                    v[1].handwritten.retain(|f| *f != StampField::CourierName);
                    v[1].printed = vec![StampField::CourierName];
                },
                &[("PRINTED", "PD-E5")],
            ),
            brk(
                "damage not stated",
                |v| v[1].damage_stated = false,
                &[("NO_DAMAGE_STATED", "PD-E5")],
            ),
            brk(
                "finance stamp",
                |v| v[1].stamp = Some(Stamp::FinanceStamp),
                &[("WRONG_STAMP", "PD-E9")],
            ),
            brk(
                "no signature",
                |v| v[1].signer_signature = false,
                &[("NO_SIGNATURE", "PD-E9")],
            ),
            brk(
                "waybill not in the photo",
                |v| v[0].waybill_visible = false,
                &[("NO_WAYBILL", "PD-E5")],
            ),
            brk(
                "defect not marked",
                |v| v[0].defect_marked = false,
                &[("DEFECT_NOT_MARKED", "PD-E5")],
            ),
            brk(
                "photo not clear",
                |v| v[0].clear = false,
                &[("NOT_CLEAR", "PD-E9")],
            ),
            brk(
                "photo not complete",
                |v| v[0].complete = false,
                &[("INCOMPLETE", "PD-E9")],
            ),
        ],
    );
    let v = evaluate(
        "damaged_return_signed",
        &[
            returned_goods_photo(),
            EvidenceItem {
                handwritten: vec![],
                printed: StampField::ALL.to_vec(),
                ..damage_red_stamp()
            },
        ],
    );
    let p = v.problems.iter().find(|p| p.code == "PRINTED").unwrap();
    assert_eq!(p.path, "requirement.all_of[1]");
    assert_eq!(p.item, Some(1));
    assert!(p.message.contains("printed"), "{}", p.message);
}

// ---- PD-E6: tracking cannot be found -------------------------------------------------------

#[test]
fn pd_e6_official_site_record_with_full_history() {
    let v = evaluate("tracking_not_found", &[official_tracking_record()]);
    assert!(v.met, "{:#?}", v.problems);
    assert_eq!(v.used, vec![0]);
    assert_breaks(
        "tracking_not_found",
        vec![official_tracking_record()],
        "requirement",
        &[
            brk(
                "search engine",
                |v| v[0].source = Some(Source::SearchEngine),
                &[("NOT_OFFICIAL_SITE", "PD-E6")],
            ),
            brk(
                "tracking page of a third party",
                |v| v[0].source = Some(Source::TrackingPage),
                &[("NOT_OFFICIAL_SITE", "PD-E6")],
            ),
            brk(
                "source not stated",
                |v| v[0].source = None,
                &[("NOT_OFFICIAL_SITE", "PD-E6")],
            ),
            brk(
                "partial history",
                |v| v[0].full_history = false,
                &[("PARTIAL_HISTORY", "PD-E6")],
            ),
            brk(
                "search engine, partial history",
                |v| {
                    v[0].source = Some(Source::SearchEngine);
                    v[0].full_history = false;
                },
                &[("NOT_OFFICIAL_SITE", "PD-E6"), ("PARTIAL_HISTORY", "PD-E6")],
            ),
            brk(
                "no record",
                |v| {
                    v.remove(0);
                },
                &[("MISSING", "PD-E6")],
            ),
        ],
    );
    let v = evaluate(
        "tracking_not_found",
        &[EvidenceItem {
            source: Some(Source::SearchEngine),
            ..official_tracking_record()
        }],
    );
    assert!(v.problems[0].message.contains("search_engine"));
    assert!(v.problems[0]
        .message
        .contains("search-engine screenshot is invalid"));
}

// ---- PD-E7: empty parcel -------------------------------------------------------------------

#[test]
fn pd_e7_scale_photo_or_carrier_weighing_record() {
    let v = evaluate("empty_parcel", &[weighing_photo()]);
    assert!(v.met, "{:#?}", v.problems);
    assert_eq!(v.used, vec![0]);
    let v = evaluate("empty_parcel", &[carrier_weighing_record()]);
    assert!(v.met, "{:#?}", v.problems);
    assert_eq!(v.used, vec![0]);

    assert_breaks(
        "empty_parcel",
        vec![weighing_photo()],
        "requirement.any_of[0]",
        &[
            brk(
                "no weight",
                |v| v[0].weight_grams = None,
                &[("NO_WEIGHT", "PD-E7")],
            ),
            brk(
                "not clear",
                |v| v[0].clear = false,
                &[("NOT_CLEAR", "PD-E9")],
            ),
            brk(
                "not complete",
                |v| v[0].complete = false,
                &[("INCOMPLETE", "PD-E9")],
            ),
            brk(
                "no photo",
                |v| {
                    v.remove(0);
                },
                &[("MISSING", "PD-E7")],
            ),
        ],
    );
    assert_breaks(
        "empty_parcel",
        vec![carrier_weighing_record()],
        "requirement.any_of[1]",
        &[
            brk(
                "no tracking number",
                |v| v[0].tracking_number = None,
                &[("NO_TRACKING_NUMBER", "PD-E7")],
            ),
            brk(
                "no weight",
                |v| v[0].weight_grams = None,
                &[("NO_WEIGHT", "PD-E7")],
            ),
            brk(
                "neither",
                |v| {
                    v[0].tracking_number = None;
                    v[0].weight_grams = None;
                },
                &[("NO_TRACKING_NUMBER", "PD-E7"), ("NO_WEIGHT", "PD-E7")],
            ),
            brk(
                "WeChat",
                |v| v[0].source = Some(Source::Wechat),
                &[("NOT_CARRIER_SYSTEM", "PD-E7")],
            ),
            brk(
                "QQ",
                |v| v[0].source = Some(Source::Qq),
                &[("NOT_CARRIER_SYSTEM", "PD-E7")],
            ),
            brk(
                "no record",
                |v| {
                    v.remove(0);
                },
                &[("MISSING", "PD-E7")],
            ),
        ],
    );
}

// ---- PD-E8: large appliance under the three guarantees -------------------------------------

#[test]
fn pd_e8_progress_with_visit_time_then_report_within_a_week() {
    let v = evaluate("appliance_quality", &[inspection_report(), visit_message()]);
    assert!(v.met, "{:#?}", v.problems);
    assert_eq!(v.used, vec![1, 0]);

    // Every limit reached exactly still counts: progress 72 h after the report, the visit
    // four days after it, the inspection report 72 h after the visit = one week after the
    // report.
    let edge = [
        EvidenceItem {
            captured_at: Some(t0() + Duration::hours(72)),
            visit_at: Some(t0() + Duration::days(4)),
            ..visit_message()
        },
        EvidenceItem {
            captured_at: Some(t0() + Duration::days(7)),
            ..inspection_report()
        },
    ];
    let v = evaluate("appliance_quality", &edge);
    assert!(v.met, "{:#?}", v.problems);

    // Progress alone is only the first step.
    assert!(!evaluate("appliance_quality", &[visit_message()]).met);
}

#[test]
fn pd_e8_every_late_or_incomplete_step_fails() {
    assert_breaks(
        "appliance_quality",
        vec![visit_message(), inspection_report()],
        "requirement",
        &[
            brk(
                "no progress message",
                |v| {
                    v.remove(0);
                },
                &[("MISSING", "PD-E8")],
            ),
            brk(
                "no inspection report",
                |v| {
                    v.remove(1);
                },
                &[("MISSING", "PD-E8")],
            ),
            brk(
                "progress without visit time",
                |v| v[0].visit_at = None,
                &[("NO_VISIT_TIME", "PD-E8")],
            ),
            brk(
                "progress posted after 72 hours",
                |v| v[0].captured_at = Some(t0() + Duration::hours(72) + Duration::seconds(1)),
                &[("PROGRESS_LATE", "PD-E8")],
            ),
            brk(
                "progress not dated",
                |v| v[0].captured_at = None,
                &[("UNDATED", "PD-E8")],
            ),
            brk(
                "report later than 72 hours after the visit",
                |v| {
                    v[1].captured_at = Some(t0() + Duration::hours(48 + 72) + Duration::seconds(1));
                },
                &[("REPORT_LATE", "PD-E8")],
            ),
            brk(
                "report more than a week after the report",
                |v| {
                    v[0].visit_at = Some(t0() + Duration::days(6));
                    v[1].captured_at = Some(t0() + Duration::days(7) + Duration::seconds(1));
                },
                &[("FLOW_TOO_LONG", "PD-E8")],
            ),
            brk(
                "report not dated",
                |v| v[1].captured_at = None,
                &[("UNDATED", "PD-E8")],
            ),
        ],
    );
    // REPORT_LATE points at the report, for the whole group.
    let items = [
        visit_message(),
        EvidenceItem {
            captured_at: Some(t0() + Duration::hours(48 + 73)),
            ..inspection_report()
        },
    ];
    let v = evaluate("appliance_quality", &items);
    assert_eq!(v.problems.len(), 1);
    assert_eq!(v.problems[0].path, "requirement");
    assert_eq!(v.problems[0].item, Some(1));
    assert_eq!(v.problems[0].proof, Some(ProofKind::InspectionReport));

    // The 72 hours and the week count from the report: without it nothing is in time.
    let s = scenario("appliance_quality");
    let v = s.requirement.evaluate(
        &[visit_message(), inspection_report()],
        &EvidenceContext::default(),
        &s.rule,
    );
    assert_eq!(
        codes(&v.problems),
        vec![("FLOW_TOO_LONG", "PD-E8"), ("PROGRESS_LATE", "PD-E8")]
    );
}

#[test]
fn pd_e8_the_report_follows_the_rescheduled_visit() {
    // The visit was first announced for day 2, then moved to day 4; the report on day 6¼ is
    // within 72 hours of the visit that took place.
    let rescheduled = EvidenceItem {
        captured_at: Some(t0() + Duration::hours(40)),
        visit_at: Some(t0() + Duration::days(4)),
        ..visit_message()
    };
    let report = EvidenceItem {
        captured_at: Some(t0() + Duration::hours(150)),
        ..inspection_report()
    };
    let items = [visit_message(), rescheduled, report.clone()];
    let v = evaluate("appliance_quality", &items);
    assert!(v.met, "{:#?}", v.problems);
    assert_eq!(v.used, vec![1, 2]);
    // Without the rescheduled visit the same report is late.
    let v = evaluate("appliance_quality", &[visit_message(), report]);
    assert_eq!(codes(&v.problems), vec![("REPORT_LATE", "PD-E8")]);
}

// ---- Evidence requests on a case (Case::open + merchant actions) ---------------------------

fn text(s: &str) -> BoundedText {
    BoundedText::parse(s).unwrap()
}

fn evidence_draft(scenario: &str) -> EvidenceDraft {
    EvidenceDraft {
        scenario: scenario.into(),
        reported_at: None,
        buyer_account: Some(BUYER_ACCOUNT.into()),
        promised_amount: Some(fen(PROMISED_FEN)),
        shop_name: Some(SHOP.into()),
    }
}

fn draft(kind: CaseKind, evidence_request: Option<EvidenceDraft>) -> CaseDraft {
    CaseDraft {
        reason: text("买家申请平台介入"),
        evidence_request,
        ..common::draft("pinduoduo", kind, Fulfilment::Received)
    }
}

fn open_request(
    scenario: &str,
    now: DateTime<Utc>,
    earlier: &[Case],
) -> Result<Change, DomainError> {
    Case::open(
        CaseId::parse("e-1").unwrap(),
        TenantId::parse("t-1").unwrap(),
        draft(CaseKind::EvidenceRequest, Some(evidence_draft(scenario))),
        pdd(),
        Actor::merchant("ops"),
        now,
        earlier,
    )
}

fn opened(scenario: &str) -> Case {
    open_request(scenario, t0(), &[]).unwrap().case
}

fn act(case: &Case, action: MerchantAction, now: DateTime<Utc>) -> Result<Change, DomainError> {
    case.apply_merchant_action(&action, pdd(), Actor::merchant("ops"), now)
}

fn stage(case: &Case, items: Vec<EvidenceItem>, now: DateTime<Utc>) -> Result<Change, DomainError> {
    act(case, MerchantAction::StageEvidence { items }, now)
}

fn submit(
    case: &Case,
    items: Vec<EvidenceItem>,
    now: DateTime<Utc>,
) -> Result<Change, DomainError> {
    act(case, MerchantAction::SubmitEvidence { items }, now)
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
fn pd_e1_to_e8_every_scenario_opens_with_its_deadline() {
    use Consequence::*;
    let table = [
        (
            "goods_not_received",
            "evidence_48h",
            "PD-E1",
            48,
            AutoRefund,
            false,
        ),
        (
            "compensation_not_paid",
            "evidence_assumed_48h",
            "PD-E2",
            48,
            AutoRefund,
            true,
        ),
        (
            "return_not_received",
            "evidence_48h",
            "PD-E1",
            48,
            AutoRefund,
            false,
        ),
        (
            "damaged_return_refused",
            "evidence_48h",
            "PD-E1",
            48,
            AutoRefund,
            false,
        ),
        (
            "damaged_return_signed",
            "evidence_48h",
            "PD-E1",
            48,
            AutoRefund,
            false,
        ),
        (
            "tracking_not_found",
            "tracking_evidence",
            "PD-E6",
            48,
            LogisticsExceptionRefund,
            false,
        ),
        (
            "empty_parcel",
            "evidence_assumed_48h",
            "PD-E2",
            48,
            AutoRefund,
            true,
        ),
        (
            "appliance_quality",
            "appliance_progress",
            "PD-E8",
            72,
            RefundWithReturnAtMerchantCost,
            false,
        ),
    ];
    assert_eq!(
        table.len(),
        pdd().evidence.len(),
        "every scenario is in the table"
    );
    for (key, deadline, rule, hours, consequence, assumed) in table {
        let change = open_request(key, t0(), &[]).unwrap();
        let case = change.case;
        assert_eq!(case.kind, CaseKind::EvidenceRequest);
        assert_eq!(case.state, CaseState::AwaitingMerchant, "{key}");
        let request = case.evidence_request.as_ref().unwrap();
        assert_eq!(request.scenario, key);
        assert_eq!(request.rule, scenario(key).rule);
        assert_eq!(request.note, None);
        assert!(request.staged.is_empty() && request.submissions.is_empty());
        assert_eq!(
            request.context,
            context(),
            "{key}: reported at the opening time"
        );
        let active: Vec<_> = case.active_deadlines().collect();
        assert_eq!(active.len(), 1, "{key}: {active:#?}");
        let d = active[0];
        assert_eq!(d.key, deadline, "{key}");
        assert_eq!(d.rule_id, rule, "{key}");
        assert_eq!(d.due_at, t0() + Duration::hours(hours), "{key}");
        assert_eq!(d.remind_at, Some(d.due_at - Duration::hours(12)), "{key}");
        assert_eq!(d.consequence, consequence, "{key}");
        assert_eq!(d.assumed, assumed, "{key}");
        assert_eq!(d.started_at, t0());
        assert_eq!(case.next_deadline_at(), Some(d.due_at));
        assert_eq!(change.events.len(), 1);
        assert_eq!(change.events[0].kind, EventKind::CaseCreated);
    }
}

#[test]
fn pd_e0_unknown_scenario_is_an_invalid_field_listing_the_scenarios() {
    match open_request("lost_in_space", t0(), &[]) {
        Err(DomainError::InvalidField { field, reason }) => {
            assert_eq!(field, "evidence_request.scenario");
            assert!(reason.contains("lost_in_space"), "{reason}");
            assert!(reason.contains("pinduoduo-2024-01-01"), "{reason}");
            for s in &pdd().evidence {
                assert!(reason.contains(&s.scenario), "{reason}");
            }
        }
        other => panic!("expected InvalidField, got {other:?}"),
    }
    // An evidence request must name its scenario ...
    let err = Case::open(
        CaseId::parse("e-1").unwrap(),
        TenantId::parse("t-1").unwrap(),
        draft(CaseKind::EvidenceRequest, None),
        pdd(),
        Actor::merchant("ops"),
        t0(),
        &[],
    )
    .unwrap_err();
    assert!(
        matches!(&err, DomainError::InvalidField { field: "evidence_request", reason } if reason.contains("goods_not_received")),
        "{err:?}"
    );
    // ... and only an evidence request can.
    let err = Case::open(
        CaseId::parse("e-1").unwrap(),
        TenantId::parse("t-1").unwrap(),
        draft(
            CaseKind::RefundOnly,
            Some(evidence_draft("goods_not_received")),
        ),
        pdd(),
        Actor::merchant("ops"),
        t0(),
        &[],
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            DomainError::InvalidField {
                field: "evidence_request",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn pd_e0_staging_proofs_does_not_move_the_state() {
    let case = opened("goods_not_received");
    let now = t0() + Duration::hours(1);
    let change = stage(&case, vec![shipping_slip()], now).unwrap();
    let staged = change.case;
    assert_eq!(staged.state, CaseState::AwaitingMerchant);
    assert_eq!(staged.deadlines, case.deadlines, "the clock keeps running");
    assert_eq!(staged.version, case.version + 1);
    assert_eq!(staged.updated_at, now);
    let request = staged.evidence_request.as_ref().unwrap();
    assert_eq!(request.staged, vec![shipping_slip()]);
    assert!(request.submissions.is_empty());
    assert_eq!(change.events.len(), 1);
    let e = &change.events[0];
    assert_eq!(e.kind, EventKind::MerchantAction(ActionKind::StageEvidence));
    assert_eq!(e.from_state, Some(CaseState::AwaitingMerchant));
    assert_eq!(e.to_state, Some(CaseState::AwaitingMerchant));
    assert_eq!(e.detail["staged"], 1);
    assert_eq!(e.detail["rule"], "PD-E1");
    assert_eq!(e.detail["items"][0]["kind"], "shipping_slip");

    // Even a complete set only waits to be submitted.
    let again = stage(&staged, vec![red_stamp()], now).unwrap().case;
    assert_eq!(again.state, CaseState::AwaitingMerchant);
    assert_eq!(again.evidence_request.as_ref().unwrap().staged.len(), 2);

    // The dry run sees what is staged plus what is given, and changes nothing.
    assert!(staged.check_evidence(&[red_stamp()], pdd()).unwrap().met);
    let v = staged.check_evidence(&[], pdd()).unwrap();
    assert!(!v.met);
    assert_eq!(
        paths(&v.problems),
        vec!["requirement.any_of[0].all_of[1]", "requirement.any_of[1]"]
    );

    // Not an evidence request: no scenario to stage against.
    let refund = Case::open(
        CaseId::parse("c-1").unwrap(),
        TenantId::parse("t-1").unwrap(),
        draft(CaseKind::RefundOnly, None),
        pdd(),
        Actor::merchant("ops"),
        t0(),
        &[],
    )
    .unwrap()
    .case;
    assert!(matches!(
        stage(&refund, vec![shipping_slip()], now),
        Err(DomainError::NotAnEvidenceRequest {
            kind: CaseKind::RefundOnly
        })
    ));
}

#[test]
fn pd_e0_insufficient_submission_is_refused_with_every_problem() {
    let case = opened("goods_not_received");
    let now = t0() + Duration::hours(2);
    let bad_stamp = EvidenceItem {
        stamp: Some(Stamp::FinanceStamp),
        ..red_stamp()
    };
    let err = submit(&case, vec![shipping_slip(), bad_stamp], now).unwrap_err();
    assert_eq!(err.reason(), "EVIDENCE_INSUFFICIENT");
    assert_eq!(err.rule_id(), Some("PD-E1"));
    assert!(err.to_string().contains("finance stamp"), "{err}");
    match err {
        DomainError::EvidenceInsufficient {
            scenario,
            rule,
            problems,
        } => {
            assert_eq!(scenario, "goods_not_received");
            assert_eq!(rule, "PD-E1");
            assert_eq!(
                problems
                    .iter()
                    .map(|p| (p.path.as_str(), p.code.as_str(), p.item))
                    .collect::<Vec<_>>(),
                vec![
                    ("requirement.any_of[0].all_of[1]", "WRONG_STAMP", Some(1)),
                    ("requirement.any_of[1]", "MISSING", None),
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    // Staged proofs count: the missing red-stamp proof is reported against what is staged.
    let staged = stage(&case, vec![shipping_slip()], now).unwrap().case;
    match submit(&staged, vec![], now).unwrap_err() {
        DomainError::EvidenceInsufficient { problems, .. } => {
            assert_eq!(
                problems
                    .iter()
                    .map(|p| (p.path.as_str(), p.code.as_str()))
                    .collect::<Vec<_>>(),
                vec![
                    ("requirement.any_of[0].all_of[1]", "MISSING"),
                    ("requirement.any_of[1]", "MISSING"),
                ]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn pd_e0_sufficient_submission_goes_to_the_platform_on_time() {
    let case = opened("goods_not_received");
    let staged_at = t0() + Duration::hours(3);
    let staged = stage(&case, vec![shipping_slip()], staged_at).unwrap().case;
    let now = t0() + Duration::hours(47);
    let change = submit(&staged, vec![red_stamp()], now).unwrap();
    let done = change.case;
    assert_eq!(done.state, CaseState::PlatformIntervening);
    let request = done.evidence_request.as_ref().unwrap();
    assert_eq!(
        request.submissions,
        vec![Submission {
            at: now,
            items: 2,
            late: false
        }]
    );
    assert_eq!(request.staged, vec![shipping_slip(), red_stamp()]);
    assert_eq!(deadline_state(&done, "evidence_48h"), DeadlineState::Met);
    assert_eq!(done.active_deadlines().count(), 0);
    assert_eq!(done.version, staged.version + 1);
    let e = &change.events[0];
    assert_eq!(
        e.kind,
        EventKind::MerchantAction(ActionKind::SubmitEvidence)
    );
    assert_eq!(e.from_state, Some(CaseState::AwaitingMerchant));
    assert_eq!(e.to_state, Some(CaseState::PlatformIntervening));
    assert_eq!(e.detail["late"], false);
    assert_eq!(e.detail["submission"], 1);
    assert_eq!(e.detail["used"], serde_json::json!([0, 1]));

    // Exactly at the due time is still in time.
    let at_due = submit(&case, vec![platform_chat()], t0() + Duration::hours(48))
        .unwrap()
        .case;
    assert!(!at_due.evidence_request.unwrap().submissions[0].late);

    // Once with the platform, the request takes no more proofs.
    assert!(matches!(
        submit(&done, vec![platform_chat()], now),
        Err(DomainError::ActionNotAllowedInState {
            action: ActionKind::SubmitEvidence,
            state: CaseState::PlatformIntervening
        })
    ));
    assert!(matches!(
        stage(&done, vec![platform_chat()], now),
        Err(DomainError::ActionNotAllowedInState {
            action: ActionKind::StageEvidence,
            ..
        })
    ));
}

#[test]
fn pd_e1_a_wrong_slip_staged_first_does_not_block_the_right_one() {
    // Staged proofs cannot be withdrawn: a slip of another parcel staged by mistake must not
    // keep the right one from counting.
    let case = opened("goods_not_received");
    let now = t0() + Duration::hours(5);
    let wrong = EvidenceItem {
        recipient_name: Some("李四".into()),
        ..shipping_slip()
    };
    let staged = stage(&case, vec![wrong, red_stamp()], now).unwrap().case;
    match submit(&staged, vec![], now).unwrap_err() {
        DomainError::EvidenceInsufficient { problems, .. } => {
            assert_eq!(
                codes(&problems),
                vec![("MISSING", "PD-E1"), ("RECIPIENT_MISMATCH", "PD-E9")]
            );
        }
        other => panic!("{other:?}"),
    }
    let change = submit(&staged, vec![shipping_slip()], now).unwrap();
    assert_eq!(change.case.state, CaseState::PlatformIntervening);
    assert_eq!(change.events[0].detail["used"], serde_json::json!([2, 1]));
    assert_eq!(
        change.case.evidence_request.unwrap().submissions[0].items,
        3
    );
}

#[test]
fn pd_e1_submission_after_the_deadline_is_recorded_late() {
    let case = opened("goods_not_received");
    let now = t0() + Duration::hours(49);
    let change = submit(&case, vec![shipping_slip(), red_stamp()], now).unwrap();
    let done = change.case;
    assert_eq!(done.state, CaseState::PlatformIntervening);
    assert_eq!(
        done.evidence_request.as_ref().unwrap().submissions,
        vec![Submission {
            at: now,
            items: 2,
            late: true
        }]
    );
    assert_eq!(change.events[0].detail["late"], true);
    assert_eq!(done.active_deadlines().count(), 0);
}

#[test]
fn pd_e8_valid_progress_message_starts_the_report_clock() {
    let case = opened("appliance_quality");
    let posted = t0() + Duration::hours(20);
    let progress = EvidenceItem {
        captured_at: Some(posted),
        visit_at: Some(t0() + Duration::hours(44)),
        ..visit_message()
    };
    let change = stage(&case, vec![progress.clone()], posted).unwrap();
    let waiting = change.case;
    assert_eq!(waiting.state, CaseState::AwaitingMerchantExecution);
    assert_eq!(
        deadline_state(&waiting, "appliance_progress"),
        DeadlineState::Met
    );
    let active: Vec<_> = waiting.active_deadlines().collect();
    assert_eq!(active.len(), 1, "{active:#?}");
    assert_eq!(active[0].key, "appliance_report");
    assert_eq!(active[0].rule_id, "PD-E8");
    assert_eq!(active[0].due_at, posted + Duration::hours(72));
    assert_eq!(
        active[0].consequence,
        Consequence::RefundWithReturnAtMerchantCost
    );
    let e = &change.events[0];
    assert_eq!(e.to_state, Some(CaseState::AwaitingMerchantExecution));
    assert_eq!(e.detail["progress"], "technician_visit_message");

    // The report, in time: the platform takes the whole set.
    let report_at = t0() + Duration::hours(50);
    let report = EvidenceItem {
        captured_at: Some(report_at),
        ..inspection_report()
    };
    let done = submit(&waiting, vec![report], report_at).unwrap().case;
    assert_eq!(done.state, CaseState::PlatformIntervening);
    assert_eq!(
        done.evidence_request.unwrap().submissions,
        vec![Submission {
            at: report_at,
            items: 2,
            late: false
        }]
    );

    // After the second clock ran out the submission is late.
    let late_at = posted + Duration::hours(72) + Duration::minutes(1);
    let report = EvidenceItem {
        captured_at: Some(t0() + Duration::hours(50)),
        ..inspection_report()
    };
    let late = submit(&waiting, vec![report], late_at).unwrap().case;
    assert!(late.evidence_request.unwrap().submissions[0].late);

    // A second progress message does not move the case again.
    let again = stage(&waiting, vec![progress], posted + Duration::hours(1))
        .unwrap()
        .case;
    assert_eq!(again.state, CaseState::AwaitingMerchantExecution);
    assert_eq!(again.deadlines, waiting.deadlines);
}

#[test]
fn pd_e8_invalid_progress_message_does_not_start_the_report_clock() {
    let case = opened("appliance_quality");
    let posted = t0() + Duration::hours(20);
    for (name, progress, now) in [
        (
            "without visit time",
            EvidenceItem {
                captured_at: Some(posted),
                visit_at: None,
                ..visit_message()
            },
            posted,
        ),
        (
            "posted after 72 hours",
            EvidenceItem {
                captured_at: Some(t0() + Duration::hours(73)),
                ..visit_message()
            },
            t0() + Duration::hours(73),
        ),
        (
            "not dated",
            EvidenceItem {
                captured_at: None,
                ..visit_message()
            },
            posted,
        ),
        ("another proof", inspection_report(), posted),
    ] {
        let after = stage(&case, vec![progress.clone()], now).unwrap().case;
        assert_eq!(after.state, CaseState::AwaitingMerchant, "{name}");
        assert_eq!(after.deadlines, case.deadlines, "{name}");
        assert_eq!(
            after.evidence_request.unwrap().staged,
            vec![progress],
            "{name}: staged all the same"
        );
    }
}

// ---- PD-E10: signing for a return accepts its condition ------------------------------------

/// A return-and-refund case on the same order, taken as far as the return arriving.
fn return_case() -> (Case, Case, DateTime<Utc>) {
    let open = t0() - Duration::days(5);
    let case = Case::open(
        CaseId::parse("r-1").unwrap(),
        TenantId::parse("t-1").unwrap(),
        draft(CaseKind::ReturnAndRefund, None),
        pdd(),
        Actor::merchant("ops"),
        open,
        &[],
    )
    .unwrap()
    .case;
    let agreed = act(
        &case,
        MerchantAction::Agree {
            stock_check: None,
            return_plan: None,
        },
        open + Duration::hours(1),
    )
    .unwrap()
    .case;
    assert_eq!(agreed.state, CaseState::AwaitingBuyer);
    let shipment = Shipment {
        carrier: text("中通快递"),
        tracking_number: text("ZT9999"),
        shipped_at: Some(open + Duration::days(1)),
    };
    let in_transit = act(
        &agreed,
        MerchantAction::RecordReturnShipment { shipment },
        open + Duration::days(1),
    )
    .unwrap()
    .case;
    assert_eq!(in_transit.state, CaseState::ReturnInTransit);
    assert_eq!(in_transit.return_signed_at, None);
    let signed_at = open + Duration::days(3);
    let signed = act(
        &in_transit,
        MerchantAction::ConfirmReturnReceived,
        signed_at,
    )
    .unwrap()
    .case;
    assert_eq!(signed.state, CaseState::AwaitingMerchantExecution);
    assert_eq!(signed.return_signed_at, Some(signed_at));
    (in_transit, signed, signed_at)
}

#[test]
fn pd_e10_signed_return_is_judged_under_pd_e5() {
    let (_, signed, signed_at) = return_case();
    let case = open_request("damaged_return_refused", t0(), &[signed])
        .unwrap()
        .case;
    let request = case.evidence_request.as_ref().unwrap();
    assert_eq!(request.scenario, "damaged_return_signed");
    assert_eq!(request.rule, "PD-E5");
    let note = request.note.as_deref().expect("a note says why");
    assert!(note.contains("PD-E10"), "{note}");
    assert!(note.contains("cases/r-1"), "{note}");
    assert!(note.contains(&signed_at.to_rfc3339()), "{note}");
    assert!(note.contains("PD-E5") && note.contains("PD-E4"), "{note}");
    let d: Vec<_> = case.active_deadlines().collect();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].key, "evidence_48h");
    assert_eq!(d[0].due_at, t0() + Duration::hours(48));

    // PD-E4's unboxing video is not enough any more: PD-E5 needs both proofs.
    match submit(&case, vec![unboxing_video()], t0() + Duration::hours(1)).unwrap_err() {
        DomainError::EvidenceInsufficient {
            scenario,
            rule,
            problems,
        } => {
            assert_eq!(scenario, "damaged_return_signed");
            assert_eq!(rule, "PD-E5");
            assert_eq!(
                problems.iter().map(|p| p.proof).collect::<Vec<_>>(),
                vec![
                    Some(ProofKind::ReturnedGoodsPhoto),
                    Some(ProofKind::RedStampProof)
                ]
            );
            assert!(problems
                .iter()
                .all(|p| p.code == "MISSING" && p.rule == "PD-E5"));
        }
        other => panic!("{other:?}"),
    }
    let done = submit(
        &case,
        vec![returned_goods_photo(), damage_red_stamp()],
        t0() + Duration::hours(1),
    )
    .unwrap()
    .case;
    assert_eq!(done.state, CaseState::PlatformIntervening);
}

#[test]
fn pd_e10_without_a_signed_return_the_claim_stays_pd_e4() {
    let (in_transit, _, _) = return_case();
    for earlier in [vec![], vec![in_transit]] {
        let case = open_request("damaged_return_refused", t0(), &earlier)
            .unwrap()
            .case;
        let request = case.evidence_request.as_ref().unwrap();
        assert_eq!(request.scenario, "damaged_return_refused");
        assert_eq!(request.rule, "PD-E4");
        assert_eq!(request.note, None);
        let done = submit(&case, vec![unboxing_video()], t0() + Duration::hours(1))
            .unwrap()
            .case;
        assert_eq!(done.state, CaseState::PlatformIntervening);
    }
    // A scenario without an `if_return_signed` is not redirected by a signed return.
    let (_, signed, _) = return_case();
    let case = open_request("goods_not_received", t0(), &[signed])
        .unwrap()
        .case;
    assert_eq!(
        case.evidence_request.as_ref().unwrap().scenario,
        "goods_not_received"
    );
    assert_eq!(case.evidence_request.unwrap().note, None);
}

/// PD-E0: a request holds a bounded number of proofs, so the cross-item search stays small.
#[test]
fn pd_e0_staged_proofs_are_capped() {
    use aftersales_domain::evidence::MAX_STAGED;
    let case = opened("goods_not_received");
    let full = stage(&case, vec![shipping_slip(); MAX_STAGED], t0())
        .unwrap()
        .case;
    match stage(&full, vec![shipping_slip()], t0()) {
        Err(DomainError::InvalidField { field, reason }) => {
            assert_eq!(field, "items");
            assert!(reason.contains(&MAX_STAGED.to_string()), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}
