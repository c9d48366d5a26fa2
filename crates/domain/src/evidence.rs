//! Platform-intervention evidence (举证, PD-E0 … PD-E11): what proof each situation needs,
//! and a precise check of what a merchant holds against it.
//!
//! A scenario's requirement is data (the policy file): proofs combined with `all_of` /
//! `any_of` (PD-E0: a requirement naming no alternatives needs every item). Each proof kind
//! carries the facts that decide its validity (stamp kind, which fields are handwritten,
//! where a screenshot was taken…); PD-E9's common validity rules apply to every proof of a
//! kind, and a scenario adds its own checks by name. The answer names every missing or
//! invalid item, why, and the rule — so a merchant fixes the evidence before the platform
//! refuses it.

use crate::action::Change;
use crate::case::Case;
use crate::deadline::DeadlineState;
use crate::error::DomainError;
use crate::event::{Actor, EventKind, NewEvent};
use crate::money::Fen;
use crate::policy::Policy;
use crate::state::CaseState;
use crate::ActionKind;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The proofs the catalogue knows (PD-E1 … PD-E8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProofKind {
    /// 发货底单
    ShippingSlip,
    /// 快递签收红章证明
    RedStampProof,
    /// 聊天截图
    ChatScreenshot,
    /// 转账成功截图
    TransferScreenshot,
    /// 快递内网截图
    CarrierInternalRecord,
    /// 退回商品与退货面单合照
    ReturnedGoodsPhoto,
    /// 快递员在场的开箱视频
    UnboxingVideo,
    /// 快递官网物流记录
    OfficialTrackingRecord,
    /// 商品称重照片
    WeighingPhoto,
    /// 快递内部称重记录
    CarrierWeighingRecord,
    /// 售后进度留言 (师傅上门时间)
    TechnicianVisitMessage,
    /// 正规检测报告
    InspectionReport,
}

impl ProofKind {
    pub const ALL: [ProofKind; 12] = [
        ProofKind::ShippingSlip,
        ProofKind::RedStampProof,
        ProofKind::ChatScreenshot,
        ProofKind::TransferScreenshot,
        ProofKind::CarrierInternalRecord,
        ProofKind::ReturnedGoodsPhoto,
        ProofKind::UnboxingVideo,
        ProofKind::OfficialTrackingRecord,
        ProofKind::WeighingPhoto,
        ProofKind::CarrierWeighingRecord,
        ProofKind::TechnicianVisitMessage,
        ProofKind::InspectionReport,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProofKind::ShippingSlip => "shipping_slip",
            ProofKind::RedStampProof => "red_stamp_proof",
            ProofKind::ChatScreenshot => "chat_screenshot",
            ProofKind::TransferScreenshot => "transfer_screenshot",
            ProofKind::CarrierInternalRecord => "carrier_internal_record",
            ProofKind::ReturnedGoodsPhoto => "returned_goods_photo",
            ProofKind::UnboxingVideo => "unboxing_video",
            ProofKind::OfficialTrackingRecord => "official_tracking_record",
            ProofKind::WeighingPhoto => "weighing_photo",
            ProofKind::CarrierWeighingRecord => "carrier_weighing_record",
            ProofKind::TechnicianVisitMessage => "technician_visit_message",
            ProofKind::InspectionReport => "inspection_report",
        }
    }

    /// How the proof reads in a message to the merchant.
    pub fn label(self) -> &'static str {
        match self {
            ProofKind::ShippingSlip => "the shipping slip (发货底单)",
            ProofKind::RedStampProof => "the red-stamp proof (快递签收红章证明)",
            ProofKind::ChatScreenshot => "the chat screenshot",
            ProofKind::TransferScreenshot => "the transfer-success screenshot",
            ProofKind::CarrierInternalRecord => {
                "the carrier's internal-system record (快递内网截图)"
            }
            ProofKind::ReturnedGoodsPhoto => {
                "the photo of the returned goods with the return waybill"
            }
            ProofKind::UnboxingVideo => "the unboxing video",
            ProofKind::OfficialTrackingRecord => "the carrier's official-site tracking record",
            ProofKind::WeighingPhoto => "the photo of the goods on a scale",
            ProofKind::CarrierWeighingRecord => "the carrier's internal weighing record",
            ProofKind::TechnicianVisitMessage => {
                "the after-sales progress message with the technician's visit time"
            }
            ProofKind::InspectionReport => "the formal inspection report",
        }
    }
}

