//! Tmall disputes (天猫逆向纠纷, `tmall.dispute.receive.get`; platform-apis.md §1.4): the
//! native `Dispute` payload and its mapping into the common [`PlatformRecord`].
//!
//! Same rules as `model` + `transformers`: the native types only *read* the payload (raw
//! strings and [`Scalar`]s); every enumerated value is matched explicitly in a `parse` whose
//! only fallback is an error naming the field (`dispute.<field>`, relative to the `Dispute`
//! object whatever envelope it came in) and the raw value; mappings to common terms are
//! exhaustive matches without wildcard arms.
//!
//! # Field names: where each one comes from
//!
//! - **platform-apis.md §1.4:** `dispute_request`, numeric `status` (both tables),
//!   `refund_phase`, `time_out`, `buyer_logistic_name/no`, `seller_logistic_name/no`,
//!   `buyer_address`, `buyer_name`, `buyer_phone`, `biz_order_id`, `refund_fee` (yuan),
//!   `good_status`, `has_good_return`.
//! - **The generated Go SDK's `Dispute` struct** (bububa/opentaobao
//!   `model/refund/Dispute.go`, the source §1.4 names), read for this module: `refund_id`
//!   (纠纷单号id), `oid`, `alipay_no`, `attribute`, `address` (卖家收货地址), `buyer_nick`,
//!   `company_name`, `created` / `modified` (纠纷单创建/修改时间), `desc`, `good_return_time`,
//!   `num`, `order_status`, `reason`, `title`. It types `status` as a string holding the
//!   number ("3"), so both forms are accepted. The same file gives the platform's own words
//!   for every status code; [`RefundDisputeStatus::text`] and [`ExchangeDisputeStatus::text`]
//!   use them verbatim.
//! - **The request's `fields` list only** (`TmallDisputeReceiveGetAPIRequest.go`), not in the
//!   struct: `tid`, `seller_nick`, `refund_version`. Read when sent.
//! - **Assumed [U]:** `buyer_open_uid` (TOP's replacement for `buyer_nick` on the refund and
//!   message APIs; not listed for disputes). Read when sent, never required.
//!
//! # Envelopes
//!
//! - `{"dispute":{…}}`: one dispute object.
//! - `{"tmall_dispute_receive_get_response":{"dispute_list":{"dispute":[{…}]}}}`, and the
//!   shape the Go SDK's tags describe, `{"tmall_dispute_receive_get_response":{"result":
//!   {"results":{"dispute":[{…}]}}}}` (`results` may also be the bare array). A list is
//!   accepted only when it holds exactly one dispute: the adapter maps one payload to one
//!   record, so a page of disputes must be split by the caller and sent one at a time.

