//! The one common case model every platform's records are mapped into.

use crate::deadline::{Deadline, DeadlineState};
use crate::ids::{CaseId, OrderId, PlatformCaseId, PlatformCode, ShopId, TenantId};
use crate::money::Fen;
use crate::state::CaseState;
use crate::text::BoundedText;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// What the matter is about (CM-02 plus the platform-specific kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseKind {
    RefundOnly,
    ReturnAndRefund,
    Exchange,
    /// 补寄/补发: a resolution kind of its own on Pinduoduo (PD-06) and Taobao (TB-13).
    Reship,
    Repair,
    CancelOrder,
    /// Taobao 异地签收 platform task (TB-20 … TB-31).
    SignedElsewhereTask,
    /// Pinduoduo platform-intervention evidence request (PD-E1 … PD-E8).
    EvidenceRequest,
    /// Promised price difference or shipping refund not paid (PD-E2).
    Compensation,
    /// Complaint or trade dispute with platform intervention (AL-20, TB-05).
    Dispute,
    /// Appeal against a platform ruling (AL-20 … AL-22).
    Appeal,
    /// Buyer-protection deposit release for a whole shop (AL-10 … AL-12).
    DepositRelease,
}

impl CaseKind {
    pub const ALL: [CaseKind; 12] = [
        CaseKind::RefundOnly,
        CaseKind::ReturnAndRefund,
        CaseKind::Exchange,
        CaseKind::Reship,
        CaseKind::Repair,
        CaseKind::CancelOrder,
        CaseKind::SignedElsewhereTask,
        CaseKind::EvidenceRequest,
        CaseKind::Compensation,
        CaseKind::Dispute,
        CaseKind::Appeal,
        CaseKind::DepositRelease,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseKind::RefundOnly => "refund_only",
            CaseKind::ReturnAndRefund => "return_and_refund",
            CaseKind::Exchange => "exchange",
            CaseKind::Reship => "reship",
            CaseKind::Repair => "repair",
            CaseKind::CancelOrder => "cancel_order",
            CaseKind::SignedElsewhereTask => "signed_elsewhere_task",
            CaseKind::EvidenceRequest => "evidence_request",
            CaseKind::Compensation => "compensation",
            CaseKind::Dispute => "dispute",
            CaseKind::Appeal => "appeal",
            CaseKind::DepositRelease => "deposit_release",
        }
    }

    /// Kinds in which the buyer sends goods back to the merchant.
    pub fn needs_return(self) -> bool {
        matches!(
            self,
            CaseKind::ReturnAndRefund | CaseKind::Exchange | CaseKind::Repair
        )
    }

    /// Platform tasks may only be answered by accounts holding the platform-task permission
    /// (TB-22).
    pub fn is_platform_task(self) -> bool {
        matches!(self, CaseKind::SignedElsewhereTask)
    }

    /// Order-line requests a buyer opens and a merchant answers: the kinds TB-01 (window),
    /// TB-03 (once per line) and CM-03 (kind by order state) speak about.
    pub fn is_buyer_request(self) -> bool {
        matches!(
            self,
            CaseKind::RefundOnly
                | CaseKind::ReturnAndRefund
                | CaseKind::Exchange
                | CaseKind::Reship
                | CaseKind::Repair
                | CaseKind::CancelOrder
                | CaseKind::Compensation
        )
    }

    /// Whether a deposit-release case: the only kind not tied to one order line.
    pub fn is_shop_level(self) -> bool {
        matches!(self, CaseKind::DepositRelease)
    }
}

impl fmt::Display for CaseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CaseKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        CaseKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown case kind {s:?}"))
    }
}

/// The order's own state (CM-01) when the request was made; decides which kinds a buyer may
/// open (CM-03).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// 待支付
    AwaitingPayment,
    /// 待发货
    AwaitingShipment,
    /// 待收货
    AwaitingReceipt,
    /// 交易成功: the buyer confirmed receipt, or it was confirmed automatically.
    TradeSuccess,
}

