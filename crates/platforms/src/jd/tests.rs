//! JD adapter tests: every code table value, yuan → fen, envelopes and errors, the policy.

use super::model::Scalar;
use super::transformers::*;
use super::{JdAdapter, PLATFORM};
use crate::test_support::{bj, deadline, keys, mapped, object, open, policy, refused};
use crate::PlatformAdapter;
use aftersales_domain::{CaseKind, CaseState, Fen};

fn num(s: &str) -> Scalar {
    Scalar::Num(s.to_string())
}

fn st(s: &str) -> Scalar {
    Scalar::Str(s.to_string())
}

/// A POP service order as `jingdong.asc.query.view` returns it (the §3.1 sample, trimmed).
fn pop_fields() -> Vec<(&'static str, String)> {
    vec![
        ("serviceId", "724578811".into()),
        ("orderId", "109113048299".into()),
        ("serviceStatus", "10005".into()),
        ("serviceStatusName", "\"待收货\"".into()),
        ("customerExpect", "10".into()),
        ("approveResult", "31".into()),
        ("pickwareType", "4".into()),
        ("questionDesc", "\"买错了\"".into()),
        ("serviceCount", "1".into()),
        ("applyTime", "1578664268000".into()),
        ("updateDate", "1579314901000".into()),
        (
            "serviceBillDetailList",
            r#"[{"skuId": 59156590170, "payPrice": 2480, "actualPayPrice": 1419, "wareNum": 1}]"#
                .into(),
        ),
        (
            "customerInfo",
            r#"{"jdPin": "jd_4c9c41396a05b", "name": "丁天歌"}"#.into(),
        ),
        (
            "afsContactInfo",
            r#"{"contactName": "退货组", "contactMobile": "177****8776", "detailAddress": "福建泉州市晋江市"}"#
                .into(),
        ),
    ]
}

fn view(record: &str) -> String {
    format!(
        r#"{{"jingdong_asc_query_view_responce": {{"code": "0", "result": {{"data": {record}}}}}}}"#
    )
}

fn list(records: &str) -> String {
    format!(
        r#"{{"jingdong_asc_query_list_responce": {{"code": "0", "pageResult": {{"totalCount": 1, "data": [{records}]}}}}}}"#
    )
}

fn vop_fields() -> Vec<(&'static str, String)> {
    vec![
        ("afsServiceId", "428264969".into()),
        ("orderId", "74040715959".into()),
        ("customerExpect", "10".into()),
        ("afsServiceStep", "22".into()),
        ("afsApplyTime", "\"2024-03-01 10:00:00\"".into()),
        ("afsServicePrice", "\"199.00\"".into()),
        ("questionDesc", "\"不要了\"".into()),
        (
            "serviceCustomerInfoDTO",
            r#"{"customerPin": "hnlsdz2018", "customerName": "李楠"}"#.into(),
        ),
    ]
}