use super::model::{expect_object, json_error, Scalar, TopBool};
use super::transformers::{
    err, fulfilment, id_text, missing, money, opt_order_id, opt_time, present, text, version_stamp,
    Attributes, GoodStatus, OrderStatus, RefundPhase,
};
use super::{rebase, PLATFORM};
use crate::MappingError;
use aftersales_domain::{
    Address, CaseKind, CaseState, Fen, OrderId, PlatformCaseId, PlatformRecord, PlatformStatus,
    Shipment,
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// The field-path prefix of every error about the dispute object itself.
const AT: &str = "dispute";

// ---------------------------------------------------------------------------------------------
// The native payload
// ---------------------------------------------------------------------------------------------

/// One Tmall dispute (`Dispute` in the TOP SDKs). Every field is optional here: which ones
/// are required is decided, with a precise error, in [`to_record`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(default)]
pub struct Dispute {
    // Identifiers.
    /// 纠纷单号id: the dispute's own id, the case's platform id.
    pub refund_id: Option<Scalar>,
    /// 正向交易单号: the trade (order) id.
    pub biz_order_id: Option<Scalar>,
    /// The trade id under its refund-API name (request `fields` list only).
    pub tid: Option<Scalar>,
    /// 子订单号; equals the trade id for a single-line trade.
    pub oid: Option<Scalar>,
    pub alipay_no: Option<Scalar>,
    pub title: Option<String>,
    pub num: Option<Scalar>,

    // Parties.
    pub buyer_nick: Option<String>,
    /// Assumed [U], see the module docs.
    pub buyer_open_uid: Option<String>,
    pub seller_nick: Option<String>,

    // State.
    /// 纠纷类型: 仅退款 / 退货退款 / 换货 ("常见的有", the SDK says: others may exist).
    pub dispute_request: Option<String>,
    /// 逆向纠纷状态: a number whose meaning depends on `dispute_request` (§1.4 tables).
    pub status: Option<Scalar>,
    /// The trade status, as on the refund (`Refund.order_status`).
    pub order_status: Option<String>,
    /// BUYER_NOT_RECEIVED / BUYER_RECEIVED / BUYER_RETURNED_GOODS.
    pub good_status: Option<String>,
    pub has_good_return: Option<TopBool>,
    /// `onsale` (售中) / `aftersale` (售后).
    pub refund_phase: Option<String>,
    /// 纠纷单上的各项属性: `;key:value;…`.
    pub attribute: Option<String>,

    // Money: a yuan string with two decimals ("200.07").
    pub refund_fee: Option<Scalar>,

    // Text.
    pub reason: Option<String>,
    pub desc: Option<String>,

    // Times and versions: `yyyy-MM-dd HH:mm:ss`, Beijing time.
    pub created: Option<String>,
    pub modified: Option<String>,
    /// 超时时间: the deadline Tmall itself runs for the party now due.
    pub time_out: Option<String>,
    /// Epoch millis (request `fields` list only).
    pub refund_version: Option<Scalar>,

    // Logistics.
    /// 卖家收货地址: where the buyer sends the goods back, one line of text.
    pub address: Option<String>,
    /// Listed in the struct with a doc comment that contradicts its name (卖家发货物流单号);
    /// kept raw, never interpreted.
    pub company_name: Option<String>,
    /// 买家退货时间.
    pub good_return_time: Option<String>,
    /// 买家发货物流公司 / 单号: the buyer's parcel back to the merchant.
    pub buyer_logistic_name: Option<String>,
    pub buyer_logistic_no: Option<String>,
    /// 卖家发货物流公司 / 单号: the merchant's parcel with the exchange item.
    pub seller_logistic_name: Option<String>,
    pub seller_logistic_no: Option<String>,
    /// 买家收货地址 / 收货人姓名 / 联系方式 (换货): where the exchange item goes.
    pub buyer_address: Option<String>,
    pub buyer_name: Option<String>,
    pub buyer_phone: Option<String>,
}

/// The outer layer. Each member is kept raw and parsed on its own so a problem is reported
/// against the right path.
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(default)]
    tmall_dispute_receive_get_response: Option<Box<RawValue>>,
    #[serde(default)]
    dispute: Option<Box<RawValue>>,
}

#[derive(Debug, Deserialize)]
struct ReceiveGetResponse {
    /// The shape this service's callers send (platform-apis.md §1.4 names no wrapper).
    #[serde(default)]
    dispute_list: Option<Box<RawValue>>,
    /// The shape of the Go SDK (`TmallDisputeReceiveGetResultSet`).
    #[serde(default)]
    result: Option<Box<RawValue>>,
}

/// `TmallDisputeReceiveGetResultSet`: the list plus TOP's in-band error fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ResultSet {
    results: Option<Box<RawValue>>,
    error_code: Option<Scalar>,
    error_msg: Option<String>,
    exception: Option<String>,
}

/// TOP's list wrapper: `{"dispute":[…]}`.
#[derive(Debug, Deserialize)]
struct DisputeList {
    #[serde(default)]
    dispute: Option<Box<RawValue>>,
}

fn parse_dispute(raw: &RawValue) -> Result<Dispute, MappingError> {
    expect_object(AT, raw.get())?;
    serde_json::from_str::<Dispute>(raw.get())
        .map_err(|e| json_error(AT, raw.get(), &e, "does not match the TOP Dispute shape"))
}

/// A list given either as the array itself or as TOP's `{"dispute":[…]}` wrapper; exactly one
/// dispute is accepted.
fn the_only_dispute(field: &str, raw: &RawValue) -> Result<Dispute, MappingError> {
    if raw.get().trim_start().starts_with('[') {
        return the_only_item(field, raw);
    }
    expect_object(field, raw.get())?;
    let list: DisputeList = serde_json::from_str(raw.get())
        .map_err(|e| json_error(field, raw.get(), &e, "not a dispute list"))?;
    let items_field = format!("{field}.dispute");
    match list.dispute {
        Some(items) => the_only_item(&items_field, &items),
        None => Err(missing(&items_field)),
    }
}

