//! Evidence (PD-E0 … PD-E9) between protobuf and the domain: proofs in, requests, problems
//! and verdicts out.

use crate::convert::{from_timestamp, timestamp, Violations};
use crate::error::ApiError;
use aftersales_domain::evidence::{
    EvidenceDraft, EvidenceItem, EvidenceRequest, EvidenceScenario, EvidenceVerdict, Problem,
    ProofKind, Source, Stamp, StampField,
};
use aftersales_domain::Fen;
use aftersales_proto::v1 as pb;

/// Proofs per call; a scenario needs two or three.
pub const MAX_ITEMS: usize = 50;

pub fn proof_to_pb(k: ProofKind) -> pb::ProofKind {
    match k {
        ProofKind::ShippingSlip => pb::ProofKind::ShippingSlip,
        ProofKind::RedStampProof => pb::ProofKind::RedStampProof,
        ProofKind::ChatScreenshot => pb::ProofKind::ChatScreenshot,
        ProofKind::TransferScreenshot => pb::ProofKind::TransferScreenshot,
        ProofKind::CarrierInternalRecord => pb::ProofKind::CarrierInternalRecord,
        ProofKind::ReturnedGoodsPhoto => pb::ProofKind::ReturnedGoodsPhoto,
        ProofKind::UnboxingVideo => pb::ProofKind::UnboxingVideo,
        ProofKind::OfficialTrackingRecord => pb::ProofKind::OfficialTrackingRecord,
        ProofKind::WeighingPhoto => pb::ProofKind::WeighingPhoto,
        ProofKind::CarrierWeighingRecord => pb::ProofKind::CarrierWeighingRecord,
        ProofKind::TechnicianVisitMessage => pb::ProofKind::TechnicianVisitMessage,
        ProofKind::InspectionReport => pb::ProofKind::InspectionReport,
    }
}

const SOURCES: [(Source, pb::ProofSource); 8] = [
    (Source::PlatformChat, pb::ProofSource::PlatformChat),
    (Source::Qq, pb::ProofSource::Qq),
    (Source::Wechat, pb::ProofSource::Wechat),
    (
        Source::CarrierOfficialSite,
        pb::ProofSource::CarrierOfficialSite,
    ),
    (
        Source::CarrierInternalSystem,
        pb::ProofSource::CarrierInternalSystem,
    ),
    (Source::SearchEngine, pb::ProofSource::SearchEngine),
    (Source::TrackingPage, pb::ProofSource::TrackingPage),
    (Source::Other, pb::ProofSource::Other),
];

const STAMPS: [(Stamp, pb::StampKind); 4] = [
    (Stamp::CarrierRedStamp, pb::StampKind::CarrierRedStamp),
    (Stamp::FinanceStamp, pb::StampKind::FinanceStamp),
    (Stamp::BusinessStamp, pb::StampKind::BusinessStamp),
    (Stamp::NoStamp, pb::StampKind::NoStamp),
];

const FIELDS: [(StampField, pb::StampField); 4] = [
    (StampField::TrackingNumber, pb::StampField::TrackingNumber),
    (StampField::RecipientName, pb::StampField::RecipientName),
    (StampField::CourierName, pb::StampField::CourierName),
    (StampField::DeliveryDate, pb::StampField::DeliveryDate),
];

/// A proto enum value that must be one of `table` (or unspecified, when `optional`).
fn enum_from<D: Copy, P: Copy + PartialEq + TryFrom<i32>>(
    v: &mut Violations,
    field: &str,
    raw: i32,
    table: &[(D, P)],
) -> Option<D> {
    if raw == 0 {
        return None;
    }
    let found = P::try_from(raw)
        .ok()
        .and_then(|p| table.iter().find(|(_, q)| *q == p).map(|(d, _)| *d));
    if found.is_none() {
        v.add(field, format!("{raw} is not a known value"));
    }
    found
}

