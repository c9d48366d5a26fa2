//! Pure functions from the native Taobao [`Refund`] to the common [`PlatformRecord`].
//!
//! Every enumerated TOP value is matched explicitly, once, in a `parse` function whose only
//! fallback is an error naming the field (`refund.<field>`, relative to the TOP `Refund`
//! object whatever envelope it came in) and the raw value. The mappings from the parsed
//! enums to common terms are exhaustive matches without wildcard arms, so a new value has to
//! be decided here before it compiles.

use super::model::{Refund, Scalar};
use super::PLATFORM;
use crate::MappingError;
use aftersales_domain::time::parse_shanghai;
use aftersales_domain::{
    Address, BoundedText, CaseKind, CaseState, Fen, Fulfilment, OrderId, OrderState,
    PlatformCaseId, PlatformRecord, PlatformStatus, Shipment,
};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

pub(crate) fn err(field: &str, raw: impl Into<String>, problem: impl Into<String>) -> MappingError {
    MappingError::new(PLATFORM, field, raw, problem)
}

pub(crate) fn missing(field: &str) -> MappingError {
    err(field, "", "required field is missing")
}

pub(crate) use crate::json::present;

// ---------------------------------------------------------------------------------------------
// Refund.status
// ---------------------------------------------------------------------------------------------

/// `Refund.status` (platform-apis.md §1.2): the six refund values plus the three exchange
/// values `taobao.refunds.receive.get` documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    WaitSellerAgree,
    WaitBuyerReturnGoods,
    WaitSellerConfirmGoods,
    SellerRefuseBuyer,
    Closed,
    Success,
    WaitBuyerConfirmExchangeSellerSendGoods,
    WaitSellerConsignGoods,
    ExchangeTransformToRefund,
}

impl RefundStatus {
    pub const ALL: [RefundStatus; 9] = [
        RefundStatus::WaitSellerAgree,
        RefundStatus::WaitBuyerReturnGoods,
        RefundStatus::WaitSellerConfirmGoods,
        RefundStatus::SellerRefuseBuyer,
        RefundStatus::Closed,
        RefundStatus::Success,
        RefundStatus::WaitBuyerConfirmExchangeSellerSendGoods,
        RefundStatus::WaitSellerConsignGoods,
        RefundStatus::ExchangeTransformToRefund,
    ];

    pub fn parse(raw: &str) -> Result<Self, MappingError> {
        Ok(match raw {
            "WAIT_SELLER_AGREE" => RefundStatus::WaitSellerAgree,
            "WAIT_BUYER_RETURN_GOODS" => RefundStatus::WaitBuyerReturnGoods,
            "WAIT_SELLER_CONFIRM_GOODS" => RefundStatus::WaitSellerConfirmGoods,
            "SELLER_REFUSE_BUYER" => RefundStatus::SellerRefuseBuyer,
            "CLOSED" => RefundStatus::Closed,
            "SUCCESS" => RefundStatus::Success,
            "WAIT_BUYER_CONFIRM_EXCHANGE_SELLER_SEND_GOODS" => {
                RefundStatus::WaitBuyerConfirmExchangeSellerSendGoods
            }
            "WAIT_SELLER_CONSIGN_GOODS" => RefundStatus::WaitSellerConsignGoods,
            "EXCHANGE_TRANSFORM_TO_REFUND" => RefundStatus::ExchangeTransformToRefund,
            other => return Err(err("refund.status", other, "unknown Taobao refund status")),
        })
    }