fn the_only_item(field: &str, raw: &RawValue) -> Result<Dispute, MappingError> {
    let items: Vec<Box<RawValue>> = serde_json::from_str(raw.get())
        .map_err(|e| json_error(field, raw.get(), &e, "expected a JSON array of disputes"))?;
    match items.as_slice() {
        [one] => parse_dispute(one),
        [] => Err(err(
            field,
            "[]",
            "the list holds no dispute: nothing to ingest",
        )),
        many => Err(err(
            field,
            format!("{} disputes", many.len()),
            "a list is accepted only with exactly one dispute: ingest disputes one at a \
             time, each as {\"dispute\":{…}}",
        )),
    }
}

/// Read a `tmall.dispute.receive.get` answer holding one dispute, or `{"dispute":{…}}`.
pub fn parse_payload(native: &[u8]) -> Result<Dispute, MappingError> {
    let text = std::str::from_utf8(native).map_err(|e| {
        MappingError::new(
            PLATFORM,
            "$",
            String::from_utf8_lossy(native),
            format!("not UTF-8: {e}"),
        )
    })?;
    expect_object("$", text)?;
    let envelope: Envelope = serde_json::from_str(text)
        .map_err(|e| json_error("$", text, &e, "not a TOP JSON object"))?;
    match (
        envelope.tmall_dispute_receive_get_response,
        envelope.dispute,
    ) {
        (Some(_), Some(_)) => Err(err(
            "$",
            "tmall_dispute_receive_get_response, dispute",
            "both a dispute list and a single dispute: send one of them",
        )),
        (None, Some(one)) => parse_dispute(&one),
        (Some(resp), None) => parse_response(&resp),
        (None, None) => Err(err(
            "$",
            text,
            "neither tmall_dispute_receive_get_response nor dispute is present",
        )),
    }
}

fn parse_response(resp: &RawValue) -> Result<Dispute, MappingError> {
    const RESP: &str = "tmall_dispute_receive_get_response";
    expect_object(RESP, resp.get())?;
    let inner: ReceiveGetResponse = serde_json::from_str(resp.get())
        .map_err(|e| json_error(RESP, resp.get(), &e, "not a dispute response object"))?;
    match (inner.dispute_list, inner.result) {
        (Some(_), Some(_)) => Err(err(
            RESP,
            "dispute_list, result",
            "both dispute_list and result are present: send one of them",
        )),
        (Some(list), None) => the_only_dispute(&format!("{RESP}.dispute_list"), &list),
        (None, Some(result)) => {
            let field = format!("{RESP}.result");
            expect_object(&field, result.get())?;
            let set: ResultSet = serde_json::from_str(result.get())
                .map_err(|e| json_error(&field, result.get(), &e, "not a dispute result set"))?;
            if let Some(code) = set
                .error_code
                .as_ref()
                .filter(|c| !c.text().trim().is_empty())
            {
                return Err(err(
                    &format!("{field}.error_code"),
                    code.text(),
                    format!(
                        "TOP answered with an error instead of disputes: {} {}",
                        set.error_msg.as_deref().unwrap_or(""),
                        set.exception.as_deref().unwrap_or("")
                    )
                    .trim()
                    .to_string(),
                ));
            }
            match set.results {
                Some(results) => the_only_dispute(&format!("{field}.results"), &results),
                None => Err(missing(&format!("{field}.results"))),
            }
        }
        (None, None) => Err(missing(&format!("{RESP}.dispute_list"))),
    }
}

// ---------------------------------------------------------------------------------------------
// Dispute.dispute_request
// ---------------------------------------------------------------------------------------------

/// `Dispute.dispute_request` (纠纷类型). It decides which status table applies (§1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeRequest {
    /// 仅退款
    RefundOnly,
    /// 退货退款
    ReturnAndRefund,
    /// 换货
    Exchange,
}

impl DisputeRequest {
    pub const ALL: [DisputeRequest; 3] = [
        DisputeRequest::RefundOnly,
        DisputeRequest::ReturnAndRefund,
        DisputeRequest::Exchange,
    ];

    pub fn parse(raw: &str) -> Result<Self, MappingError> {
        Ok(match raw {
            "仅退款" => DisputeRequest::RefundOnly,
            "退货退款" => DisputeRequest::ReturnAndRefund,
            "换货" => DisputeRequest::Exchange,
            other => {
                return Err(err(
                    "dispute.dispute_request",
                    other,
                    "unknown Tmall dispute kind (expected 仅退款, 退货退款 or 换货)",
                ))
            }
        })
    }