impl OrderState {
    pub const ALL: [OrderState; 4] = [
        OrderState::AwaitingPayment,
        OrderState::AwaitingShipment,
        OrderState::AwaitingReceipt,
        OrderState::TradeSuccess,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::AwaitingPayment => "awaiting_payment",
            OrderState::AwaitingShipment => "awaiting_shipment",
            OrderState::AwaitingReceipt => "awaiting_receipt",
            OrderState::TradeSuccess => "trade_success",
        }
    }

    /// CM-03: which request kinds a buyer may open on an order in this state. Platform tasks,
    /// evidence requests, disputes and deposit release are not buyer requests and are not
    /// limited here.
    pub fn allows(self, kind: CaseKind) -> bool {
        use CaseKind as K;
        match kind {
            K::CancelOrder => self == OrderState::AwaitingPayment,
            K::RefundOnly => self != OrderState::AwaitingPayment,
            K::ReturnAndRefund | K::Exchange | K::Repair | K::Reship | K::Compensation => {
                matches!(self, OrderState::AwaitingReceipt | OrderState::TradeSuccess)
            }
            K::SignedElsewhereTask
            | K::EvidenceRequest
            | K::Dispute
            | K::Appeal
            | K::DepositRelease => true,
        }
    }
}

impl fmt::Display for OrderState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the buyer asked, as far as the rules care (PD-01, PD-02).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCategory {
    /// 质量问题
    QualityProblem,
    /// 与描述不符
    NotAsDescribed,
    /// 七天无理由
    NoReason,
    /// 未收到货
    NotReceived,
    Other,
}

impl ReasonCategory {
    pub const ALL: [ReasonCategory; 5] = [
        ReasonCategory::QualityProblem,
        ReasonCategory::NotAsDescribed,
        ReasonCategory::NoReason,
        ReasonCategory::NotReceived,
        ReasonCategory::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCategory::QualityProblem => "quality_problem",
            ReasonCategory::NotAsDescribed => "not_as_described",
            ReasonCategory::NoReason => "no_reason",
            ReasonCategory::NotReceived => "not_received",
            ReasonCategory::Other => "other",
        }
    }
}

/// A platform message said the case changed without saying how (Taobao TMC refund topics
/// carry no status): the record must be fetched again before it can be trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshNeeded {
    /// The message topic, e.g. `taobao_refund_RefundSellerAgreeAgreement`.
    pub topic: String,
    pub noticed_at: DateTime<Utc>,
}

/// Where the goods were when the request was made; decides which deadline applies
/// (TB-04 unshipped vs TB-07 signed for) and which kinds are allowed (CM-03).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Fulfilment {
    #[default]
    Unknown,
    NotShipped,
    /// Shipped but not yet signed for (TB-06: the buyer may refuse delivery).
    ShippedNotReceived,
    Received,
}

impl Fulfilment {
    pub const ALL: [Fulfilment; 4] = [
        Fulfilment::Unknown,
        Fulfilment::NotShipped,
        Fulfilment::ShippedNotReceived,
        Fulfilment::Received,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Fulfilment::Unknown => "unknown",
            Fulfilment::NotShipped => "not_shipped",
            Fulfilment::ShippedNotReceived => "shipped_not_received",
            Fulfilment::Received => "received",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Address {
    pub name: BoundedText,
    pub phone: BoundedText,
    pub province: BoundedText,
    pub city: BoundedText,
    pub district: BoundedText,
    /// Street, building and the rest, as written.
    pub detail: BoundedText,
}

/// A parcel in either direction: the buyer's return or the merchant's reship/exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    pub carrier: BoundedText,
    pub tracking_number: BoundedText,
    pub shipped_at: Option<DateTime<Utc>>,
}

/// A proof the merchant holds. Files live elsewhere; the case keeps a reference and a digest
/// so the proof cannot be swapped unnoticed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceRef {
    pub kind: BoundedText,
    pub uri: BoundedText,
    pub sha256: Option<String>,
    pub note: BoundedText,
}

/// The platform's own status, kept beside the normalised state so nothing the platform said
/// is lost in translation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformStatus {
    pub code: String,
    pub text: String,
}