impl fmt::Display for ProofKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a screenshot or record was taken (PD-E1, PD-E3, PD-E6, PD-E9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    PlatformChat,
    Qq,
    Wechat,
    CarrierOfficialSite,
    CarrierInternalSystem,
    SearchEngine,
    /// A carrier's tracking page seen through a third party or app (not proof of signing).
    TrackingPage,
    Other,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::PlatformChat => "platform_chat",
            Source::Qq => "qq",
            Source::Wechat => "wechat",
            Source::CarrierOfficialSite => "carrier_official_site",
            Source::CarrierInternalSystem => "carrier_internal_system",
            Source::SearchEngine => "search_engine",
            Source::TrackingPage => "tracking_page",
            Source::Other => "other",
        }
    }
}

/// The stamp on a red-stamp proof (PD-E9: a finance or business stamp is invalid).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stamp {
    CarrierRedStamp,
    FinanceStamp,
    BusinessStamp,
    NoStamp,
}

impl Stamp {
    pub fn as_str(self) -> &'static str {
        match self {
            Stamp::CarrierRedStamp => "carrier_red_stamp",
            Stamp::FinanceStamp => "finance_stamp",
            Stamp::BusinessStamp => "business_stamp",
            Stamp::NoStamp => "no_stamp",
        }
    }
}

/// The four details a red-stamp proof must show (PD-E9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StampField {
    TrackingNumber,
    RecipientName,
    CourierName,
    DeliveryDate,
}

impl StampField {
    pub const ALL: [StampField; 4] = [
        StampField::TrackingNumber,
        StampField::RecipientName,
        StampField::CourierName,
        StampField::DeliveryDate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StampField::TrackingNumber => "tracking_number",
            StampField::RecipientName => "recipient_name",
            StampField::CourierName => "courier_name",
            StampField::DeliveryDate => "delivery_date",
        }
    }
}

/// One proof the merchant holds: a reference to the file and the facts about it that decide
/// its validity. Facts default to "not shown".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceItem {
    pub kind: ProofKind,
    pub uri: String,
    pub sha256: Option<String>,
    #[serde(default)]
    pub source: Option<Source>,
    #[serde(default)]
    pub stamp: Option<Stamp>,
    /// Red-stamp details written by hand.
    #[serde(default)]
    pub handwritten: Vec<StampField>,
    /// Red-stamp details printed.
    #[serde(default)]
    pub printed: Vec<StampField>,
    /// The rest of the form (beyond the four details) is printed: PD-E1 rejects a fully
    /// handwritten proof.
    #[serde(default)]
    pub printed_form: bool,
    #[serde(default)]
    pub signer_signature: bool,
    #[serde(default)]
    pub recipient_name: Option<String>,
    #[serde(default)]
    pub recipient_address: Option<String>,
    #[serde(default)]
    pub tracking_number: Option<String>,
    /// A chat capture without gaps (PD-E9).
    #[serde(default)]
    pub continuous: bool,
    /// The whole screen / conversation / object is shown (PD-E9).
    #[serde(default)]
    pub complete: bool,
    /// Legible (PD-E9).
    #[serde(default)]
    pub clear: bool,
    /// The buyer confirms receipt (of the goods or of the money) in the chat.
    #[serde(default)]
    pub buyer_confirms: bool,
    #[serde(default)]
    pub payee_account: Option<String>,
    #[serde(default)]
    pub amount: Option<Fen>,
    #[serde(default)]
    pub defect_marked: bool,
    #[serde(default)]
    pub waybill_visible: bool,
    #[serde(default)]
    pub courier_present: bool,
    #[serde(default)]
    pub full_history: bool,
    #[serde(default)]
    pub refusal_reason_stated: bool,
    /// A red-stamp proof stating the goods were damaged on arrival (PD-E5).
    #[serde(default)]
    pub damage_stated: bool,
    /// The record shows the return was NOT signed for at the merchant's address (PD-E3).
    #[serde(default)]
    pub shows_not_signed: bool,
    #[serde(default)]
    pub weight_grams: Option<u64>,
    /// When the proof was made or posted.
    #[serde(default)]
    pub captured_at: Option<DateTime<Utc>>,
    /// The technician's visit (PD-E8).
    #[serde(default)]
    pub visit_at: Option<DateTime<Utc>>,
}

impl EvidenceItem {
    /// A proof of `kind` with no facts shown.
    pub fn new(kind: ProofKind, uri: impl Into<String>) -> Self {
        EvidenceItem {
            kind,
            uri: uri.into(),
            sha256: None,
            source: None,
            stamp: None,
            handwritten: Vec::new(),
            printed: Vec::new(),
            printed_form: false,
            signer_signature: false,
            recipient_name: None,
            recipient_address: None,
            tracking_number: None,
            continuous: false,
            complete: false,
            clear: false,
            buyer_confirms: false,
            payee_account: None,
            amount: None,
            defect_marked: false,
            waybill_visible: false,
            courier_present: false,
            full_history: false,
            refusal_reason_stated: false,
            damage_stated: false,
            shows_not_signed: false,
            weight_grams: None,
            captured_at: None,
            visit_at: None,
        }
    }
}