    /// The raw value, as Tmall writes it.
    pub fn code(self) -> &'static str {
        match self {
            DisputeRequest::RefundOnly => "仅退款",
            DisputeRequest::ReturnAndRefund => "退货退款",
            DisputeRequest::Exchange => "换货",
        }
    }

    /// CM-02: the common kind.
    pub fn kind(self) -> CaseKind {
        match self {
            DisputeRequest::RefundOnly => CaseKind::RefundOnly,
            DisputeRequest::ReturnAndRefund => CaseKind::ReturnAndRefund,
            DisputeRequest::Exchange => CaseKind::Exchange,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Dispute.status: two tables, chosen by the kind
// ---------------------------------------------------------------------------------------------

/// `Dispute.status` of a refund-only or return-and-refund dispute (§1.4, first table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundDisputeStatus {
    /// 1
    WaitSellerAgree,
    /// 2
    WaitBuyerReturnGoods,
    /// 3
    WaitSellerConfirmGoods,
    /// 4
    Closed,
    /// 5
    Success,
    /// 6
    SellerRefused,
    /// 7
    WaitBuyerConfirmRedoSendGoods,
    /// 8
    WaitSellerConfirmReturnAddress,
}

impl RefundDisputeStatus {
    pub const ALL: [RefundDisputeStatus; 8] = [
        RefundDisputeStatus::WaitSellerAgree,
        RefundDisputeStatus::WaitBuyerReturnGoods,
        RefundDisputeStatus::WaitSellerConfirmGoods,
        RefundDisputeStatus::Closed,
        RefundDisputeStatus::Success,
        RefundDisputeStatus::SellerRefused,
        RefundDisputeStatus::WaitBuyerConfirmRedoSendGoods,
        RefundDisputeStatus::WaitSellerConfirmReturnAddress,
    ];

    /// From the code, sent as a number or a string.
    pub fn parse(raw: &Scalar) -> Result<Self, MappingError> {
        Ok(match raw.text() {
            "1" => RefundDisputeStatus::WaitSellerAgree,
            "2" => RefundDisputeStatus::WaitBuyerReturnGoods,
            "3" => RefundDisputeStatus::WaitSellerConfirmGoods,
            "4" => RefundDisputeStatus::Closed,
            "5" => RefundDisputeStatus::Success,
            "6" => RefundDisputeStatus::SellerRefused,
            "7" => RefundDisputeStatus::WaitBuyerConfirmRedoSendGoods,
            "8" => RefundDisputeStatus::WaitSellerConfirmReturnAddress,
            other => {
                return Err(err(
                    "dispute.status",
                    other,
                    "unknown status for a 仅退款/退货退款 dispute (expected 1..8)",
                ))
            }
        })
    }

    pub fn code(self) -> u8 {
        match self {
            RefundDisputeStatus::WaitSellerAgree => 1,
            RefundDisputeStatus::WaitBuyerReturnGoods => 2,
            RefundDisputeStatus::WaitSellerConfirmGoods => 3,
            RefundDisputeStatus::Closed => 4,
            RefundDisputeStatus::Success => 5,
            RefundDisputeStatus::SellerRefused => 6,
            RefundDisputeStatus::WaitBuyerConfirmRedoSendGoods => 7,
            RefundDisputeStatus::WaitSellerConfirmReturnAddress => 8,
        }
    }

    /// The platform's own words (the `Dispute.status` doc comment of the TOP SDK).
    pub fn text(self) -> &'static str {
        match self {
            RefundDisputeStatus::WaitSellerAgree => "买家已经申请退款，等待卖家同意",
            RefundDisputeStatus::WaitBuyerReturnGoods => "卖家已经同意退款，等待买家退货",
            RefundDisputeStatus::WaitSellerConfirmGoods => "买家已经退货，等待卖家确认收货",
            RefundDisputeStatus::Closed => "退款关闭",
            RefundDisputeStatus::Success => "退款成功",
            RefundDisputeStatus::SellerRefused => "卖家拒绝退款",
            RefundDisputeStatus::WaitBuyerConfirmRedoSendGoods => "等待买家确认重新邮寄的货物",
            RefundDisputeStatus::WaitSellerConfirmReturnAddress => "等待卖家确认退货地址",
        }
    }

    /// The normalised state. 1..6 map like the Taobao `Refund.status` values they match.
    pub fn state(self) -> CaseState {
        match self {
            RefundDisputeStatus::WaitSellerAgree => CaseState::AwaitingMerchant,
            RefundDisputeStatus::WaitBuyerReturnGoods => CaseState::AwaitingBuyer,
            RefundDisputeStatus::WaitSellerConfirmGoods => CaseState::ReturnInTransit,
            RefundDisputeStatus::Closed => CaseState::Closed,
            RefundDisputeStatus::Success => CaseState::Refunded,
            // TB-02/TB-05: after a refusal the buyer may modify the request or ask customer
            // service to intervene; until then the ball is in the buyer's court (as for
            // SELLER_REFUSE_BUYER in the refund mapping).
            RefundDisputeStatus::SellerRefused => CaseState::AwaitingBuyer,
            // Judgement: the goods were mailed again and only the buyer's confirmation is
            // awaited; the merchant has nothing left to do until the buyer answers.
            RefundDisputeStatus::WaitBuyerConfirmRedoSendGoods => CaseState::AwaitingBuyer,
            // Judgement: the merchant must confirm (or give) the address the buyer returns
            // to before the return can start (TB-07: agreeing to a return reveals it).
            RefundDisputeStatus::WaitSellerConfirmReturnAddress => CaseState::AwaitingMerchant,
        }
    }
}