fn vop(record: &str) -> String {
    format!(r#"{{"success": true, "resultCode": "0000", "result": {record}}}"#)
}

fn vop_with(changes: &[(&'static str, Option<&str>)]) -> String {
    vop(&object(vop_fields(), changes))
}

#[test]
fn jd_01_customer_expect_table() {
    let table = [
        ("10", "退货", CaseKind::ReturnAndRefund),
        ("20", "换货", CaseKind::Exchange),
        ("30", "维修", CaseKind::Repair),
    ];
    assert_eq!(table.len(), CustomerExpect::ALL.len());
    for (code, text, kind) in table {
        for raw in [num(code), st(code)] {
            let v = CustomerExpect::parse(&raw).unwrap();
            assert_eq!((v.code(), v.text(), v.kind()), (code, text, kind));
        }
    }
    for bad in ["11", "80", "x"] {
        let e = CustomerExpect::parse(&st(bad)).unwrap_err();
        assert_eq!((e.field.as_str(), e.raw.as_str()), ("customerExpect", bad));
    }
}

#[test]
fn jd_02_afs_service_step_table() {
    use CaseState as C;
    use StepState::*;
    let table = [
        ("10", "申请阶段", State(C::AwaitingMerchant)),
        ("20", "审核不通过", State(C::Closed)),
        ("21", "客服审核", State(C::PlatformIntervening)),
        ("22", "商家审核", State(C::AwaitingMerchant)),
        ("31", "京东收货", State(C::ReturnInTransit)),
        ("32", "商家收货", State(C::ReturnInTransit)),
        ("33", "京东处理", State(C::PlatformIntervening)),
        ("34", "商家处理", State(C::AwaitingMerchantExecution)),
        ("40", "用户确认", State(C::AwaitingBuyer)),
        ("50", "完成", Resolved),
        ("60", "取消", State(C::Closed)),
        ("100", "申请售后失败", State(C::Closed)),
    ];
    assert_eq!(table.len(), AfsServiceStep::ALL.len());
    for (code, text, state) in table {
        let v = AfsServiceStep::parse(&num(code)).unwrap();
        assert_eq!((v.code(), v.text(), v.state()), (code, text, state));
    }
    let e = AfsServiceStep::parse(&num("35")).unwrap_err();
    assert_eq!((e.field.as_str(), e.raw.as_str()), ("afsServiceStep", "35"));
}

#[test]
fn jd_02_approved_result_table() {
    use Collection::*;
    let table = [
        ("11", "直赔积分", None),
        ("12", "直赔余额", None),
        ("13", "直赔优惠券", None),
        ("14", "直赔京豆", None),
        ("21", "直赔商品", None),
        ("22", "上门换新", None),
        ("31", "自营取件", Some(Pickup)),
        ("32", "客户送货", Some(CustomerShips)),
        ("33", "客户发货", Some(CustomerShips)),
        ("34", "闪电退款", None),
        ("35", "虚拟退款", None),
        ("80", "大家电检测", None),
        ("81", "大家电安装", None),
        ("82", "大家电移机", None),
        ("83", "大家电维修", None),
        ("84", "大家电其它", None),
    ];
    assert_eq!(table.len(), ApprovedResult::ALL.len());
    for (code, text, collection) in table {
        let v = ApprovedResult::parse("approvedResult", &st(code)).unwrap();
        assert_eq!(
            (v.code(), v.text(), v.collection()),
            (code, text, collection)
        );
    }
    let e = ApprovedResult::parse("approvedResult", &num("36")).unwrap_err();
    assert_eq!((e.field.as_str(), e.raw.as_str()), ("approvedResult", "36"));
}

#[test]
fn jd_04_pickware_type_table() {
    let table = [
        ("4", "上门取件", "pickup"),
        ("40", "客户发货", "customer_ships"),
        ("7", "客户送货", "customer_ships"),
    ];
    assert_eq!(table.len(), PickwareType::ALL.len());
    for (code, text, collection) in table {
        let v = PickwareType::parse("pickwareType", &num(code)).unwrap();
        assert_eq!(
            (v.code(), v.text(), v.collection().as_str()),
            (code, text, collection)
        );
    }
    let e = PickwareType::parse("pickwareType", &num("61")).unwrap_err();
    assert_eq!((e.field.as_str(), e.raw.as_str()), ("pickwareType", "61"));
}

#[test]
fn jd_05_process_result_table() {
    use CaseState as C;
    let table = [
        ("23", "返修换新", C::Exchanged),
        ("40", "退货", C::Refunded),
        ("50", "换良", C::Exchanged),
        ("60", "原返", C::Closed),
        ("71", "病单", C::Closed),
        ("72", "出检", C::Closed),
        ("73", "维修", C::Repaired),
        ("80", "强制关单", C::Closed),
        ("90", "线下换新", C::Exchanged),
    ];
    assert_eq!(table.len(), ProcessResult::ALL.len());
    for (code, text, state) in table {
        let v = ProcessResult::parse(&num(code)).unwrap();
        assert_eq!((v.code(), v.text(), v.state()), (code, text, state));
    }
    let e = ProcessResult::parse(&num("99")).unwrap_err();
    assert_eq!((e.field.as_str(), e.raw.as_str()), ("processResult", "99"));
}

#[test]
fn service_status_only_10005_is_mapped() {
    assert_eq!(ServiceStatus::ALL.len(), 1);
    let v = ServiceStatus::parse(&num("10005")).unwrap();
    assert_eq!(
        (v.code(), v.text(), v.state()),
        ("10005", "待收货", CaseState::ReturnInTransit)
    );
    for bad in ["10001", "10010"] {
        let e = ServiceStatus::parse(&num(bad)).unwrap_err();
        assert_eq!((e.field.as_str(), e.raw.as_str()), ("serviceStatus", bad));
        assert!(e.problem.contains("only 10005"), "{e}");
    }
    let e = refused(
        &JdAdapter,
        view(&object(pop_fields(), &[("serviceStatus", Some("10001"))])).as_bytes(),
    );
    assert_eq!(
        e.field,
        "jingdong_asc_query_view_responce.result.data.serviceStatus"
    );
}

#[test]
fn jd_03_yuan_to_fen_exactly() {
    for (raw, fen) in [
        (st("0.1"), 10),
        (st("199.00"), 19900),
        (num("199.00"), 19900),
        (num("2480"), 248000),
        (st("0.07"), 7),
    ] {
        assert_eq!(yuan("actualPayPrice", &raw).unwrap().get(), fen, "{raw}");
    }
    for bad in ["199.005", "-1", "1e3", "", "abc"] {
        let e = yuan("actualPayPrice", &st(bad)).unwrap_err();
        assert_eq!((e.field.as_str(), e.raw.as_str()), ("actualPayPrice", bad));
    }
}

#[test]
fn times_are_epoch_millis_or_beijing_text() {
    assert_eq!(
        time("applyTime", &num("1578664268000")).unwrap(),
        bj("2020-01-10 21:51:08")
    );
    assert_eq!(
        time("afsApplyTime", &st("2018-05-22 16:46:17")).unwrap(),
        bj("2018-05-22 16:46:17")
    );
    for bad in ["1578664268", "2018-05-22T16:46:17", "x"] {
        assert_eq!(time("applyTime", &st(bad)).unwrap_err().raw, bad);
    }
}

#[test]
fn jd_pop_view_maps_every_field() {
    let r = mapped(&JdAdapter, view(&object(pop_fields(), &[])).as_bytes());
    assert_eq!(r.platform_case_id.as_str(), "724578811");
    assert_eq!(r.order_id.unwrap().as_str(), "109113048299");
    assert_eq!(r.sub_order_id, None);
    assert_eq!(r.kind, CaseKind::ReturnAndRefund);
    assert_eq!(r.state, CaseState::ReturnInTransit);
    assert_eq!(r.requested_refund, Fen::new(141900).unwrap());
    assert_eq!(r.buyer.as_str(), "jd_4c9c41396a05b");
    assert_eq!(r.reason.as_str(), "买错了");
    assert_eq!(
        (r.status.code.as_str(), r.status.text.as_str()),
        ("10005", "待收货")
    );
    assert_eq!(r.opened_at, Some(bj("2020-01-10 21:51:08")));
    assert_eq!(r.version, 1579314901000);
    let addr = r.return_address.unwrap();
    assert_eq!(addr.name.as_str(), "退货组");
    assert_eq!(addr.detail.as_str(), "福建泉州市晋江市");
    let a = &r.attributes;
    assert_eq!(a["collection"], "pickup");
    assert_eq!(a["approved_result"], "31");
    assert_eq!(a["quantity"], "1");
    assert_eq!(a["source_api"], "jingdong.asc.query.view");
    assert_eq!(a["customer_name"], "丁天歌");
}

#[test]
fn jd_pop_list_with_one_record() {
    let item = object(
        pop_fields(),
        &[
            ("serviceBillDetailList", None),
            ("actualPayPrice", Some("\"199.00\"")),
            ("customerPin", Some("\"caoshilei0513\"")),
            ("skuId", Some("56012114767")),
            ("wareNum", Some("2")),
        ],
    );
    let r = mapped(&JdAdapter, list(&item).as_bytes());
    assert_eq!(r.requested_refund.get(), 19900);
    assert_eq!(r.buyer.as_str(), "caoshilei0513");
    assert_eq!(r.attributes["sku_id"], "56012114767");
    assert_eq!(r.attributes["quantity"], "2");
    assert_eq!(r.attributes["source_api"], "jingdong.asc.query.list");
    let e = refused(&JdAdapter, list(&format!("{item}, {item}")).as_bytes());
    assert_eq!(e.raw, "2 items");
    assert_eq!(refused(&JdAdapter, list("").as_bytes()).raw, "0 items");
}

#[test]
fn jd_vop_detail_maps_steps_and_results() {
    let r = mapped(&JdAdapter, vop_with(&[]).as_bytes());
    assert_eq!(r.platform_case_id.as_str(), "428264969");
    assert_eq!(r.state, CaseState::AwaitingMerchant);
    assert_eq!(r.requested_refund.get(), 19900);
    assert_eq!(r.buyer.as_str(), "hnlsdz2018");
    assert_eq!(
        (r.status.code.as_str(), r.status.text.as_str()),
        ("22", "商家审核")
    );
    // 完成: processResult decides, else the kind.
    let done = |changes: &[(&'static str, Option<&str>)]| {
        let mut c = vec![("afsServiceStep", Some("50"))];
        c.extend_from_slice(changes);
        mapped(&JdAdapter, vop_with(&c).as_bytes()).state
    };
    assert_eq!(done(&[("processResult", Some("40"))]), CaseState::Refunded);
    assert_eq!(done(&[("processResult", Some("80"))]), CaseState::Closed);
    assert_eq!(done(&[]), CaseState::Refunded);
    assert_eq!(
        done(&[("customerExpect", Some("30")), ("afsServicePrice", None)]),
        CaseState::Repaired
    );
}

#[test]
fn jd_04_customer_shipped_return_without_waybill_awaits_the_buyer() {
    let ships = [("afsServiceStep", Some("32")), ("pickwareType", Some("40"))];
    let r = mapped(&JdAdapter, vop_with(&ships).as_bytes());
    assert_eq!(r.state, CaseState::AwaitingBuyer);
    assert_eq!(r.attributes["collection"], "customer_ships");
    let mut shipped = ships.to_vec();
    shipped.push((
        "serviceExpressInfoDTO",
        Some(r#"{"expressCompany": "京东快递", "expressCode": "JDY000240428005", "deliverDate": "2024-03-02 09:00:00"}"#),
    ));
    let r = mapped(&JdAdapter, vop_with(&shipped).as_bytes());
    assert_eq!(r.state, CaseState::ReturnInTransit);
    let s = r.return_shipment.unwrap();
    assert_eq!(s.tracking_number.as_str(), "JDY000240428005");
    assert_eq!(s.shipped_at, Some(bj("2024-03-02 09:00:00")));
    // The review said pickup, the return method says the buyer ships: refused.
    let e = refused(
        &JdAdapter,
        vop_with(&[("approvedResult", Some("31")), ("pickwareType", Some("40"))]).as_bytes(),
    );
    assert_eq!(e.field, "result.pickwareType");
}

#[test]
fn jos_error_answers_are_errors() {
    let e = refused(
        &JdAdapter,
        r#"{"error_response": {"code": "19", "zh_desc": "token已过期", "en_desc": "Invalid access_token"}}"#
            .as_bytes(),
    );
    assert_eq!(
        (e.platform.as_str(), e.field.as_str(), e.raw.as_str()),
        (PLATFORM, "error_response.code", "19")
    );
    assert!(e.problem.contains("token已过期") && e.problem.contains("Invalid access_token"));
    let e = refused(
        &JdAdapter,
        br#"{"jingdong_asc_query_list_responce": {"code": "1", "msg": "fail"}}"#,
    );
    assert_eq!(
        (e.field.as_str(), e.raw.as_str()),
        ("jingdong_asc_query_list_responce.code", "1")
    );
    let e = refused(
        &JdAdapter,
        br#"{"success": false, "resultMessage": "no", "result": {}}"#,
    );
    assert_eq!(e.field, "success");
}

#[test]
fn bare_and_mixed_payloads_are_refused() {
    let e = refused(&JdAdapter, object(pop_fields(), &[]).as_bytes());
    assert!(e.problem.contains("bare service order"), "{e}");
    let both = r#"{"jingdong_asc_query_view_responce": {}, "error_response": {"code": "1"}}"#;
    assert!(refused(&JdAdapter, both.as_bytes())
        .problem
        .contains("more than one"));
    // A POP record inside the VOP wrapper, and a record mixing both families.
    let e = refused(&JdAdapter, vop(&object(pop_fields(), &[])).as_bytes());
    assert!(e.problem.contains("envelope"), "{e}");
    let e = refused(
        &JdAdapter,
        view(&object(pop_fields(), &[("afsServiceStep", Some("10"))])).as_bytes(),
    );
    assert!(e.problem.contains("mixing"), "{e}");
    assert_eq!(refused(&JdAdapter, b"[]").field, "$");
    assert!(refused(&JdAdapter, br#"{"foo": 1}"#)
        .problem
        .contains("not a JD"));
}

#[test]
fn jd_02_opened_record_gets_the_review_deadline() {
    let p = policy(PLATFORM);
    let r = mapped(&JdAdapter, vop_with(&[]).as_bytes());
    let case = open(r, &p, "jd-shop");
    assert_eq!(keys(&case), vec!["merchant_review"]);
    let d = deadline(&case, "merchant_review");
    assert_eq!(d.rule_id, "JD-02");
    assert_eq!(d.due_at, bj("2024-03-03 10:00:00"));
}

#[test]
fn jd_06_policy_marks_every_deadline_assumed_with_its_rule() {
    let p = policy(PLATFORM);
    assert_eq!(p.version, "jd-2024-01-01");
    assert!(JdAdapter.check_policy(&p).is_ok());
    let ids: Vec<(&str, &str)> = p
        .deadlines
        .iter()
        .map(|d| (d.key.as_str(), d.rule.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            ("merchant_review", "JD-02"),
            ("buyer_return_waybill", "JD-04"),
            ("merchant_receipt_refund", "JD-05"),
            ("merchant_receipt_exchange_repair", "JD-05"),
        ]
    );
    for d in &p.deadlines {
        assert!(d.note.contains(&d.rule), "{} note names {}", d.key, d.rule);
        // No JD deadline period was found in a published source (JD-06).
        assert!(d.assumed, "{} must be marked assumed", d.key);
        assert!(d.note.contains("ASSUMED"), "{}", d.key);
    }
    let mut wrong = p.clone();
    wrong.native.insert("amount_unit".into(), "fen".into());
    assert!(JdAdapter.check_policy(&wrong).is_err());
}