/// One after-sales matter on one order line (or, for deposit release, one shop).
///
/// Stored as JSON, the body every read decodes. Empty fields are left out of it: a Taobao
/// refund's body carried some 25 `null`s, a third of its keys, and each was parsed on every
/// GetCase and for every case of a ListCases page. Bodies written with them still read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub id: CaseId,
    pub tenant: TenantId,
    pub shop: ShopId,
    pub platform: PlatformCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_case_id: Option<PlatformCaseId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<OrderId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_order_id: Option<OrderId>,
    pub kind: CaseKind,
    pub state: CaseState,
    pub fulfilment: Fulfilment,
    /// What the buyer asked for.
    pub requested_refund: Fen,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_total: Option<Fen>,
    /// What was actually paid back, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunded: Option<Fen>,
    /// TB-11 express refund (极速退款 / 先行垫付): what the platform paid the buyer in advance.
    /// The case stays open until the goods reach the merchant or arbitration ends; the
    /// platform recovers the advance from the merchant's refund.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_advance: Option<Fen>,
    pub reason: BoundedText,
    pub buyer: BoundedText,
    /// CM-01: the order's state when the request was opened, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_state: Option<OrderState>,
    /// When the trade succeeded (交易成功); the after-sales window runs from it (TB-01).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::stored_time::optional_time"
    )]
    pub trade_success_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_address: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_address: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_shipment: Option<Shipment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reship_shipment: Option<Shipment>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<EvidenceRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deadlines: Vec<Deadline>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_status: Option<PlatformStatus>,
    /// The platform's version stamp (Taobao refund_version / modified, as epoch millis):
    /// an older record than this one is never applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<i64>,
    /// Raw platform fields kept for the record (good_status, cs_status, refund_phase…).
    pub platform_attributes: BTreeMap<String, String>,
    /// Set when a platform message announced a change the stored record does not show yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs_refresh: Option<RefreshNeeded>,
    /// The signed-elsewhere platform task (TB-20 … TB-31), for that kind only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<crate::task::SignedElsewhereTask>,
    /// The evidence the platform asked for (PD-E1 … PD-E8), for that kind only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_request: Option<crate::evidence::EvidenceRequest>,
    /// PD-E10: when the merchant signed for the buyer's return, accepting its condition.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::stored_time::optional_time"
    )]
    pub return_signed_at: Option<DateTime<Utc>>,
    /// When the buyer signed for the goods (PD-01's window starts there).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::stored_time::optional_time"
    )]
    pub signed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_category: Option<ReasonCategory>,
    /// PD-02: who pays for the return shipping, decided by the reason when the case opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_shipping_payer: Option<crate::deadline::DueParty>,
    /// The merchant opened it and the buyer has to confirm (PD-06).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub merchant_initiated: bool,
    /// AL-01: the after-sales plan agreed with the buyer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_plan: Option<crate::action::ReturnPlan>,
    /// For an appeal: its ground, what is appealed and the evidence (AL-20 … AL-22).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appeal: Option<crate::appeal::Appeal>,
    /// The platform's ruling, once recorded (AL-20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ruling: Option<crate::appeal::Ruling>,
    /// A deposit-release case's latest evaluation (AL-10 … AL-12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deposit: Option<crate::deposit::DepositTracking>,
    /// X-03: the merchant's checks on the buyer's satisfaction after resolution, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub satisfaction_checks: Vec<crate::satisfaction::SatisfactionCheck>,
    /// The policy version in force when the case opened; deadlines are always computed from it.
    pub policy_version: String,
    #[serde(deserialize_with = "crate::stored_time::time")]
    pub created_at: DateTime<Utc>,
    #[serde(deserialize_with = "crate::stored_time::time")]
    pub updated_at: DateTime<Utc>,
    /// Incremented on every change; the API's etag.
    pub version: i64,
}

impl Case {
    /// The earliest due time among deadlines still running.
    pub fn next_deadline_at(&self) -> Option<DateTime<Utc>> {
        self.deadlines
            .iter()
            .filter(|d| d.state == DeadlineState::Active)
            .map(|d| d.due_at)
            .min()
    }