    pub fn code(self) -> &'static str {
        match self {
            RefundStatus::WaitSellerAgree => "WAIT_SELLER_AGREE",
            RefundStatus::WaitBuyerReturnGoods => "WAIT_BUYER_RETURN_GOODS",
            RefundStatus::WaitSellerConfirmGoods => "WAIT_SELLER_CONFIRM_GOODS",
            RefundStatus::SellerRefuseBuyer => "SELLER_REFUSE_BUYER",
            RefundStatus::Closed => "CLOSED",
            RefundStatus::Success => "SUCCESS",
            RefundStatus::WaitBuyerConfirmExchangeSellerSendGoods => {
                "WAIT_BUYER_CONFIRM_EXCHANGE_SELLER_SEND_GOODS"
            }
            RefundStatus::WaitSellerConsignGoods => "WAIT_SELLER_CONSIGN_GOODS",
            RefundStatus::ExchangeTransformToRefund => "EXCHANGE_TRANSFORM_TO_REFUND",
        }
    }

    /// The meaning Taobao gives the value (TOP SDK doc comments), shown beside the code.
    pub fn text(self) -> &'static str {
        match self {
            RefundStatus::WaitSellerAgree => "等待卖家同意",
            RefundStatus::WaitBuyerReturnGoods => "等待买家退货",
            RefundStatus::WaitSellerConfirmGoods => "等待卖家确认收货",
            RefundStatus::SellerRefuseBuyer => "卖家拒绝退款",
            RefundStatus::Closed => "退款关闭",
            RefundStatus::Success => "退款成功",
            RefundStatus::WaitBuyerConfirmExchangeSellerSendGoods => "等待买家确认换货卖家发货商品",
            RefundStatus::WaitSellerConsignGoods => "商家确认收货等待商家发货",
            RefundStatus::ExchangeTransformToRefund => "换货关闭转退款",
        }
    }

    /// The normalised state, before customer-service involvement is considered.
    pub fn state(self) -> CaseState {
        match self {
            RefundStatus::WaitSellerAgree => CaseState::AwaitingMerchant,
            RefundStatus::WaitBuyerReturnGoods => CaseState::AwaitingBuyer,
            RefundStatus::WaitSellerConfirmGoods => CaseState::ReturnInTransit,
            // TB-02/TB-05: after a refusal the buyer may modify the request or ask customer
            // service to intervene; until then the ball is in the buyer's court.
            RefundStatus::SellerRefuseBuyer => CaseState::AwaitingBuyer,
            RefundStatus::Closed => CaseState::Closed,
            RefundStatus::Success => CaseState::Refunded,
            // The merchant sent the replacement; the buyer confirms receipt.
            RefundStatus::WaitBuyerConfirmExchangeSellerSendGoods => CaseState::AwaitingBuyer,
            // The merchant confirmed the returned goods and still has to send the replacement.
            RefundStatus::WaitSellerConsignGoods => CaseState::AwaitingMerchantExecution,
            // ASSUMPTION: "exchange closed, turned into a refund" leaves a refund the merchant
            // has to answer, like a fresh WAIT_SELLER_AGREE. TOP documents the value but not
            // the flow after it.
            RefundStatus::ExchangeTransformToRefund => CaseState::AwaitingMerchant,
        }
    }

    /// Whether the status itself says the case is an exchange.
    fn is_exchange(self) -> bool {
        match self {
            RefundStatus::WaitBuyerConfirmExchangeSellerSendGoods
            | RefundStatus::WaitSellerConsignGoods => true,
            // Turned into a refund: no longer an exchange (kind comes from has_good_return).
            RefundStatus::ExchangeTransformToRefund => false,
            RefundStatus::WaitSellerAgree
            | RefundStatus::WaitBuyerReturnGoods
            | RefundStatus::WaitSellerConfirmGoods
            | RefundStatus::SellerRefuseBuyer
            | RefundStatus::Closed
            | RefundStatus::Success => false,
        }
    }

    /// Whether the status only exists in a flow where goods go back to the merchant.
    fn implies_return(self) -> bool {
        match self {
            RefundStatus::WaitBuyerReturnGoods | RefundStatus::WaitSellerConfirmGoods => true,
            RefundStatus::WaitSellerAgree
            | RefundStatus::SellerRefuseBuyer
            | RefundStatus::Closed
            | RefundStatus::Success
            | RefundStatus::WaitBuyerConfirmExchangeSellerSendGoods
            | RefundStatus::WaitSellerConsignGoods
            | RefundStatus::ExchangeTransformToRefund => false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Refund.cs_status
// ---------------------------------------------------------------------------------------------

/// `Refund.cs_status`: Taobao customer service's involvement (platform-apis.md §1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsStatus {
    /// 1 不需客服介入
    NotNeeded,
    /// 2 需要客服介入
    Needed,
    /// 3 客服已经介入
    Intervened,
    /// 4 客服初审完成
    FirstReviewDone,
    /// 5 客服主管复审失败
    SupervisorReviewFailed,
    /// 6 客服处理完成
    Finished,
}

impl CsStatus {
    pub const ALL: [CsStatus; 6] = [
        CsStatus::NotNeeded,
        CsStatus::Needed,
        CsStatus::Intervened,
        CsStatus::FirstReviewDone,
        CsStatus::SupervisorReviewFailed,
        CsStatus::Finished,
    ];

    /// From the code, sent as a number or a string.
    pub fn parse(raw: &Scalar) -> Result<Self, MappingError> {
        Ok(match raw.text() {
            "1" => CsStatus::NotNeeded,
            "2" => CsStatus::Needed,
            "3" => CsStatus::Intervened,
            "4" => CsStatus::FirstReviewDone,
            "5" => CsStatus::SupervisorReviewFailed,
            "6" => CsStatus::Finished,
            other => {
                return Err(err(
                    "refund.cs_status",
                    other,
                    "unknown customer-service status (expected 1..6)",
                ))
            }
        })
    }

    pub fn code(self) -> u8 {
        match self {
            CsStatus::NotNeeded => 1,
            CsStatus::Needed => 2,
            CsStatus::Intervened => 3,
            CsStatus::FirstReviewDone => 4,
            CsStatus::SupervisorReviewFailed => 5,
            CsStatus::Finished => 6,
        }
    }

    /// TB-05: while customer service is asked for or working on the case, the platform has
    /// it, whatever the refund status says. Not needed (1) and finished (6) leave the
    /// decision to the status.
    pub fn platform_has_case(self) -> bool {
        match self {
            CsStatus::Needed
            | CsStatus::Intervened
            | CsStatus::FirstReviewDone
            | CsStatus::SupervisorReviewFailed => true,
            CsStatus::NotNeeded | CsStatus::Finished => false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Refund.good_status, Refund.order_status, Refund.refund_phase
// ---------------------------------------------------------------------------------------------

/// `Refund.good_status`: where the buyer says the goods are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoodStatus {
    BuyerNotReceived,
    BuyerReceived,
    BuyerReturnedGoods,
}

impl GoodStatus {
    pub const ALL: [GoodStatus; 3] = [
        GoodStatus::BuyerNotReceived,
        GoodStatus::BuyerReceived,
        GoodStatus::BuyerReturnedGoods,
    ];

    pub fn parse(raw: &str) -> Result<Self, MappingError> {
        Ok(match raw {
            "BUYER_NOT_RECEIVED" => GoodStatus::BuyerNotReceived,
            "BUYER_RECEIVED" => GoodStatus::BuyerReceived,
            "BUYER_RETURNED_GOODS" => GoodStatus::BuyerReturnedGoods,
            other => return Err(err("refund.good_status", other, "unknown goods status")),
        })
    }
}

/// `Refund.order_status`: the trade's status (TOP trade status values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    /// 没有创建支付宝交易
    TradeNoCreatePay,
    /// 等待买家付款
    WaitBuyerPay,
    /// 等待卖家发货 (paid, not shipped)
    WaitSellerSendGoods,
    /// 卖家部分发货 (some lines of the trade shipped). A TOP trade status, not in the Refund
    /// doc comment's list.
    SellerConsignedPart,
    /// 等待买家确认收货 (shipped)
    WaitBuyerConfirmGoods,
    /// 买家已签收 (cash on delivery)
    TradeBuyerSigned,
    /// 交易成功
    TradeFinished,
    /// 交易关闭
    TradeClosed,
    /// 交易被淘宝关闭
    TradeClosedByTaobao,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 9] = [
        OrderStatus::TradeNoCreatePay,
        OrderStatus::WaitBuyerPay,
        OrderStatus::WaitSellerSendGoods,
        OrderStatus::SellerConsignedPart,
        OrderStatus::WaitBuyerConfirmGoods,
        OrderStatus::TradeBuyerSigned,
        OrderStatus::TradeFinished,
        OrderStatus::TradeClosed,
        OrderStatus::TradeClosedByTaobao,
    ];

    pub fn parse(raw: &str) -> Result<Self, MappingError> {
        Ok(match raw {
            "TRADE_NO_CREATE_PAY" => OrderStatus::TradeNoCreatePay,
            "WAIT_BUYER_PAY" => OrderStatus::WaitBuyerPay,
            "WAIT_SELLER_SEND_GOODS" => OrderStatus::WaitSellerSendGoods,
            "SELLER_CONSIGNED_PART" => OrderStatus::SellerConsignedPart,
            "WAIT_BUYER_CONFIRM_GOODS" => OrderStatus::WaitBuyerConfirmGoods,
            "TRADE_BUYER_SIGNED" => OrderStatus::TradeBuyerSigned,
            "TRADE_FINISHED" => OrderStatus::TradeFinished,
            "TRADE_CLOSED" => OrderStatus::TradeClosed,
            "TRADE_CLOSED_BY_TAOBAO" => OrderStatus::TradeClosedByTaobao,
            other => return Err(err("refund.order_status", other, "unknown trade status")),
        })
    }
}

impl OrderStatus {
    /// CM-01: the common order state, where the trade status says one.
    pub fn order_state(self) -> Option<OrderState> {
        match self {
            OrderStatus::TradeNoCreatePay | OrderStatus::WaitBuyerPay => {
                Some(OrderState::AwaitingPayment)
            }
            OrderStatus::WaitSellerSendGoods => Some(OrderState::AwaitingShipment),
            // Partly shipped: this line may or may not be on its way.
            OrderStatus::SellerConsignedPart => None,
            OrderStatus::WaitBuyerConfirmGoods => Some(OrderState::AwaitingReceipt),
            OrderStatus::TradeBuyerSigned | OrderStatus::TradeFinished => {
                Some(OrderState::TradeSuccess)
            }
            // Closed trades are outside CM-01's four states (often closed by this refund).
            OrderStatus::TradeClosed | OrderStatus::TradeClosedByTaobao => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Refund.advance_status (先行垫付)
// ---------------------------------------------------------------------------------------------

/// `Refund.advance_status` (platform-apis.md §1.3): the platform paying the buyer before the
/// merchant does — the money side of TB-11's express refund (极速退款).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdvanceStatus {
    NotApplied,
    Applying,
    Paid,
    SellerRefusedReceipt,
    Closed,
    SplitSettled,
}

impl AdvanceStatus {
    pub const ALL: [AdvanceStatus; 6] = [
        AdvanceStatus::NotApplied,
        AdvanceStatus::Applying,
        AdvanceStatus::Paid,
        AdvanceStatus::SellerRefusedReceipt,
        AdvanceStatus::Closed,
        AdvanceStatus::SplitSettled,
    ];

    pub fn parse(raw: &Scalar) -> Result<Self, MappingError> {
        Ok(match raw.text() {
            "0" => AdvanceStatus::NotApplied,
            "1" => AdvanceStatus::Applying,
            "2" => AdvanceStatus::Paid,
            "3" => AdvanceStatus::SellerRefusedReceipt,
            "4" => AdvanceStatus::Closed,
            "5" => AdvanceStatus::SplitSettled,
            other => {
                return Err(err(
                    "refund.advance_status",
                    other,
                    "unknown advance-payment status (expected 0..5)",
                ))
            }
        })
    }

    /// TB-11: whether the buyer already has the platform's money. A seller refusing receipt
    /// (3) goes to arbitration with the advance still paid; a split settlement (5) means the
    /// advance was recovered from the merchant's refund.
    pub fn advanced(self) -> bool {
        match self {
            AdvanceStatus::Paid
            | AdvanceStatus::SellerRefusedReceipt
            | AdvanceStatus::SplitSettled => true,
            AdvanceStatus::NotApplied | AdvanceStatus::Applying | AdvanceStatus::Closed => false,
        }
    }
}

/// `Refund.refund_phase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundPhase {
    /// 售中: before trade success.
    OnSale,
    /// 售后: after trade success.
    AfterSale,
}

impl RefundPhase {
    pub const ALL: [RefundPhase; 2] = [RefundPhase::OnSale, RefundPhase::AfterSale];

    pub fn parse(raw: &str) -> Result<Self, MappingError> {
        Ok(match raw {
            "onsale" => RefundPhase::OnSale,
            "aftersale" => RefundPhase::AfterSale,
            other => {
                return Err(err(
                    "refund.refund_phase",
                    other,
                    "unknown refund phase (expected onsale or aftersale)",
                ))
            }
        })
    }
}

/// Where the goods were, which decides TB-04 (unshipped) against TB-07 (signed for).
///
/// The buyer's own goods status wins when it says the goods arrived; otherwise the trade
/// status decides, then the refund phase. Where nothing says, `Unknown`, never a guess.
pub fn fulfilment(
    good: Option<GoodStatus>,
    order: Option<OrderStatus>,
    phase: Option<RefundPhase>,
) -> Fulfilment {
    match good {
        // Received (or already sent back) is what the buyer and the platform record; it wins
        // even over a trade status that still says "not shipped" (e.g. goods sent outside the
        // platform's shipping flow).
        Some(GoodStatus::BuyerReceived | GoodStatus::BuyerReturnedGoods) => {
            return Fulfilment::Received
        }
        Some(GoodStatus::BuyerNotReceived) | None => {}
    }
    match order {
        // Nothing ships before payment, and WAIT_SELLER_SEND_GOODS is "paid, not shipped".
        Some(
            OrderStatus::TradeNoCreatePay
            | OrderStatus::WaitBuyerPay
            | OrderStatus::WaitSellerSendGoods,
        ) => Fulfilment::NotShipped,
        Some(OrderStatus::WaitBuyerConfirmGoods) => match good {
            Some(GoodStatus::BuyerNotReceived) => Fulfilment::ShippedNotReceived,
            // Shipped, but whether it was signed for is not said.
            Some(GoodStatus::BuyerReceived | GoodStatus::BuyerReturnedGoods) | None => {
                Fulfilment::Unknown
            }
        },
        // Some lines shipped: whether this one did is not said.
        Some(OrderStatus::SellerConsignedPart) => Fulfilment::Unknown,
        // Trade success means confirmed or auto-confirmed receipt (TB-01's "trade success").
        Some(OrderStatus::TradeBuyerSigned | OrderStatus::TradeFinished) => Fulfilment::Received,
        // A closed trade (often closed by this very refund) does not say where the goods are.
        Some(OrderStatus::TradeClosed | OrderStatus::TradeClosedByTaobao) => Fulfilment::Unknown,
        None => match phase {
            // 售后 = after trade success.
            Some(RefundPhase::AfterSale) => Fulfilment::Received,
            Some(RefundPhase::OnSale) | None => Fulfilment::Unknown,
        },
    }
}

/// The case kind. Exchange statuses say so themselves; otherwise `has_good_return` decides,
/// except that a return-only status (waiting for / in transit of the buyer's return) can
/// only be a return and refund, whatever the flag (absent flags are common: the Go SDK even
/// drops `false`).
pub fn kind(status: RefundStatus, has_good_return: Option<bool>) -> Result<CaseKind, MappingError> {
    if status.is_exchange() {
        return Ok(CaseKind::Exchange);
    }
    match (has_good_return, status.implies_return()) {
        (Some(true), _) | (None, true) => Ok(CaseKind::ReturnAndRefund),
        (Some(false), true) => Err(err(
            "refund.has_good_return",
            "false",
            format!(
                "contradicts status {}, which only exists when goods are returned",
                status.code()
            ),
        )),
        (Some(false) | None, false) => Ok(CaseKind::RefundOnly),
    }
}

/// The normalised state: the status's, unless customer service has an open case on it.
pub fn state(status: RefundStatus, cs: Option<CsStatus>) -> CaseState {
    let by_status = status.state();
    match cs {
        Some(cs) if cs.platform_has_case() && !by_status.is_resolved() => {
            CaseState::PlatformIntervening
        }
        Some(_) | None => by_status,
    }
}

// ---------------------------------------------------------------------------------------------
// Scalars: money, times, ids, text
// ---------------------------------------------------------------------------------------------

pub(crate) fn money(field: &str, raw: &Scalar) -> Result<Fen, MappingError> {
    Fen::parse_yuan(raw.text()).map_err(|e| err(field, raw.text(), e.to_string()))
}

pub(crate) fn opt_money(field: &str, raw: &Option<Scalar>) -> Result<Option<Fen>, MappingError> {
    match raw {
        Some(Scalar::Str(s)) if s.trim().is_empty() => Ok(None),
        Some(v) => money(field, v).map(Some),
        None => Ok(None),
    }
}

pub(crate) fn time(field: &str, raw: &str) -> Result<DateTime<Utc>, MappingError> {
    parse_shanghai(raw).map_err(|e| err(field, raw, e.to_string()))
}

pub(crate) fn opt_time(
    field: &str,
    raw: &Option<String>,
) -> Result<Option<DateTime<Utc>>, MappingError> {
    present(raw).map(|s| time(field, s)).transpose()
}

/// An id TOP sends as a number or a string. A number must be a plain integer: `1.5e21` has
/// already lost digits somewhere and is refused rather than stored wrong.
pub(crate) fn id_text<'a>(field: &str, raw: &'a Scalar) -> Result<&'a str, MappingError> {
    match raw {
        Scalar::Num(n) if !raw.is_plain_integer() => Err(err(
            field,
            n.as_str(),
            "a numeric id must be a plain integer; send big ids as strings",
        )),
        Scalar::Num(n) => Ok(n),
        Scalar::Str(s) => Ok(s.trim()),
    }
}