/// A scenario's own condition on one proof, named in the policy file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// PD-E1/PD-E9: the four details handwritten on a printed form (neither fully handwritten
    /// nor fully printed).
    HandwrittenDetailsOnPrintedForm,
    /// PD-E5: the details handwritten; printed is invalid.
    Handwritten,
    BuyerConfirms,
    /// PD-E2: paid to the buyer's account.
    PayeeIsBuyer,
    /// PD-E2: the promised amount.
    AmountIsPromised,
    /// PD-E3: the return was not signed for at the merchant's address.
    ShowsNotSigned,
    DefectMarked,
    WaybillVisible,
    CourierPresent,
    /// PD-E4: the recipient is the shop.
    RecipientIsShop,
    RefusalReasonStated,
    DamageStated,
    /// PD-E6: the whole tracking history.
    FullHistory,
    ShowsWeight,
    ShowsTrackingNumber,
    /// PD-E8: progress posted within 72 hours of the report, with the visit time.
    #[serde(rename = "posted_within_72_hours_with_visit_time")]
    PostedWithin72HoursWithVisitTime,
    /// PD-E8: the whole flow within one week of the report.
    WithinOneWeek,
}

/// A condition across the proofs of an `all_of` group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupCheck {
    /// PD-E9: the shipping slip's recipient name and address match the red-stamp proof.
    SameRecipient,
    /// PD-E8: the inspection report within 72 hours after the technician's visit.
    #[serde(rename = "report_within_72_hours_of_visit")]
    ReportWithin72HoursOfVisit,
}

/// PD-E0: a requirement expression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum Requirement {
    Proof {
        proof: ProofKind,
        #[serde(default)]
        checks: Vec<Check>,
    },
    AllOf {
        all_of: Vec<Requirement>,
        #[serde(default)]
        checks: Vec<GroupCheck>,
    },
    AnyOf {
        any_of: Vec<Requirement>,
    },
}

/// A scenario of the policy: what must be proved, under which rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceScenario {
    /// The key a request names, e.g. `goods_not_received`.
    pub scenario: String,
    pub rule: String,
    pub title: String,
    pub requirement: Requirement,
    /// PD-E10: when the merchant signed for the return, the damage claim is judged under this
    /// scenario instead (its condition was accepted on signing).
    #[serde(default)]
    pub if_return_signed: Option<String>,
    /// PD-E8: staging a valid proof of this kind is the first step; the request then waits
    /// for the rest with a clock of its own (awaiting merchant execution).
    #[serde(default)]
    pub progress: Option<ProofKind>,
}

/// What a request knows beyond the proofs (PD-E2, PD-E4, PD-E8).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EvidenceContext {
    /// When the buyer's claim was made: PD-E8's 72 hours and one week count from it.
    pub reported_at: Option<DateTime<Utc>>,
    pub buyer_account: Option<String>,
    pub promised_amount: Option<Fen>,
    pub shop_name: Option<String>,
}

/// One reason the evidence does not meet the requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Where in the requirement, e.g. `any_of[0].all_of[1]`.
    pub path: String,
    pub proof: Option<ProofKind>,
    /// The item (index into what was checked) the problem is about; `None` when it is missing.
    pub item: Option<usize>,
    /// Stable, e.g. `MISSING`, `WRONG_STAMP`, `NOT_PLATFORM_CHAT`.
    pub code: String,
    pub message: String,
    pub rule: String,
}

/// The answer of a check: met, or every problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceVerdict {
    pub met: bool,
    /// The items that satisfy it, when met.
    pub used: Vec<usize>,
    /// When not met; for `any_of`, the problems of every alternative.
    pub problems: Vec<Problem>,
}

/// Proofs an evidence request may hold staged: a scenario needs two or three; a hundred leaves
/// room for retakes without letting the cross-item search grow without bound.
pub const MAX_STAGED: usize = 100;
const MAX_COMBINATIONS: usize = 10_000;

struct Ctx<'a> {
    items: &'a [EvidenceItem],
    context: &'a EvidenceContext,
    rule: &'a str,
}

impl Requirement {
    /// Evaluate against the items the merchant holds.
    pub fn evaluate(
        &self,
        items: &[EvidenceItem],
        context: &EvidenceContext,
        scenario_rule: &str,
    ) -> EvidenceVerdict {
        let ctx = Ctx {
            items,
            context,
            rule: scenario_rule,
        };
        let (used, problems) = self.eval(&ctx, "requirement");
        EvidenceVerdict {
            met: problems.is_empty(),
            used: if problems.is_empty() {
                used
            } else {
                Vec::new()
            },
            problems,
        }
    }