/// `Dispute.status` of an exchange (换货) dispute (§1.4, second table). 7..11 are not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeDisputeStatus {
    /// 1
    Pending,
    /// 2
    WaitBuyerReturnGoods,
    /// 3
    ReturnedWaitSellerReceipt,
    /// 4
    Closed,
    /// 5
    Success,
    /// 6
    WaitBuyerModify,
    /// 12
    WaitSellerSendExchangeGoods,
    /// 13
    WaitBuyerReceive,
    /// 14
    PleaseRefund,
}

impl ExchangeDisputeStatus {
    pub const ALL: [ExchangeDisputeStatus; 9] = [
        ExchangeDisputeStatus::Pending,
        ExchangeDisputeStatus::WaitBuyerReturnGoods,
        ExchangeDisputeStatus::ReturnedWaitSellerReceipt,
        ExchangeDisputeStatus::Closed,
        ExchangeDisputeStatus::Success,
        ExchangeDisputeStatus::WaitBuyerModify,
        ExchangeDisputeStatus::WaitSellerSendExchangeGoods,
        ExchangeDisputeStatus::WaitBuyerReceive,
        ExchangeDisputeStatus::PleaseRefund,
    ];

    /// From the code, sent as a number or a string.
    pub fn parse(raw: &Scalar) -> Result<Self, MappingError> {
        Ok(match raw.text() {
            "1" => ExchangeDisputeStatus::Pending,
            "2" => ExchangeDisputeStatus::WaitBuyerReturnGoods,
            "3" => ExchangeDisputeStatus::ReturnedWaitSellerReceipt,
            "4" => ExchangeDisputeStatus::Closed,
            "5" => ExchangeDisputeStatus::Success,
            "6" => ExchangeDisputeStatus::WaitBuyerModify,
            "12" => ExchangeDisputeStatus::WaitSellerSendExchangeGoods,
            "13" => ExchangeDisputeStatus::WaitBuyerReceive,
            "14" => ExchangeDisputeStatus::PleaseRefund,
            other => {
                return Err(err(
                    "dispute.status",
                    other,
                    "unknown status for a 换货 dispute (expected 1..6, 12, 13 or 14)",
                ))
            }
        })
    }

    pub fn code(self) -> u8 {
        match self {
            ExchangeDisputeStatus::Pending => 1,
            ExchangeDisputeStatus::WaitBuyerReturnGoods => 2,
            ExchangeDisputeStatus::ReturnedWaitSellerReceipt => 3,
            ExchangeDisputeStatus::Closed => 4,
            ExchangeDisputeStatus::Success => 5,
            ExchangeDisputeStatus::WaitBuyerModify => 6,
            ExchangeDisputeStatus::WaitSellerSendExchangeGoods => 12,
            ExchangeDisputeStatus::WaitBuyerReceive => 13,
            ExchangeDisputeStatus::PleaseRefund => 14,
        }
    }