pub(crate) fn opt_order_id(
    field: &str,
    raw: &Option<Scalar>,
) -> Result<Option<OrderId>, MappingError> {
    let Some(raw) = raw else { return Ok(None) };
    let text = id_text(field, raw)?;
    if text.is_empty() {
        return Ok(None);
    }
    OrderId::parse(text)
        .map(Some)
        .map_err(|e| err(field, text, e.to_string()))
}

pub(crate) fn text(field: &str, raw: &str) -> Result<BoundedText, MappingError> {
    BoundedText::parse(raw).map_err(|e| err(field, raw, e.to_string()))
}

/// The version stamp: `refund_version` (epoch millis) when sent, else `modified` as epoch
/// millis. Both are millisecond timestamps, so records carrying either compare correctly.
/// Field names are reported under `payload`; a record with neither is reported at
/// `missing_at`.
pub(crate) fn version_stamp(
    payload: &str,
    refund_version: &Option<Scalar>,
    modified: &Option<String>,
    missing_at: &str,
) -> Result<i64, MappingError> {
    if let Some(v) = refund_version {
        let t = v.text();
        return match t.parse::<i64>() {
            Ok(n) if n > 0 && v.is_plain_integer() => Ok(n),
            _ => Err(err(
                &format!("{payload}.refund_version"),
                t,
                "not a positive epoch-millis integer",
            )),
        };
    }
    match present(modified) {
        Some(m) => Ok(time(&format!("{payload}.modified"), m)?.timestamp_millis()),
        None => Err(err(
            missing_at,
            "",
            "neither refund_version nor modified is present: the record cannot be ordered",
        )),
    }
}