    /// The proofs it mentions, for listing what a scenario needs.
    pub fn proofs(&self) -> Vec<ProofKind> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect(&self, out: &mut Vec<ProofKind>) {
        match self {
            Requirement::Proof { proof, .. } => {
                if !out.contains(proof) {
                    out.push(*proof)
                }
            }
            Requirement::AllOf { all_of: rs, .. } | Requirement::AnyOf { any_of: rs } => {
                rs.iter().for_each(|r| r.collect(out))
            }
        }
    }

    /// The items used and the problems; empty problems means met.
    fn eval(&self, ctx: &Ctx, path: &str) -> (Vec<usize>, Vec<Problem>) {
        match self {
            Requirement::Proof { proof, checks } => {
                let candidates: Vec<usize> = (0..ctx.items.len())
                    .filter(|i| ctx.items[*i].kind == *proof)
                    .collect();
                if candidates.is_empty() {
                    let problem = Problem {
                        path: path.to_string(),
                        proof: Some(*proof),
                        item: None,
                        code: "MISSING".into(),
                        message: format!("{} is missing — {}", proof.label(), ctx.rule),
                        rule: ctx.rule.to_string(),
                    };
                    return (Vec::new(), vec![problem]);
                }
                // The best candidate: a valid one, else the one with the fewest problems.
                let mut best: Option<(usize, Vec<Problem>)> = None;
                for i in candidates {
                    let problems = item_problems(ctx, i, checks, path);
                    if problems.is_empty() {
                        return (vec![i], Vec::new());
                    }
                    if best.as_ref().is_none_or(|(_, b)| problems.len() < b.len()) {
                        best = Some((i, problems));
                    }
                }
                let (_, problems) = best.expect("at least one candidate");
                (Vec::new(), problems)
            }
            Requirement::AllOf { all_of, checks } => {
                let mut used = Vec::new();
                let mut problems = Vec::new();
                for (i, r) in all_of.iter().enumerate() {
                    let (u, p) = r.eval(ctx, &format!("{path}.all_of[{i}]"));
                    used.extend(u);
                    problems.extend(p);
                }
                if problems.is_empty() {
                    let group = |used: &[usize]| -> Vec<Problem> {
                        checks
                            .iter()
                            .filter_map(|c| group_problem(ctx, *c, used, path))
                            .collect()
                    };
                    problems = group(&used);
                    if !problems.is_empty() {
                        // The first valid item of a kind need not be the one that goes with
                        // the others (a second shipping slip, a rescheduled visit): any valid
                        // combination meets the group.
                        let mut choices: Vec<Vec<usize>> = vec![Vec::new()];
                        for (i, r) in all_of.iter().enumerate() {
                            let options: Vec<Vec<usize>> = match r {
                                Requirement::Proof {
                                    proof,
                                    checks: item_checks,
                                } => (0..ctx.items.len())
                                    .filter(|j| {
                                        ctx.items[*j].kind == *proof
                                            && item_problems(ctx, *j, item_checks, path).is_empty()
                                    })
                                    .map(|j| vec![j])
                                    .collect(),
                                _ => vec![r.eval(ctx, &format!("{path}.all_of[{i}]")).0],
                            };
                            choices = choices
                                .iter()
                                .flat_map(|c| {
                                    options.iter().map(move |o| [c.as_slice(), o].concat())
                                })
                                // Bounded: staged proofs are capped, and a group has 2–3 parts.
                                .take(MAX_COMBINATIONS)
                                .collect();
                        }
                        if let Some(other) = choices.into_iter().find(|u| group(u).is_empty()) {
                            used = other;
                            problems.clear();
                        }
                    }
                }
                (used, problems)
            }
            Requirement::AnyOf { any_of } => {
                let mut problems = Vec::new();
                for (i, r) in any_of.iter().enumerate() {
                    let (u, p) = r.eval(ctx, &format!("{path}.any_of[{i}]"));
                    if p.is_empty() {
                        return (u, Vec::new());
                    }
                    problems.extend(p);
                }
                (Vec::new(), problems)
            }
        }
    }
}

fn problem(ctx: &Ctx, path: &str, i: usize, code: &str, rule: &str, message: String) -> Problem {
    let item = &ctx.items[i];
    Problem {
        path: path.to_string(),
        proof: Some(item.kind),
        item: Some(i),
        code: code.to_string(),
        message: format!("{}: {message} — {rule}", item.kind.label()),
        rule: rule.to_string(),
    }
}

