//! The native Pinduoduo payloads, exactly as the PDD open platform returns them
//! (platform-apis.md §2.1, §2.4; the official API pages of `pdd.refund.list.increment.get`
//! and `pdd.refund.information.get`).
//!
//! These types only *read* the payload: every enumerated field (after_sales_status,
//! after_sales_type, shipping_status…) stays the raw value the platform sent, and
//! `transformers` maps it with an explicit match, so an unknown value is an error carrying
//! the raw value and never a silent default.
//!
//! # The two record shapes, and why a bare record is refused
//!
//! The list and the detail API describe the same after-sales order with **different
//! encodings** (platform-apis.md §2.3, §2.4):
//!
//! | | list (`pdd.refund.list.increment.get`) | detail (`pdd.refund.information.get`) |
//! |---|---|---|
//! | wrapper | `refund_increment_get_response.refund_list[]` | `refund_information_get_response` |
//! | `after_sales_type` | query encoding (2 仅退款 … 6 维修) [U] | 1 仅退款 … 5 维修 |
//! | amounts | yuan strings (`"19.90"`) | integers, read as fen (`1990`) [U] |
//! | times | unix seconds as strings (`"1551612204"`) | LONG (`expire_time`, `recreated_at`); `updated_time` a string |
//!
//! The same `after_sales_type: 2` means 仅退款 in a list record and 退货退款 in a detail
//! record, and `refund_amount: 1990` is ¥19.90 in one and ¥1990.00 in the other, so a record
//! without its envelope cannot be read safely: [`super::PinduoduoAdapter`] refuses it and
//! asks for the API answer as returned.
//!
//! The detail wrapper's name is what this service expects: the official page shows the
//! detail's example answer without a wrapper, and the SDKs we found name none [U]. Callers
//! wrap the object they got from `pdd.refund.information.get` in
//! `{"refund_information_get_response": …}`.

use crate::MappingError;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::PLATFORM;

/// The same scalar reader as Taobao's: PDD too sends ids, codes, times and (in the detail)
/// money either as JSON numbers or as strings, and a number is kept as its exact text
/// (ids above 2^53 keep every digit).
pub use crate::taobao::model::Scalar;
/// A JSON boolean, or the strings `"true"`/`"false"` some gateways write.
pub use crate::taobao::model::TopBool as PddBool;

/// One item of `refund_increment_get_response.refund_list` (售后列表对象). Every field is
/// optional here: which ones are required is decided, with a precise error, in
/// `transformers`. Field comments quote the official API page.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(default)]
pub struct RefundListItem {
    // Identifiers.
    /// 售后编号 (LONG).
    pub id: Option<Scalar>,
    /// 订单编号, e.g. `190228-355530178612389`.
    pub order_sn: Option<Scalar>,
    pub goods_id: Option<Scalar>,
    pub sku_id: Option<Scalar>,
    /// 商家外部编码（sku）.
    pub outer_id: Option<Scalar>,
    /// 商家外部编码（商品）.
    pub outer_goods_id: Option<Scalar>,
    pub goods_name: Option<String>,
    pub good_image: Option<String>,
    pub goods_number: Option<Scalar>,

    // State.
    /// 售后状态, platform-apis.md §2.2.
    pub after_sales_status: Option<Scalar>,
    /// 售后类型: the response encoding is not documented; read with the query encoding
    /// (platform-apis.md §2.3 [U]).
    pub after_sales_type: Option<Scalar>,
    /// 1 纠纷退款 / 0 非纠纷退款.
    pub dispute_refund_status: Option<Scalar>,
    /// 同意退款操作人角色 0 默认, 1 用户, 2 商家, 3 平台, 4 系统, 5 团长, 6 司机, 7 代理人.
    pub refund_operator_role: Option<Scalar>,
    /// 极速退款标志位 1 极速退款 / 0 非极速退款.
    pub speed_refund_flag: Option<Scalar>,
    /// 极速退款状态 "1" 有资格, "2" 失败, "3" 成功; anything else 非极速退款.
    pub speed_refund_status: Option<Scalar>,
    /// 0 未勾选, 1 消费者选择未收到货, 2 消费者选择已收到货.
    pub user_shipping_status: Option<Scalar>,

    // Money: yuan strings ("19.90").
    /// 退款金额（元）.
    pub refund_amount: Option<Scalar>,
    /// 订单金额（元）.
    pub order_amount: Option<Scalar>,
    /// 订单折扣金额（元）.
    pub discount_amount: Option<Scalar>,
    /// 商品单价 (yuan like the other amounts of the list).
    pub goods_price: Option<Scalar>,