fn version(r: &Refund) -> Result<i64, MappingError> {
    version_stamp(
        "refund",
        &r.refund_version,
        &r.modified,
        "refund.refund_version",
    )
}

// ---------------------------------------------------------------------------------------------
// The record
// ---------------------------------------------------------------------------------------------

/// Map one native refund into the common record.
pub fn to_record(r: &Refund) -> Result<PlatformRecord, MappingError> {
    // Identity.
    let refund_id = r
        .refund_id
        .as_ref()
        .ok_or_else(|| missing("refund.refund_id"))?;
    let refund_id_text = id_text("refund.refund_id", refund_id)?;
    let platform_case_id = PlatformCaseId::parse(refund_id_text)
        .map_err(|e| err("refund.refund_id", refund_id_text, e.to_string()))?;
    let order_id = opt_order_id("refund.tid", &r.tid)?;
    let sub_order_id = opt_order_id("refund.oid", &r.oid)?;

    // Status, customer service, kind, fulfilment.
    let status = RefundStatus::parse(present(&r.status).ok_or_else(|| missing("refund.status"))?)?;
    let cs = r.cs_status.as_ref().map(CsStatus::parse).transpose()?;
    let has_good_return = r.has_good_return.map(|b| b.0);
    let kind = kind(status, has_good_return)?;
    let good = present(&r.good_status).map(GoodStatus::parse).transpose()?;
    let order = present(&r.order_status)
        .map(OrderStatus::parse)
        .transpose()?;
    let phase = present(&r.refund_phase)
        .map(RefundPhase::parse)
        .transpose()?;
    let fulfilment = fulfilment(good, order, phase);
    let state = state(status, cs);
    let advance = r
        .advance_status
        .as_ref()
        .map(AdvanceStatus::parse)
        .transpose()?;

    // Money.
    let requested_refund = match &r.refund_fee {
        Some(v) => money("refund.refund_fee", v)?,
        None => return Err(missing("refund.refund_fee")),
    };
    let order_total = opt_money("refund.total_fee", &r.total_fee)?;
    // Validated; kept as an attribute (the common record has no field for it).
    opt_money("refund.payment", &r.payment)?;
    let refunded = match status {
        RefundStatus::Success => Some(requested_refund),
        RefundStatus::WaitSellerAgree
        | RefundStatus::WaitBuyerReturnGoods
        | RefundStatus::WaitSellerConfirmGoods
        | RefundStatus::SellerRefuseBuyer
        | RefundStatus::Closed
        | RefundStatus::WaitBuyerConfirmExchangeSellerSendGoods
        | RefundStatus::WaitSellerConsignGoods
        | RefundStatus::ExchangeTransformToRefund => None,
    };

    // Times.
    let version = version(r)?;
    let opened_at = opt_time("refund.created", &r.created)?;
    let platform_deadline = match &r.refund_remind_timeout {
        Some(t) if t.exist_timeout.is_some_and(|b| b.0) => {
            let raw = present(&t.timeout).ok_or_else(|| {
                err(
                    "refund.refund_remind_timeout.timeout",
                    "",
                    "exist_timeout is true but no timeout is given",
                )
            })?;
            Some(time("refund.refund_remind_timeout.timeout", raw)?)
        }
        Some(_) | None => None,
    };

    // People and words.
    let buyer_raw = present(&r.buyer_nick)
        .or(present(&r.buyer_open_uid))
        .unwrap_or("");
    let buyer = text(
        if present(&r.buyer_nick).is_some() {
            "refund.buyer_nick"
        } else {
            "refund.buyer_open_uid"
        },
        buyer_raw,
    )?;
    let reason_raw = match (present(&r.reason), present(&r.desc)) {
        (Some(reason), Some(desc)) => format!("{reason} — {desc}"),
        (Some(only), None) | (None, Some(only)) => only.to_string(),
        (None, None) => String::new(),
    };
    let reason = text("refund.reason", &reason_raw)?;

    // Logistics.
    let return_shipment = match present(&r.sid) {
        Some(sid) => Some(Shipment {
            carrier: text(
                "refund.company_name",
                present(&r.company_name).unwrap_or(""),
            )?,
            tracking_number: text("refund.sid", sid)?,
            shipped_at: opt_time("refund.good_return_time", &r.good_return_time)?,
        }),
        None => None,
    };
    let return_address = present(&r.address)
        .map(|a| {
            // TOP gives the address as one line; it is not split into province/city/district
            // here (that needs a division table, platform-apis.md §7).
            Ok::<_, MappingError>(Address {
                detail: text("refund.address", a)?,
                ..Address::default()
            })
        })
        .transpose()?;

    Ok(PlatformRecord {
        platform_case_id,
        order_id,
        sub_order_id,
        kind,
        state,
        fulfilment,
        requested_refund,
        order_total,
        refunded,
        reason,
        buyer,
        return_address,
        return_shipment,
        reship_shipment: None,
        status: PlatformStatus {
            code: status.code().to_string(),
            text: status.text().to_string(),
        },
        version,
        platform_deadline,
        attributes: attributes(r)?,
        opened_at,
        order_state: order.and_then(OrderStatus::order_state),
        // TB-11: the platform advanced the refund fee; the case stays open on its status.
        platform_advance: advance.filter(|a| a.advanced()).map(|_| requested_refund),
        task: None,
    })
}