/// PD-E9's common rules for the item's kind, then the scenario's checks.
fn item_problems(ctx: &Ctx, i: usize, checks: &[Check], path: &str) -> Vec<Problem> {
    let item = &ctx.items[i];
    let mut out = Vec::new();
    let mut fail = |code: &str, rule: &str, message: String| {
        out.push(problem(ctx, path, i, code, rule, message))
    };
    let scenario = ctx.rule;
    match item.kind {
        ProofKind::RedStampProof => {
            match item.stamp {
                Some(Stamp::CarrierRedStamp) => {}
                Some(other @ (Stamp::FinanceStamp | Stamp::BusinessStamp)) => fail(
                    "WRONG_STAMP",
                    "PD-E9",
                    format!(
                        "it has a {} stamp; a carrier red stamp is required",
                        if other == Stamp::FinanceStamp {
                            "finance"
                        } else {
                            "business"
                        }
                    ),
                ),
                Some(Stamp::NoStamp) | None => fail(
                    "NO_STAMP",
                    "PD-E9",
                    "it shows no stamp; a carrier red stamp is required".into(),
                ),
            }
            let missing: Vec<&str> = StampField::ALL
                .iter()
                .filter(|f| !item.handwritten.contains(f) && !item.printed.contains(f))
                .map(|f| f.as_str())
                .collect();
            if !missing.is_empty() {
                fail(
                    "DETAILS_MISSING",
                    "PD-E9",
                    format!("it does not show {}", missing.join(", ")),
                );
            }
            if !item.signer_signature {
                fail(
                    "NO_SIGNATURE",
                    "PD-E9",
                    "it has no signature of the signer (or authorised signer)".into(),
                );
            }
        }
        ProofKind::ChatScreenshot => {
            match item.source {
                Some(Source::PlatformChat) => {}
                Some(s) => fail(
                    "NOT_PLATFORM_CHAT",
                    "PD-E9",
                    format!(
                        "it was taken in {}; only the platform's chat counts",
                        s.as_str()
                    ),
                ),
                None => fail(
                    "NOT_PLATFORM_CHAT",
                    "PD-E9",
                    "its source is not given; only the platform's chat counts".into(),
                ),
            }
            if !item.continuous {
                fail(
                    "NOT_CONTINUOUS",
                    "PD-E9",
                    "the capture is not continuous".into(),
                );
            }
            if !item.complete {
                fail(
                    "INCOMPLETE",
                    "PD-E9",
                    "the conversation is not complete".into(),
                );
            }
        }
        ProofKind::CarrierInternalRecord | ProofKind::CarrierWeighingRecord => {
            if item.source != Some(Source::CarrierInternalSystem) {
                fail(
                    "NOT_CARRIER_SYSTEM",
                    scenario,
                    format!(
                        "it comes from {}; it must be a capture of the carrier's internal system (QQ and WeChat evidence is invalid)",
                        item.source.map_or("an unstated source", Source::as_str)
                    ),
                );
            }
        }
        ProofKind::OfficialTrackingRecord => {
            if item.source != Some(Source::CarrierOfficialSite) {
                fail(
                    "NOT_OFFICIAL_SITE",
                    scenario,
                    format!(
                        "it comes from {}; only the carrier's official site counts (a search-engine screenshot is invalid)",
                        item.source.map_or("an unstated source", Source::as_str)
                    ),
                );
            }
        }
        ProofKind::ReturnedGoodsPhoto
        | ProofKind::UnboxingVideo
        | ProofKind::WeighingPhoto
        | ProofKind::ShippingSlip
        | ProofKind::TransferScreenshot
        | ProofKind::TechnicianVisitMessage
        | ProofKind::InspectionReport => {}
    }
    if matches!(
        item.kind,
        ProofKind::ReturnedGoodsPhoto | ProofKind::UnboxingVideo | ProofKind::WeighingPhoto
    ) {
        if !item.clear {
            fail("NOT_CLEAR", "PD-E9", "it is not clear".into());
        }
        if !item.complete {
            fail(
                "INCOMPLETE",
                "PD-E9",
                "it does not show the whole object".into(),
            );
        }
    }
    for check in checks {
        if let Some((code, message)) = check_fails(ctx, item, *check) {
            fail(code, scenario, message);
        }
    }
    out
}