    pub fn active_deadlines(&self) -> impl Iterator<Item = &Deadline> {
        self.deadlines
            .iter()
            .filter(|d| d.state == DeadlineState::Active)
    }

    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }
}

#[cfg(test)]
mod stored_body_tests {
    use super::*;

    /// A Taobao refund's body as the store wrote it before empty fields were left out.
    const BODY_WITH_NULLS: &str = r#"{"id":"01a2500a-e386-7636-8c6d-4c8a975176a7","tenant":"bench","shop":"shop-0","platform":"taobao","platform_case_id":"179663922000000000","order_id":"t179663922000000000","sub_order_id":"t179663922000000000-1","kind":"refund_only","state":"awaiting_merchant","fulfilment":"not_shipped","requested_refund":12000,"order_total":12000,"refunded":null,"platform_advance":null,"reason":"不想要了 — 拍错了","buyer":"tb_buyer","order_state":"awaiting_shipment","trade_success_at":null,"buyer_address":null,"return_address":null,"return_shipment":null,"reship_shipment":null,"evidence":[],"deadlines":[{"key":"merchant_response_unshipped","rule_id":"TB-04","due_party":"merchant","due_at":"2026-12-09T10:27:00Z","remind_at":"2026-12-08T22:27:00Z","consequence":"auto_refund","source":"policy","computed_due_at":null,"state":"active","started_at":"2026-12-07T10:27:00Z","reminded_at":null,"closed_at":null,"assumed":false}],"platform_status":{"code":"WAIT_SELLER_AGREE","text":"等待卖家同意"},"platform_version":1796639220568,"platform_attributes":{"cs_status":"1","good_status":"BUYER_NOT_RECEIVED","has_good_return":"false","modified":"2026-12-07 18:27:00","order_status":"WAIT_SELLER_SEND_GOODS","payment":"120.00","refund_phase":"onsale","refund_version":"1796639220568","remind_exist_timeout":"false","remind_type":"0","seller_nick":"flagship","title":"羊毛大衣"},"needs_refresh":null,"task":null,"evidence_request":null,"return_signed_at":null,"signed_at":null,"reason_category":null,"return_shipping_payer":null,"merchant_initiated":false,"return_plan":null,"appeal":null,"ruling":null,"deposit":null,"policy_version":"taobao-2024-01-01","created_at":"2026-12-07T10:27:00.614227856Z","updated_at":"2026-12-07T10:27:00.614227856Z","version":1}"#;

    #[test]
    fn a_body_with_nulls_reads_as_the_compact_body_of_the_same_case() {
        let old: Case = serde_json::from_str(BODY_WITH_NULLS).unwrap();
        let compact = serde_json::to_string(&old).unwrap();
        assert!(!compact.contains("null"), "{compact}");
        assert!(!compact.contains("\"evidence\""), "{compact}");
        assert!(!compact.contains("\"assumed\""), "{compact}");
        assert!(compact.len() * 4 < BODY_WITH_NULLS.len() * 3, "{compact}");
        let reread: Case = serde_json::from_str(&compact).unwrap();
        assert_eq!(reread, old);
        assert_eq!(old.platform_attributes.len(), 12);
        assert_eq!(old.deadlines[0].rule_id, "TB-04");
        assert_eq!(
            old.created_at,
            "2026-12-07T10:27:00.614227856Z"
                .parse::<DateTime<Utc>>()
                .unwrap()
        );
        assert_eq!(old.deadlines[0].reminded_at, None);
    }

    #[test]
    fn present_optional_fields_are_still_written() {
        let mut case: Case = serde_json::from_str(BODY_WITH_NULLS).unwrap();
        case.signed_at = Some(case.created_at);
        case.merchant_initiated = true;
        case.deadlines[0].assumed = true;
        let body = serde_json::to_string(&case).unwrap();
        assert!(
            body.contains("\"signed_at\":\"2026-12-07T10:27:00.614227856Z\""),
            "{body}"
        );
        assert!(body.contains("\"merchant_initiated\":true"), "{body}");
        assert!(body.contains("\"assumed\":true"), "{body}");
        assert_eq!(serde_json::from_str::<Case>(&body).unwrap(), case);
    }
}