    // Text.
    /// 售后原因 (spelled `after_sale_reason` in the list, `after_sales_reason` in the detail).
    pub after_sale_reason: Option<String>,

    // Times: unix seconds, as strings.
    /// 成团时间.
    pub confirm_time: Option<Scalar>,
    /// 创建时间.
    pub created_time: Option<Scalar>,
    /// 更新时间.
    pub updated_time: Option<Scalar>,

    // Return logistics.
    /// 快递运单号: the buyer's return waybill (platform-apis.md §2.4).
    pub tracking_number: Option<Scalar>,
    /// 退货物流公司名称.
    pub shipping_name: Option<String>,
}

/// `pdd.refund.information.get` (售后单详情). Every field is optional here: which ones are
/// required is decided, with a precise error, in `transformers`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(default)]
pub struct RefundInformation {
    // Identifiers.
    /// 售后单id (LONG).
    pub id: Option<Scalar>,
    pub order_sn: Option<Scalar>,
    pub sku_id: Option<Scalar>,
    pub goods_number: Option<Scalar>,

    // State.
    pub after_sales_status: Option<Scalar>,
    /// 售后类型 1 仅退款, 2 退货退款, 3 换货, 4 补寄, 5 维修 (platform-apis.md §2.3).
    pub after_sales_type: Option<Scalar>,
    /// 订单发货状态 0 未发货, 1 已发货（包含：已发货，已揽收）.
    pub shipping_status: Option<Scalar>,
    /// 0 未勾选, 1 消费者选择未收到货, 2 消费者选择已收到货.
    pub user_shipping_status: Option<Scalar>,
    pub speed_refund_flag: Option<Scalar>,
    pub dispute_refund_status: Option<Scalar>,
    /// 是否介入 "1" 介入 / "0" 未介入.
    pub join_or_not: Option<Scalar>,
    pub refund_operator_role: Option<Scalar>,
    /// 部分售后类型 0 无意义, 1 件数, 2 比例 (return-and-refund only).
    pub part_after_sales_type: Option<Scalar>,
    pub part_after_sales_value: Option<Scalar>,

    // Money: integers. The unit is not stated [U]; read as fen (see `transformers`).
    pub refund_amount: Option<Scalar>,
    pub order_amount: Option<Scalar>,
    pub discount_amount: Option<Scalar>,
    pub goods_price: Option<Scalar>,

    // Text.
    pub after_sales_reason: Option<String>,
    /// 用户申请输入的描述信息.
    pub remark: Option<String>,
    /// 用户申请售后上传的图片列表.
    pub images: Option<Vec<String>>,
    pub exist_images: Option<PddBool>,

    // Times.
    /// 订单成团时间 (LONG).
    pub confirm_time: Option<Scalar>,
    /// 售后单创建时间（重新申请时间） (LONG).
    pub recreated_at: Option<Scalar>,
    /// 更新时间 (STRING; its format is not shown).
    pub updated_time: Option<Scalar>,
    /// 售后逾期时间: filled only while the request waits for the merchant, null otherwise.
    /// The merchant deadline the platform itself applies (platform-apis.md §2.4, §2.6).
    pub expire_time: Option<Scalar>,

    // Return logistics.
    /// 退货物流单号.
    pub express_no: Option<Scalar>,
    /// 退货物流名称.
    pub shipping_name: Option<String>,

    /// 换货详情: only for exchanges.
    pub exchange_shipping_detail: Option<ExchangeShippingDetail>,
}

/// `exchange_shipping_detail` of the detail (换货详情). The three encrypted fields
/// (`merchant_exchange_detail_address/phone/receiver`, 加密) are deliberately not read: they
/// are ciphertext of the buyer's personal data; their masked twins are kept instead.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(default)]
pub struct ExchangeShippingDetail {
    /// 消费者回寄的物流id / 单号: the buyer's return parcel.
    pub customer_send_back_ship_id: Option<Scalar>,
    pub customer_send_back_trunk_number: Option<Scalar>,
    pub exchange_goods_name: Option<Scalar>,
    pub exchange_goods_number: Option<Scalar>,
    /// 换货的物品价格(单位分).
    pub exchange_goods_price: Option<Scalar>,
    pub exchange_receiver_province: Option<Scalar>,
    pub exchange_receiver_province_id: Option<Scalar>,
    pub exchange_receiver_city: Option<Scalar>,
    pub exchange_receiver_city_id: Option<Scalar>,
    pub exchange_receiver_town: Option<Scalar>,
    pub exchange_receiver_town_id: Option<Scalar>,
    pub merchant_exchange_detail_address_mask: Option<Scalar>,
    pub merchant_exchange_detail_phone_mask: Option<Scalar>,
    pub merchant_exchange_detail_receiver_mask: Option<Scalar>,
    /// 商家换货发货的物流id / 单号: the merchant's replacement parcel.
    pub merchant_exchange_ship_id: Option<Scalar>,
    pub merchant_exchange_trunk_number: Option<Scalar>,
    pub sku_id_exchange: Option<Scalar>,
    /// 是否是极速换货 / 极速换货履约逾期时间（秒）.
    pub is_fast_exchange: Option<PddBool>,
    pub fast_exchange_expire_time: Option<Scalar>,
}