/// A scenario check that fails, with its code and why.
fn check_fails(ctx: &Ctx, item: &EvidenceItem, check: Check) -> Option<(&'static str, String)> {
    let all_handwritten = StampField::ALL.iter().all(|f| item.handwritten.contains(f));
    let within = |limit: Duration, at: Option<DateTime<Utc>>| match (ctx.context.reported_at, at) {
        (Some(reported), Some(at)) => at <= reported + limit,
        _ => false,
    };
    match check {
        Check::HandwrittenDetailsOnPrintedForm => {
            if item.handwritten.is_empty() {
                Some(("FULLY_PRINTED", "it is fully printed; the tracking number, recipient, courier and date must be handwritten".to_string()))
            } else if !all_handwritten {
                Some((
                    "NOT_HANDWRITTEN",
                    "the tracking number, recipient, courier and date must all be handwritten"
                        .to_string(),
                ))
            } else if !item.printed_form {
                Some(("FULLY_HANDWRITTEN", "it is fully handwritten; the details are handwritten on the carrier's printed form".to_string()))
            } else {
                None
            }
        }
        Check::Handwritten => (!all_handwritten || !item.printed.is_empty()).then(|| {
            (
                "PRINTED",
                "printed details are invalid; they must be handwritten".to_string(),
            )
        }),
        Check::BuyerConfirms => (!item.buyer_confirms).then(|| {
            (
                "NO_BUYER_CONFIRMATION",
                "the buyer does not confirm it in the chat".to_string(),
            )
        }),
        Check::PayeeIsBuyer => match (&item.payee_account, &ctx.context.buyer_account) {
            (Some(payee), Some(buyer)) if payee == buyer => None,
            (_, None) => Some((
                "CONTEXT_MISSING",
                "the buyer's account is not known: give evidence_request.buyer_account".to_string(),
            )),
            (payee, Some(_)) => Some((
                "WRONG_PAYEE",
                format!(
                    "the payee is {}, not the buyer's account",
                    payee.as_deref().unwrap_or("not shown")
                ),
            )),
        },
        Check::AmountIsPromised => match (item.amount, ctx.context.promised_amount) {
            (Some(paid), Some(promised)) if paid == promised => None,
            (_, None) => Some((
                "CONTEXT_MISSING",
                "the promised amount is not known: give evidence_request.promised_amount_fen"
                    .to_string(),
            )),
            (paid, promised) => Some((
                "WRONG_AMOUNT",
                format!(
                    "it shows {} yuan; the promised amount is {} yuan",
                    paid.map_or("no amount".to_string(), |f| f.to_string()),
                    promised.map_or("not known".to_string(), |f| f.to_string())
                ),
            )),
        },
        Check::ShowsNotSigned => (!item.shows_not_signed).then(|| {
            (
                "SIGNING_NOT_DISPROVED",
                "it does not show that the return was not signed for at the return address"
                    .to_string(),
            )
        }),
        Check::DefectMarked => (!item.defect_marked)
            .then(|| ("DEFECT_NOT_MARKED", "the defect is not marked".to_string())),
        Check::WaybillVisible => (!item.waybill_visible).then(|| {
            (
                "NO_WAYBILL",
                "the return waybill is not in the picture".to_string(),
            )
        }),
        Check::CourierPresent => (!item.courier_present).then(|| {
            (
                "NO_COURIER",
                "the courier is not present in the video".to_string(),
            )
        }),
        Check::RecipientIsShop => match (&item.recipient_name, &ctx.context.shop_name) {
            (Some(name), Some(shop)) if name == shop => None,
            (_, None) => Some((
                "CONTEXT_MISSING",
                "the shop's name is not known: give evidence_request.shop_name".to_string(),
            )),
            (name, Some(_)) => Some((
                "RECIPIENT_NOT_SHOP",
                format!(
                    "the recipient is {}, not the shop's name",
                    name.as_deref().unwrap_or("not shown")
                ),
            )),
        },
        Check::RefusalReasonStated => (!item.refusal_reason_stated).then(|| {
            (
                "NO_REFUSAL_REASON",
                "it does not state why delivery was refused".to_string(),
            )
        }),
        Check::DamageStated => (!item.damage_stated).then(|| {
            (
                "NO_DAMAGE_STATED",
                "it does not state that the goods were damaged on arrival".to_string(),
            )
        }),
        Check::FullHistory => (!item.full_history).then(|| {
            (
                "PARTIAL_HISTORY",
                "it does not show the whole tracking history".to_string(),
            )
        }),
        Check::ShowsWeight => item
            .weight_grams
            .is_none()
            .then(|| ("NO_WEIGHT", "it does not show the weight".to_string())),
        Check::ShowsTrackingNumber => item.tracking_number.is_none().then(|| {
            (
                "NO_TRACKING_NUMBER",
                "it does not show the tracking number".to_string(),
            )
        }),
        Check::PostedWithin72HoursWithVisitTime => {
            if item.visit_at.is_none() {
                Some((
                    "NO_VISIT_TIME",
                    "it does not give the technician's visit time".to_string(),
                ))
            } else if item.captured_at.is_none() {
                Some(("UNDATED", "it does not say when it was posted".to_string()))
            } else if !within(Duration::hours(72), item.captured_at) {
                Some((
                    "PROGRESS_LATE",
                    "it was not posted within 72 hours of the report".to_string(),
                ))
            } else {
                None
            }
        }
        Check::WithinOneWeek if item.captured_at.is_none() => {
            Some(("UNDATED", "it is not dated".to_string()))
        }
        Check::WithinOneWeek => (!within(Duration::days(7), item.captured_at)).then(|| {
            (
                "FLOW_TOO_LONG",
                "it is dated more than one week after the report".to_string(),
            )
        }),
    }
}