    /// The platform's own words (the `Dispute.status` doc comment of the TOP SDK).
    pub fn text(self) -> &'static str {
        match self {
            ExchangeDisputeStatus::Pending => "换货待处理",
            ExchangeDisputeStatus::WaitBuyerReturnGoods => "待买家退货",
            ExchangeDisputeStatus::ReturnedWaitSellerReceipt => "买家已退货，待收货",
            ExchangeDisputeStatus::Closed => "换货关闭",
            ExchangeDisputeStatus::Success => "换货成功",
            ExchangeDisputeStatus::WaitBuyerModify => "待买家修改",
            ExchangeDisputeStatus::WaitSellerSendExchangeGoods => "待发出换货商品",
            ExchangeDisputeStatus::WaitBuyerReceive => "待买家收货",
            ExchangeDisputeStatus::PleaseRefund => "请退款",
        }
    }

    pub fn state(self) -> CaseState {
        match self {
            // A new exchange request: the merchant answers it, like WAIT_SELLER_AGREE.
            ExchangeDisputeStatus::Pending => CaseState::AwaitingMerchant,
            ExchangeDisputeStatus::WaitBuyerReturnGoods => CaseState::AwaitingBuyer,
            ExchangeDisputeStatus::ReturnedWaitSellerReceipt => CaseState::ReturnInTransit,
            ExchangeDisputeStatus::Closed => CaseState::Closed,
            ExchangeDisputeStatus::Success => CaseState::Exchanged,
            // Judgement: "waiting for the buyer to modify" follows a merchant refusal or a
            // request to change the application, like SELLER_REFUSE_BUYER (TB-02/TB-05).
            ExchangeDisputeStatus::WaitBuyerModify => CaseState::AwaitingBuyer,
            // The return arrived; the merchant agreed to send the replacement and still has
            // to (like WAIT_SELLER_CONSIGN_GOODS in the refund mapping).
            ExchangeDisputeStatus::WaitSellerSendExchangeGoods => {
                CaseState::AwaitingMerchantExecution
            }
            // The replacement is on its way; the buyer confirms receipt.
            ExchangeDisputeStatus::WaitBuyerReceive => CaseState::AwaitingBuyer,
            // Judgement: the exchange cannot be completed and Tmall asks the merchant to pay
            // the buyer back instead: the merchant agreed to nothing new but has to execute a
            // refund. The kind stays the exchange the buyer asked for.
            ExchangeDisputeStatus::PleaseRefund => CaseState::AwaitingMerchantExecution,
        }
    }
}

/// A dispute status read against the table of its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeStatus {
    Refund(RefundDisputeStatus),
    Exchange(ExchangeDisputeStatus),
}

impl DisputeStatus {
    /// The same number means different things per kind (§1.4), so the kind is read first.
    pub fn parse(request: DisputeRequest, raw: &Scalar) -> Result<Self, MappingError> {
        match request {
            DisputeRequest::RefundOnly | DisputeRequest::ReturnAndRefund => {
                RefundDisputeStatus::parse(raw).map(DisputeStatus::Refund)
            }
            DisputeRequest::Exchange => {
                ExchangeDisputeStatus::parse(raw).map(DisputeStatus::Exchange)
            }
        }
    }

    /// `refund:3`, `exchange:12`: the table is part of the code, so equal numbers of the two
    /// tables never look alike in the stored platform status.
    pub fn code(self) -> String {
        match self {
            DisputeStatus::Refund(s) => format!("refund:{}", s.code()),
            DisputeStatus::Exchange(s) => format!("exchange:{}", s.code()),
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            DisputeStatus::Refund(s) => s.text(),
            DisputeStatus::Exchange(s) => s.text(),
        }
    }

    pub fn state(self) -> CaseState {
        match self {
            DisputeStatus::Refund(s) => s.state(),
            DisputeStatus::Exchange(s) => s.state(),
        }
    }

    /// What was paid back, when the status itself says the refund happened.
    fn refunded(self, requested: Fen) -> Option<Fen> {
        match self {
            DisputeStatus::Refund(RefundDisputeStatus::Success) => Some(requested),
            DisputeStatus::Refund(
                RefundDisputeStatus::WaitSellerAgree
                | RefundDisputeStatus::WaitBuyerReturnGoods
                | RefundDisputeStatus::WaitSellerConfirmGoods
                | RefundDisputeStatus::Closed
                | RefundDisputeStatus::SellerRefused
                | RefundDisputeStatus::WaitBuyerConfirmRedoSendGoods
                | RefundDisputeStatus::WaitSellerConfirmReturnAddress,
            ) => None,
            // An exchange pays nothing back; "please refund" (14) asks for a refund that has
            // not happened yet.
            DisputeStatus::Exchange(
                ExchangeDisputeStatus::Pending
                | ExchangeDisputeStatus::WaitBuyerReturnGoods
                | ExchangeDisputeStatus::ReturnedWaitSellerReceipt
                | ExchangeDisputeStatus::Closed
                | ExchangeDisputeStatus::Success
                | ExchangeDisputeStatus::WaitBuyerModify
                | ExchangeDisputeStatus::WaitSellerSendExchangeGoods
                | ExchangeDisputeStatus::WaitBuyerReceive
                | ExchangeDisputeStatus::PleaseRefund,
            ) => None,
        }
    }
}