/// Raw fields kept for the record under their TOP names, bounded like any text; an error
/// names the field as `<payload>.<key>`. Empty values are left out.
pub(crate) struct Attributes {
    payload: &'static str,
    out: BTreeMap<String, String>,
}

impl Attributes {
    pub(crate) fn new(payload: &'static str) -> Self {
        Attributes {
            payload,
            out: BTreeMap::new(),
        }
    }

    pub(crate) fn value(&mut self, key: &str, value: Option<String>) -> Result<(), MappingError> {
        if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
            let v = text(&format!("{}.{key}", self.payload), &v)?;
            self.out.insert(key.to_string(), v.as_str().to_string());
        }
        Ok(())
    }

    pub(crate) fn text(&mut self, key: &str, value: &Option<String>) -> Result<(), MappingError> {
        self.value(key, value.clone())
    }

    pub(crate) fn scalar(&mut self, key: &str, value: &Option<Scalar>) -> Result<(), MappingError> {
        self.value(key, value.as_ref().map(|x| x.text().to_string()))
    }

    pub(crate) fn into_map(self) -> BTreeMap<String, String> {
        self.out
    }
}

/// Raw fields kept for the record, under their TOP names.
fn attributes(r: &Refund) -> Result<BTreeMap<String, String>, MappingError> {
    let mut a = Attributes::new("refund");
    a.text("good_status", &r.good_status)?;
    a.text("order_status", &r.order_status)?;
    a.text("refund_phase", &r.refund_phase)?;
    a.scalar("cs_status", &r.cs_status)?;
    a.scalar("advance_status", &r.advance_status)?;
    a.value(
        "has_good_return",
        r.has_good_return.map(|b| b.0.to_string()),
    )?;
    a.text("operation_contraint", &r.operation_contraint)?;
    a.text("dispute_type", &r.dispute_type)?;
    a.text("special_refund_type", &r.special_refund_type)?;
    a.text("attribute", &r.attribute)?;
    a.scalar("alipay_no", &r.alipay_no)?;
    a.scalar("num_iid", &r.num_iid)?;
    a.scalar("num", &r.num)?;
    a.text("sku", &r.sku)?;
    a.text("outer_id", &r.outer_id)?;
    a.text("title", &r.title)?;
    a.text("seller_nick", &r.seller_nick)?;
    a.text("buyer_open_uid", &r.buyer_open_uid)?;
    a.scalar("payment", &r.payment)?;
    a.scalar("price", &r.price)?;
    a.scalar("split_taobao_fee", &r.split_taobao_fee)?;
    a.scalar("split_seller_fee", &r.split_seller_fee)?;
    a.text("shipping_type", &r.shipping_type)?;
    a.scalar("refund_version", &r.refund_version)?;
    a.text("modified", &r.modified)?;
    if let Some(t) = &r.refund_remind_timeout {
        a.scalar("remind_type", &t.remind_type)?;
        a.value(
            "remind_exist_timeout",
            t.exist_timeout.map(|b| b.0.to_string()),
        )?;
        a.text("remind_timeout", &t.timeout)?;
    }
    Ok(a.into_map())
}