fn group_problem(ctx: &Ctx, check: GroupCheck, used: &[usize], path: &str) -> Option<Problem> {
    let find = |kind: ProofKind| used.iter().copied().find(|i| ctx.items[*i].kind == kind);
    match check {
        GroupCheck::SameRecipient => {
            let (slip, stamp) = (
                find(ProofKind::ShippingSlip)?,
                find(ProofKind::RedStampProof)?,
            );
            let (a, b) = (&ctx.items[slip], &ctx.items[stamp]);
            let same = a.recipient_name.is_some()
                && a.recipient_name == b.recipient_name
                && a.recipient_address == b.recipient_address;
            (!same).then(|| {
                problem(
                    ctx,
                    path,
                    stamp,
                    "RECIPIENT_MISMATCH",
                    "PD-E9",
                    "its recipient name and address do not match the shipping slip".into(),
                )
            })
        }
        GroupCheck::ReportWithin72HoursOfVisit => {
            let (visit, report) = (
                find(ProofKind::TechnicianVisitMessage)?,
                find(ProofKind::InspectionReport)?,
            );
            let ok = match (ctx.items[visit].visit_at, ctx.items[report].captured_at) {
                (Some(v), Some(r)) => r <= v + Duration::hours(72),
                _ => false,
            };
            (!ok).then(|| {
                problem(
                    ctx,
                    path,
                    report,
                    "REPORT_LATE",
                    ctx.rule,
                    "it is not dated within 72 hours after the technician's visit".into(),
                )
            })
        }
    }
}

/// An evidence request on a case: the scenario, what is staged, what was submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceRequest {
    pub scenario: String,
    pub rule: String,
    pub context: EvidenceContext,
    /// Proofs gathered so far, submitted together.
    #[serde(default)]
    pub staged: Vec<EvidenceItem>,
    #[serde(default)]
    pub submissions: Vec<Submission>,
    /// Why the scenario differs from the one asked for (PD-E10).
    #[serde(default)]
    pub note: Option<String>,
}

/// One submission to the platform (X-01: when, how many proofs, whether past due).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    pub at: DateTime<Utc>,
    pub items: usize,
    pub late: bool,
}

/// What CreateCase says about an evidence request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EvidenceDraft {
    pub scenario: String,
    /// When the buyer made the claim, if earlier than the case is opened here (PD-E8 counts
    /// from it).
    pub reported_at: Option<DateTime<Utc>>,
    pub buyer_account: Option<String>,
    pub promised_amount: Option<Fen>,
    pub shop_name: Option<String>,
}

/// Open the request for a scenario of the policy. PD-E10: a damage claim on an order whose
/// return the merchant signed for is judged under the scenario the policy names for that.
pub(crate) fn open_request(
    policy: &Policy,
    draft: EvidenceDraft,
    earlier: &[Case],
    now: DateTime<Utc>,
) -> Result<EvidenceRequest, DomainError> {
    let unknown = || DomainError::InvalidField {
        field: "evidence_request.scenario",
        reason: format!(
            "{:?} is not a scenario of {}: one of {}",
            draft.scenario,
            policy.version,
            policy.scenario_keys()
        ),
    };
    let mut scenario = policy.scenario(&draft.scenario).ok_or_else(unknown)?;
    let mut note = None;
    if let Some(instead) = &scenario.if_return_signed {
        if let Some(signed) = earlier.iter().find(|c| c.return_signed_at.is_some()) {
            let to = policy.scenario(instead).ok_or_else(unknown)?;
            note = Some(format!(
                "PD-E10: the return was signed for on cases/{} at {}, accepting its condition; \
                 the damage claim needs the {} evidence ({}), not {}",
                signed.id,
                signed.return_signed_at.expect("found by it").to_rfc3339(),
                to.rule,
                to.scenario,
                scenario.rule
            ));
            scenario = to;
        }
    }
    Ok(EvidenceRequest {
        scenario: scenario.scenario.clone(),
        rule: scenario.rule.clone(),
        context: EvidenceContext {
            reported_at: Some(draft.reported_at.map_or(now, |t| t.min(now))),
            buyer_account: draft.buyer_account,
            promised_amount: draft.promised_amount,
            shop_name: draft.shop_name,
        },
        staged: Vec::new(),
        submissions: Vec::new(),
        note,
    })
}