fn text(raw: &str) -> Option<String> {
    let t = raw.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn time(
    v: &mut Violations,
    field: &str,
    t: &Option<prost_types::Timestamp>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let t = t.as_ref()?;
    let parsed = from_timestamp(t);
    if parsed.is_none() {
        v.add(field, "not a valid time");
    }
    parsed
}

/// The proofs of a request, or every field violation at once.
pub fn items_from_pb(items: &[pb::EvidenceItem]) -> Result<Vec<EvidenceItem>, ApiError> {
    let mut v = Violations::default();
    if items.len() > MAX_ITEMS {
        v.add("items", format!("at most {MAX_ITEMS} items"));
    }
    let proofs: Vec<(ProofKind, pb::ProofKind)> = ProofKind::ALL
        .iter()
        .map(|k| (*k, proof_to_pb(*k)))
        .collect();
    let mut out = Vec::new();
    for (i, e) in items.iter().enumerate() {
        let f = |name: &str| format!("items[{i}].{name}");
        let kind = enum_from(&mut v, &f("kind"), e.kind, &proofs);
        if e.kind == 0 {
            v.add(f("kind"), "required: a ProofKind");
        }
        if e.uri.trim().is_empty() {
            v.add(f("uri"), "required");
        } else if e.uri.len() > 2048 {
            v.add(f("uri"), "longer than 2048 bytes");
        }
        if !e.sha256.is_empty()
            && (e.sha256.len() != 64 || !e.sha256.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            v.add(f("sha256"), "must be 64 hex characters");
        }
        let amount = match e.amount_fen {
            0 => None,
            n => v.check(&f("amount_fen"), Fen::new(n)),
        };
        if e.weight_grams < 0 {
            v.add(f("weight_grams"), "must not be negative");
        }
        let fields = |v: &mut Violations, name: &str, raw: &[i32]| -> Vec<StampField> {
            raw.iter()
                .filter_map(|r| enum_from(v, &f(name), *r, &FIELDS))
                .collect()
        };
        let handwritten = fields(&mut v, "handwritten_fields", &e.handwritten_fields);
        let printed = fields(&mut v, "printed_fields", &e.printed_fields);
        let Some(kind) = kind else { continue };
        let mut item = EvidenceItem::new(kind, e.uri.trim());
        item.sha256 = (!e.sha256.is_empty()).then(|| e.sha256.to_ascii_lowercase());
        item.source = enum_from(&mut v, &f("source"), e.source, &SOURCES);
        item.stamp = enum_from(&mut v, &f("stamp"), e.stamp, &STAMPS);
        item.handwritten = handwritten;
        item.printed = printed;
        item.printed_form = e.printed_form;
        item.signer_signature = e.signer_signature;
        item.recipient_name = text(&e.recipient_name);
        item.recipient_address = text(&e.recipient_address);
        item.tracking_number = text(&e.tracking_number);
        item.continuous = e.continuous;
        item.complete = e.complete;
        item.clear = e.clear;
        item.buyer_confirms = e.buyer_confirms;
        item.payee_account = text(&e.payee_account);
        item.amount = amount;
        item.defect_marked = e.defect_marked;
        item.waybill_visible = e.waybill_visible;
        item.courier_present = e.courier_present;
        item.full_history = e.full_history;
        item.refusal_reason_stated = e.refusal_reason_stated;
        item.damage_stated = e.damage_stated;
        item.shows_not_signed = e.shows_not_signed;
        item.weight_grams = u64::try_from(e.weight_grams).ok().filter(|w| *w > 0);
        item.captured_at = time(&mut v, &f("capture_time"), &e.capture_time);
        item.visit_at = time(&mut v, &f("visit_time"), &e.visit_time);
        out.push(item);
    }
    v.into_result()?;
    Ok(out)
}

fn find<D: Copy + PartialEq, P: Copy>(table: &[(D, P)], d: D) -> P {
    table
        .iter()
        .find(|(x, _)| *x == d)
        .map(|(_, p)| *p)
        .expect("every domain value has a proto value")
}

pub fn item_to_pb(i: &EvidenceItem) -> pb::EvidenceItem {
    pb::EvidenceItem {
        kind: proof_to_pb(i.kind) as i32,
        uri: i.uri.clone(),
        sha256: i.sha256.clone().unwrap_or_default(),
        source: i.source.map_or(0, |s| find(&SOURCES, s) as i32),
        stamp: i.stamp.map_or(0, |s| find(&STAMPS, s) as i32),
        handwritten_fields: i
            .handwritten
            .iter()
            .map(|f| find(&FIELDS, *f) as i32)
            .collect(),
        printed_fields: i.printed.iter().map(|f| find(&FIELDS, *f) as i32).collect(),
        printed_form: i.printed_form,
        signer_signature: i.signer_signature,
        recipient_name: i.recipient_name.clone().unwrap_or_default(),
        recipient_address: i.recipient_address.clone().unwrap_or_default(),
        tracking_number: i.tracking_number.clone().unwrap_or_default(),
        continuous: i.continuous,
        complete: i.complete,
        clear: i.clear,
        buyer_confirms: i.buyer_confirms,
        payee_account: i.payee_account.clone().unwrap_or_default(),
        amount_fen: i.amount.map(Fen::get).unwrap_or_default(),
        defect_marked: i.defect_marked,
        waybill_visible: i.waybill_visible,
        courier_present: i.courier_present,
        full_history: i.full_history,
        refusal_reason_stated: i.refusal_reason_stated,
        damage_stated: i.damage_stated,
        shows_not_signed: i.shows_not_signed,
        weight_grams: i.weight_grams.map_or(0, |w| w as i64),
        capture_time: i.captured_at.map(timestamp),
        visit_time: i.visit_at.map(timestamp),
    }
}

pub fn request_to_pb(r: &EvidenceRequest) -> pb::EvidenceRequest {
    pb::EvidenceRequest {
        scenario: r.scenario.clone(),
        buyer_account: r.context.buyer_account.clone().unwrap_or_default(),
        promised_amount_fen: r.context.promised_amount.map(Fen::get).unwrap_or_default(),
        shop_name: r.context.shop_name.clone().unwrap_or_default(),
        rule_id: r.rule.clone(),
        note: r.note.clone().unwrap_or_default(),
        staged: r.staged.iter().map(item_to_pb).collect(),
        submissions: r
            .submissions
            .iter()
            .map(|s| pb::EvidenceSubmission {
                submit_time: Some(timestamp(s.at)),
                item_count: s.items as i32,
                late: s.late,
            })
            .collect(),
        report_time: r.context.reported_at.map(timestamp),
    }
}

/// What CreateCase says about an evidence request.
pub fn draft_from_pb(v: &mut Violations, r: &pb::EvidenceRequest) -> EvidenceDraft {
    if r.scenario.trim().is_empty() {
        v.add("case.evidence_request.scenario", "required");
    }
    let promised_amount = match r.promised_amount_fen {
        0 => None,
        n => v.check("case.evidence_request.promised_amount_fen", Fen::new(n)),
    };
    EvidenceDraft {
        scenario: r.scenario.trim().to_string(),
        reported_at: time(v, "case.evidence_request.report_time", &r.report_time),
        buyer_account: text(&r.buyer_account),
        promised_amount,
        shop_name: text(&r.shop_name),
    }
}

pub fn problem_to_pb(p: &Problem) -> pb::EvidenceProblem {
    pb::EvidenceProblem {
        path: p.path.clone(),
        proof: p.proof.map_or(0, |k| proof_to_pb(k) as i32),
        item_index: p.item.map(|i| i as i32),
        code: p.code.clone(),
        message: p.message.clone(),
        rule_id: p.rule.clone(),
    }
}

pub fn verdict_to_pb(r: &EvidenceRequest, verdict: &EvidenceVerdict) -> pb::EvidenceCheck {
    pb::EvidenceCheck {
        met: verdict.met,
        scenario: r.scenario.clone(),
        rule_id: r.rule.clone(),
        problems: verdict.problems.iter().map(problem_to_pb).collect(),
        used_items: verdict.used.iter().map(|i| *i as i32).collect(),
    }
}

pub fn scenario_to_pb(s: &EvidenceScenario) -> pb::EvidenceScenario {
    pb::EvidenceScenario {
        scenario: s.scenario.clone(),
        rule_id: s.rule.clone(),
        title: s.title.clone(),
        requirement_json: serde_json::to_string(&s.requirement).unwrap_or_default(),
    }
}

pub fn appeal_ground_to_pb(g: aftersales_domain::appeal::AppealGround) -> pb::AppealGround {
    use aftersales_domain::appeal::AppealGround as G;
    match g {
        G::RevokedByAgreementAfterExecution => pb::AppealGround::RevokedByAgreementAfterExecution,
        G::PriceSetTooLowByMistake => pb::AppealGround::PriceSetTooLowByMistake,
        G::ProductDiscontinued => pb::AppealGround::ProductDiscontinued,
        G::CustomProductWrongShippingGuarantee => {
            pb::AppealGround::CustomProductWrongShippingGuarantee
        }
        G::ShippingNotMerchantsFault => pb::AppealGround::ShippingNotMerchantsFault,
        G::NewEvidence => pb::AppealGround::NewEvidence,
    }
}
