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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub id: CaseId,
    pub tenant: TenantId,
    pub shop: ShopId,
    pub platform: PlatformCode,
    pub platform_case_id: Option<PlatformCaseId>,
    pub order_id: Option<OrderId>,
    pub sub_order_id: Option<OrderId>,
    pub kind: CaseKind,
    pub state: CaseState,
    pub fulfilment: Fulfilment,
    /// What the buyer asked for.
    pub requested_refund: Fen,
    pub order_total: Option<Fen>,
    /// What was actually paid back, once known.
    pub refunded: Option<Fen>,
    /// TB-11 express refund (极速退款 / 先行垫付): what the platform paid the buyer in advance.
    /// The case stays open until the goods reach the merchant or arbitration ends; the
    /// platform recovers the advance from the merchant's refund.
    #[serde(default)]
    pub platform_advance: Option<Fen>,
    pub reason: BoundedText,
    pub buyer: BoundedText,
    /// CM-01: the order's state when the request was opened, when known.
    #[serde(default)]
    pub order_state: Option<OrderState>,
    /// When the trade succeeded (交易成功); the after-sales window runs from it (TB-01).
    #[serde(default)]
    pub trade_success_at: Option<DateTime<Utc>>,
    pub buyer_address: Option<Address>,
    pub return_address: Option<Address>,
    pub return_shipment: Option<Shipment>,
    pub reship_shipment: Option<Shipment>,
    pub evidence: Vec<EvidenceRef>,
    pub deadlines: Vec<Deadline>,
    pub platform_status: Option<PlatformStatus>,
    /// The platform's version stamp (Taobao refund_version / modified, as epoch millis):
    /// an older record than this one is never applied.
    pub platform_version: Option<i64>,
    /// Raw platform fields kept for the record (good_status, cs_status, refund_phase…).
    pub platform_attributes: BTreeMap<String, String>,
    /// Set when a platform message announced a change the stored record does not show yet.
    #[serde(default)]
    pub needs_refresh: Option<RefreshNeeded>,
    /// The signed-elsewhere platform task (TB-20 … TB-31), for that kind only.
    #[serde(default)]
    pub task: Option<crate::task::SignedElsewhereTask>,
    /// The evidence the platform asked for (PD-E1 … PD-E8), for that kind only.
    #[serde(default)]
    pub evidence_request: Option<crate::evidence::EvidenceRequest>,
    /// PD-E10: when the merchant signed for the buyer's return, accepting its condition.
    #[serde(default)]
    pub return_signed_at: Option<DateTime<Utc>>,
    /// When the buyer signed for the goods (PD-01's window starts there).
    #[serde(default)]
    pub signed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub reason_category: Option<ReasonCategory>,
    /// PD-02: who pays for the return shipping, decided by the reason when the case opened.
    #[serde(default)]
    pub return_shipping_payer: Option<crate::deadline::DueParty>,
    /// The merchant opened it and the buyer has to confirm (PD-06).
    #[serde(default)]
    pub merchant_initiated: bool,
    /// AL-01: the after-sales plan agreed with the buyer.
    #[serde(default)]
    pub return_plan: Option<crate::action::ReturnPlan>,
    /// For an appeal: its ground, what is appealed and the evidence (AL-20 … AL-22).
    #[serde(default)]
    pub appeal: Option<crate::appeal::Appeal>,
    /// The platform's ruling, once recorded (AL-20).
    #[serde(default)]
    pub ruling: Option<crate::appeal::Ruling>,
    /// A deposit-release case's latest evaluation (AL-10 … AL-12).
    #[serde(default)]
    pub deposit: Option<crate::deposit::DepositTracking>,
    /// the merchant's checks on the buyer's satisfaction after resolution, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub satisfaction_checks: Vec<crate::satisfaction::SatisfactionCheck>,
    /// The policy version in force when the case opened; deadlines are always computed from it.
    pub policy_version: String,
    pub created_at: DateTime<Utc>,
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