impl Case {
    /// What the staged proofs plus `more` amount to, under the case's scenario (a dry run).
    pub fn check_evidence(
        &self,
        more: &[EvidenceItem],
        policy: &Policy,
    ) -> Result<EvidenceVerdict, DomainError> {
        let (request, scenario) = self.scenario(policy)?;
        let items: Vec<EvidenceItem> = request.staged.iter().chain(more).cloned().collect();
        Ok(scenario
            .requirement
            .evaluate(&items, &request.context, &scenario.rule))
    }

    fn scenario<'p>(
        &self,
        policy: &'p Policy,
    ) -> Result<(&EvidenceRequest, &'p EvidenceScenario), DomainError> {
        let request = self
            .evidence_request
            .as_ref()
            .ok_or(DomainError::NotAnEvidenceRequest { kind: self.kind })?;
        let scenario =
            policy
                .scenario(&request.scenario)
                .ok_or_else(|| DomainError::InvalidField {
                    field: "evidence_request.scenario",
                    reason: format!(
                        "{} is not in policy {} any more",
                        request.scenario, policy.version
                    ),
                })?;
        Ok((request, scenario))
    }

    /// Stage proofs, or submit everything staged plus these (PD-E0). A submission that does
    /// not meet the requirement is refused with every problem; a valid one is recorded with
    /// its count and whether it was past due, and the platform takes the case to review.
    pub(crate) fn handle_evidence(
        &self,
        items: &[EvidenceItem],
        submit: bool,
        policy: &Policy,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Change, DomainError> {
        let (request, scenario) = self.scenario(policy)?;
        let action = if submit {
            ActionKind::SubmitEvidence
        } else {
            ActionKind::StageEvidence
        };
        if !matches!(
            self.state,
            CaseState::AwaitingMerchant | CaseState::AwaitingMerchantExecution
        ) {
            return Err(DomainError::ActionNotAllowedInState {
                action,
                state: self.state,
            });
        }
        let mut next = self.clone();
        let mut req = request.clone();
        req.staged.extend(items.iter().cloned());
        if req.staged.len() > MAX_STAGED {
            return Err(DomainError::InvalidField {
                field: "items",
                reason: format!(
                    "an evidence request holds at most {MAX_STAGED} proofs; {} are staged",
                    request.staged.len()
                ),
            });
        }
        let mut detail = serde_json::json!({
            "scenario": req.scenario,
            "rule": req.rule,
            "items": items.iter().map(|i| serde_json::json!({
                "kind": i.kind.as_str(), "uri": i.uri, "sha256": i.sha256,
            })).collect::<Vec<_>>(),
            "staged": req.staged.len(),
        });
        let mut to = self.state;
        if submit {
            let verdict = scenario
                .requirement
                .evaluate(&req.staged, &req.context, &scenario.rule);
            if !verdict.met {
                return Err(DomainError::EvidenceInsufficient {
                    scenario: req.scenario.clone(),
                    rule: req.rule.clone(),
                    problems: verdict.problems,
                });
            }
            let late = self
                .active_deadlines()
                .map(|d| d.due_at)
                .min()
                .is_some_and(|due| now > due);
            req.submissions.push(Submission {
                at: now,
                items: req.staged.len(),
                late,
            });
            detail["submission"] = serde_json::json!(req.submissions.len());
            detail["late"] = serde_json::json!(late);
            detail["used"] = serde_json::json!(verdict.used);
            // The platform now reviews what was submitted.
            to = CaseState::PlatformIntervening;
        } else if let Some(progress) = scenario.progress {
            // PD-E8: a valid progress message is the first step; the rest has its own clock.
            let valid_progress = Requirement::Proof {
                proof: progress,
                checks: vec![Check::PostedWithin72HoursWithVisitTime],
            }
            .evaluate(items, &req.context, &scenario.rule)
            .met;
            if valid_progress && self.state == CaseState::AwaitingMerchant {
                to = CaseState::AwaitingMerchantExecution;
                detail["progress"] = serde_json::json!(progress.as_str());
            }
        }
        next.evidence_request = Some(req);
        if to != self.state {
            next.enter_state(to, policy, now, None, DeadlineState::Met);
        }
        next.updated_at = now;
        next.version += 1;
        Ok(Change {
            case: next,
            events: vec![NewEvent {
                kind: EventKind::MerchantAction(action),
                actor,
                from_state: Some(self.state),
                to_state: Some(to),
                detail,
                occurred_at: now,
            }],
        })
    }
}