/// Judgement: for the two refund kinds `has_good_return` says the same thing as
/// `dispute_request` (仅退款 = no return, 退货退款 = return), so a contradiction is refused
/// rather than one of them silently winning. For an exchange the flag is kept raw and not
/// checked: whether Tmall sets it for the buyer's return leg of an exchange is not documented.
fn check_return_flag(request: DisputeRequest, flag: Option<bool>) -> Result<(), MappingError> {
    match (request, flag) {
        (DisputeRequest::RefundOnly, Some(true))
        | (DisputeRequest::ReturnAndRefund, Some(false)) => Err(err(
            "dispute.has_good_return",
            flag.map(|b| b.to_string()).unwrap_or_default(),
            format!("contradicts dispute_request {}", request.code()),
        )),
        (DisputeRequest::RefundOnly, Some(false) | None)
        | (DisputeRequest::ReturnAndRefund, Some(true) | None)
        | (DisputeRequest::Exchange, Some(_) | None) => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// The record
// ---------------------------------------------------------------------------------------------

/// The version stamp, read like the refund's.
fn version(d: &Dispute) -> Result<i64, MappingError> {
    version_stamp(
        "dispute",
        &d.refund_version,
        &d.modified,
        "dispute.modified",
    )
}

/// The trade id: `biz_order_id` (the struct's name) or `tid` (the request's); both must agree.
fn order_id(d: &Dispute) -> Result<Option<OrderId>, MappingError> {
    let biz = opt_order_id("dispute.biz_order_id", &d.biz_order_id)?;
    let tid = opt_order_id("dispute.tid", &d.tid)?;
    match (biz, tid) {
        (Some(b), Some(t)) if b != t => Err(err(
            "dispute.tid",
            t.as_str(),
            format!("differs from biz_order_id {b}: which trade the dispute is on is unclear"),
        )),
        (Some(b), Some(_) | None) => Ok(Some(b)),
        (None, t) => Ok(t),
    }
}

fn shipment(
    carrier_field: &str,
    carrier: &Option<String>,
    number_field: &str,
    number: &Option<String>,
    shipped_at: Option<DateTime<Utc>>,
) -> Result<Option<Shipment>, MappingError> {
    present(number)
        .map(|no| {
            Ok(Shipment {
                carrier: text(carrier_field, present(carrier).unwrap_or(""))?,
                tracking_number: text(number_field, no)?,
                shipped_at,
            })
        })
        .transpose()
}

/// Map one native dispute into the common record.
pub fn to_record(d: &Dispute) -> Result<PlatformRecord, MappingError> {
    // Identity.
    let refund_id = d
        .refund_id
        .as_ref()
        .ok_or_else(|| missing("dispute.refund_id"))?;
    let refund_id_text = id_text("dispute.refund_id", refund_id)?;
    let platform_case_id = PlatformCaseId::parse(refund_id_text)
        .map_err(|e| err("dispute.refund_id", refund_id_text, e.to_string()))?;
    let order_id = order_id(d)?;
    let sub_order_id = opt_order_id("dispute.oid", &d.oid)?;

    // Kind first: it decides which status table applies.
    let request = DisputeRequest::parse(
        present(&d.dispute_request).ok_or_else(|| missing("dispute.dispute_request"))?,
    )?;
    let status = match &d.status {
        Some(Scalar::Str(s)) if s.trim().is_empty() => return Err(missing("dispute.status")),
        Some(raw) => DisputeStatus::parse(request, raw)?,
        None => return Err(missing("dispute.status")),
    };
    let has_good_return = d.has_good_return.map(|b| b.0);
    check_return_flag(request, has_good_return)?;

    // Fulfilment, with the refund's value tables (errors re-pointed at the dispute).
    let good = present(&d.good_status)
        .map(GoodStatus::parse)
        .transpose()
        .map_err(|e| rebase(e, AT))?;
    let order = present(&d.order_status)
        .map(OrderStatus::parse)
        .transpose()
        .map_err(|e| rebase(e, AT))?;
    let phase = present(&d.refund_phase)
        .map(RefundPhase::parse)
        .transpose()
        .map_err(|e| rebase(e, AT))?;

    // Money. An exchange asks for goods, not money: without a refund_fee it asks for 0 fen,
    // which is what it is, not a default. A refund kind without one cannot be a case.
    let requested_refund = match (&d.refund_fee, request) {
        (Some(v), _) => money("dispute.refund_fee", v)?,
        (None, DisputeRequest::Exchange) => Fen::ZERO,
        (None, DisputeRequest::RefundOnly | DisputeRequest::ReturnAndRefund) => {
            return Err(missing("dispute.refund_fee"))
        }
    };

    // Times. `time_out` is Tmall's own deadline for whoever is due now (platform-apis.md
    // §1.4, §1.6): authoritative over the computed one (TB-02, TB-08, TB-10).
    let version = version(d)?;
    let opened_at = opt_time("dispute.created", &d.created)?;
    let platform_deadline = opt_time("dispute.time_out", &d.time_out)?;

    // People and words.
    let buyer_field = if present(&d.buyer_nick).is_some() {
        "dispute.buyer_nick"
    } else {
        "dispute.buyer_open_uid"
    };
    let buyer = text(
        buyer_field,
        present(&d.buyer_nick)
            .or(present(&d.buyer_open_uid))
            .unwrap_or(""),
    )?;
    let reason_raw = match (present(&d.reason), present(&d.desc)) {
        (Some(reason), Some(desc)) => format!("{reason} — {desc}"),
        (Some(only), None) | (None, Some(only)) => only.to_string(),
        (None, None) => String::new(),
    };
    let reason = text("dispute.reason", &reason_raw)?;

    // Logistics: the buyer's parcel back, and the merchant's exchange item.
    let return_shipment = shipment(
        "dispute.buyer_logistic_name",
        &d.buyer_logistic_name,
        "dispute.buyer_logistic_no",
        &d.buyer_logistic_no,
        opt_time("dispute.good_return_time", &d.good_return_time)?,
    )?;
    let reship_shipment = shipment(
        "dispute.seller_logistic_name",
        &d.seller_logistic_name,
        "dispute.seller_logistic_no",
        &d.seller_logistic_no,
        None,
    )?;
    let return_address = present(&d.address)
        .map(|a| {
            // One line of text, as on the refund; not split into divisions here.
            Ok::<_, MappingError>(Address {
                detail: text("dispute.address", a)?,
                ..Address::default()
            })
        })
        .transpose()?;

    Ok(PlatformRecord {
        platform_case_id,
        order_id,
        sub_order_id,
        kind: request.kind(),
        state: status.state(),
        fulfilment: fulfilment(good, order, phase),
        requested_refund,
        // A dispute carries no trade total.
        order_total: None,
        refunded: status.refunded(requested_refund),
        reason,
        buyer,
        return_address,
        return_shipment,
        reship_shipment,
        status: PlatformStatus {
            code: status.code(),
            text: status.text().to_string(),
        },
        version,
        platform_deadline,
        attributes: attributes(d)?,
        opened_at,
        order_state: order.and_then(OrderStatus::order_state),
        // A dispute says nothing about an advance payment (TB-11).
        platform_advance: None,
        task: None,
    })
}

/// Raw fields kept for the record, under their TOP names. Values are bounded like any text.
fn attributes(d: &Dispute) -> Result<BTreeMap<String, String>, MappingError> {
    let mut a = Attributes::new(AT);
    a.text("dispute_request", &d.dispute_request)?;
    a.scalar("status", &d.status)?;
    a.text("good_status", &d.good_status)?;
    a.text("order_status", &d.order_status)?;
    a.text("refund_phase", &d.refund_phase)?;
    a.value(
        "has_good_return",
        d.has_good_return.map(|b| b.0.to_string()),
    )?;
    a.text("attribute", &d.attribute)?;
    a.scalar("alipay_no", &d.alipay_no)?;
    a.scalar("num", &d.num)?;
    a.text("title", &d.title)?;
    a.text("seller_nick", &d.seller_nick)?;
    a.text("buyer_open_uid", &d.buyer_open_uid)?;
    a.text("buyer_address", &d.buyer_address)?;
    a.text("buyer_name", &d.buyer_name)?;
    a.text("buyer_phone", &d.buyer_phone)?;
    a.text("company_name", &d.company_name)?;
    a.text("time_out", &d.time_out)?;
    a.scalar("refund_version", &d.refund_version)?;
    a.text("modified", &d.modified)?;
    Ok(a.into_map())
}