// ---------------------------------------------------------------------------------------------
// Envelopes
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct ListResponse {
    #[serde(default)]
    refund_list: Option<Box<RawValue>>,
}

/// PDD's error answer:
/// `{"error_response":{"error_code":10001,"error_msg":"…","sub_code":null,"sub_msg":"","request_id":"…"}}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PddError {
    error_code: Option<Scalar>,
    error_msg: Option<String>,
    sub_code: Option<Scalar>,
    sub_msg: Option<String>,
}

pub(crate) fn error_response(raw: &RawValue) -> MappingError {
    let Ok(e) = serde_json::from_str::<PddError>(raw.get()) else {
        return MappingError::new(
            PLATFORM,
            "error_response",
            raw.get(),
            "the platform answered with an error instead of an after-sales record",
        );
    };
    let code = e.error_code.as_ref().map(Scalar::text).unwrap_or("");
    let sub = e.sub_code.as_ref().map(Scalar::text).unwrap_or("");
    MappingError::new(
        PLATFORM,
        "error_response",
        format!("{code} {sub}").trim().to_string(),
        format!(
            "the platform answered with an error instead of an after-sales record: {} {}",
            e.error_msg.as_deref().unwrap_or(""),
            e.sub_msg.as_deref().unwrap_or("")
        )
        .trim()
        .to_string(),
    )
}

pub(crate) fn json_error(
    field: &str,
    input: &str,
    e: &serde_json::Error,
    what: &str,
) -> MappingError {
    crate::json::json_error(PLATFORM, field, input, e, what)
}

pub(crate) fn expect_object(field: &str, text: &str) -> Result<(), MappingError> {
    crate::json::expect_object(PLATFORM, field, text)
}

pub(crate) fn utf8(native: &[u8]) -> Result<&str, MappingError> {
    crate::json::utf8(PLATFORM, native)
}

/// Where a list record's fields are reported.
pub const LIST_ITEM: &str = "refund_list[0]";
/// Where a detail record's fields are reported.
pub const DETAIL: &str = "refund_information_get_response";

/// Read the member `refund_increment_get_response` (its raw JSON) into its one list item.
/// A list holding more or fewer than one item is refused: each record is ingested on its own,
/// so one bad item cannot hide the others and each gets its own answer.
pub fn parse_list(response: &RawValue) -> Result<RefundListItem, MappingError> {
    let field = "refund_increment_get_response";
    expect_object(field, response.get())?;
    let inner: ListResponse = serde_json::from_str(response.get())
        .map_err(|e| json_error(field, response.get(), &e, "not a list response object"))?;
    let list = inner.refund_list.ok_or_else(|| {
        MappingError::new(
            PLATFORM,
            "refund_increment_get_response.refund_list",
            "",
            "missing: the response holds no refund_list",
        )
    })?;
    let item = crate::json::only_item(
        PLATFORM,
        "refund_increment_get_response.refund_list",
        list.get(),
        "records",
        "{\"refund_increment_get_response\":{\"refund_list\":[record]}}",
    )?;
    crate::json::parse_object(
        PLATFORM,
        LIST_ITEM,
        item.get(),
        "does not match the pdd.refund.list.increment.get record shape",
    )
}

/// Read the member `refund_information_get_response` (its raw JSON) into the detail.
pub fn parse_detail(response: &RawValue) -> Result<RefundInformation, MappingError> {
    expect_object(DETAIL, response.get())?;
    serde_json::from_str::<RefundInformation>(response.get()).map_err(|e| {
        json_error(
            DETAIL,
            response.get(),
            &e,
            "does not match the pdd.refund.information.get shape",
        )
    })
}
