//! Taobao rule TB-20, signed elsewhere (异地签收): the signing location differs from the delivery
//! address at district/county level (精确到区/县).

use aftersales_divisions::{check_signed_elsewhere, Reason, SignedElsewhereCheck, Verdict};

use Reason::*;
use Verdict::{SameDistrict as Same, SignedElsewhere as Elsewhere, Undetermined};

fn check(delivery: &str, signing: &str) -> SignedElsewhereCheck {
    check_signed_elsewhere(delivery, signing)
}

/// 示例A：订单地址为北京市，签收地为海口市，属于异地签收。
#[test]
fn tb_20_example_a_beijing_vs_haikou_is_signed_elsewhere() {
    let result = check("北京市", "海口市");
    assert_eq!(result.verdict, Elsewhere);
    assert_eq!(result.reason, DifferentProvince);
    assert_eq!(result.delivery.province.unwrap().code, "110000");
    assert_eq!(result.signing.city.unwrap().code, "460100");
}

/// 示例B：订单地址为杭州市余杭区，签收地为萧山区，属于异地签收。
#[test]
fn tb_20_example_b_yuhang_vs_xiaoshan() {
    let result = check("杭州市余杭区", "萧山区");
    assert_eq!(result.verdict, Elsewhere);
    assert_eq!(result.reason, DifferentDistrict);
    assert_eq!(result.delivery.county.unwrap().code, "330110");
    assert_eq!(result.signing.county.unwrap().code, "330109");
}

/// 示例C：订单地址为杭州市余杭区XX小区，签收地为杭州市余杭区XX小区物业/驿站签收，不属于异地签收。
#[test]
fn tb_20_example_c_parcel_station_in_same_compound_is_not_elsewhere() {
    for signing in ["杭州市余杭区XX小区物业签收", "杭州市余杭区XX小区驿站签收"]
    {
        let result = check("杭州市余杭区XX小区", signing);
        assert_eq!(result.verdict, Same, "{signing}");
        // Both name 余杭区, so the county codes alone settle it.
        assert_eq!(result.reason, SameDistrict, "{signing}");
        assert!(result.pickup_point, "{signing}");
    }
}

/// Example C when the carrier leaves out the district: the compound places the station.
#[test]
fn tb_20_example_c_station_named_after_the_compound_without_a_district() {
    let result = check(
        "浙江省杭州市余杭区良渚街道阳光小区5幢",
        "【杭州市】阳光小区菜鸟驿站已签收",
    );
    assert_eq!(result.verdict, Same);
    assert_eq!(result.reason, PickupPointInSameCompound);
    assert!(result.pickup_point);
    assert!(
        result.signing.notes.iter().any(|n| n.contains("阳光小区")),
        "{:?}",
        result.signing.notes
    );
}

#[test]
fn tb_20_ambiguous_district_disambiguated_by_the_other_address() {
    let result = check("北京市海淀区中关村大街1号", "【朝阳区】已签收");
    assert_eq!(result.verdict, Elsewhere);
    assert_eq!(result.reason, DifferentDistrict);
    assert_eq!(result.signing.county.as_ref().unwrap().code, "110105");
    assert!(
        result
            .signing
            .notes
            .iter()
            .any(|n| n.contains("disambiguated by the other address")),
        "{:?}",
        result.signing.notes
    );
}

#[test]
fn tb_20_address_pairs() {
    #[rustfmt::skip]
    let pairs: &[(&str, &str, Verdict, Reason)] = &[
        // Missing province on one or both sides.
        ("杭州市余杭区良渚街道玉鸟路1号", "杭州市西湖区文三路", Elsewhere, DifferentDistrict),
        ("杭州市余杭区五常街道", "浙江省杭州市余杭区仓前街道", Same, SameDistrict),
        // Same city, different districts.
        ("广州市天河区体育西路", "广州市越秀区北京路", Elsewhere, DifferentDistrict),
        ("深圳市南山区科技园", "深圳市福田区华强北", Elsewhere, DifferentDistrict),
        // Municipalities.
        ("北京市朝阳区建国路88号", "北京市海淀区中关村", Elsewhere, DifferentDistrict),
        ("北京 北京市 朝阳区 望京街道", "【北京市】朝阳区望京已签收", Same, SameDistrict),
        ("上海市浦东新区张江镇", "上海市徐汇区漕河泾", Elsewhere, DifferentDistrict),
        ("天津市和平区南京路", "天津市河西区", Elsewhere, DifferentDistrict),
        ("重庆市城口县葛城街道", "重庆市万州区", Elsewhere, DifferentDistrict),
        ("重庆 城口县", "重庆市巫溪县", Elsewhere, DifferentDistrict),
        ("重庆市渝中区解放碑", "重庆江北区", Elsewhere, DifferentDistrict),
        // County-level cities.
        ("浙江省义乌市稠城街道", "金华义乌北苑街道", Same, SameDistrict),
        ("江苏省昆山市玉山镇", "苏州市吴中区", Elsewhere, DifferentDistrict),
        ("宁波慈溪市浒山街道", "浙江省宁波市江北区", Elsewhere, DifferentDistrict),
        ("福建省晋江市青阳街道", "泉州市晋江市", Same, SameDistrict),
        ("湖北省仙桃市", "湖北省潜江市", Elsewhere, DifferentDistrict),
        ("海南省琼海市嘉积镇", "海南省海口市美兰区", Elsewhere, DifferentCity),
        // Abbreviations.
        ("杭州余杭良渚", "杭州市余杭区", Same, SameDistrict),
        ("上海浦东张江高科", "上海市浦东新区川沙路", Same, SameDistrict),
        // Ambiguous district names, with and without context.
        ("北京市朝阳区", "朝阳区", Same, SameDistrict),
        ("吉林省长春市南关区", "朝阳区", Elsewhere, DifferentDistrict),
        ("上海市黄浦区", "朝阳区", Elsewhere, DifferentProvince),
        ("福州市鼓楼区", "鼓楼区", Same, SameDistrict),
        ("江苏省南京市鼓楼区", "徐州鼓楼区", Elsewhere, DifferentCity),
        ("鼓楼区", "江苏省", Undetermined, NotPreciseEnough),
        ("北京市通州区", "江苏省南通市通州区", Elsewhere, DifferentProvince),
        ("通州区", "南通市崇川区", Elsewhere, DifferentDistrict),
        // Pickup points: in the buyer's compound vs in another district.
        ("杭州市余杭区金色家园3幢", "已签收,签收人:金色家园物业", Same, PickupPointInSameCompound),
        ("杭州市余杭区阳光小区", "【杭州市】萧山区阳光小区菜鸟驿站", Elsewhere, DifferentDistrict),
        ("杭州市余杭区阳光小区", "杭州市菜鸟驿站", Undetermined, NotPreciseEnough),
        ("杭州市余杭区阳光小区", "已签收,签收人:物业", Undetermined, SigningLocationUnresolved),
        ("上海市徐汇区世贸大厦12楼", "上海市世贸大厦快递柜", Same, PickupPointInSameCompound),
        ("北京市朝阳区西湖花园5号楼", "已签收,签收人:西湖花园物业", Same, PickupPointInSameCompound),
        ("浙江省杭州市上城区湖滨街道杭州大厦", "杭州大厦菜鸟驿站已签收", Same, PickupPointInSameCompound),
        // Carrier trace phrasing.
        ("浙江省杭州市萧山区宁围街道", "您的快件已在【杭州市】萧山区宁围街道代收点签收", Same, SameDistrict),
        ("浙江省杭州市余杭区", "快件已在【萧山区】完成签收", Elsewhere, DifferentDistrict),
        ("浙江省　杭州市　余杭区（良渚街道）", "浙江省，杭州市，余杭区", Same, SameDistrict),
        // Autonomous regions.
        ("新疆乌鲁木齐市天山区", "新疆维吾尔自治区乌鲁木齐市沙依巴克区", Elsewhere, DifferentDistrict),
        ("广西南宁市青秀区", "广西壮族自治区南宁市青秀区", Same, SameDistrict),
        ("内蒙古呼和浩特市新城区", "内蒙古自治区呼和浩特市回民区", Elsewhere, DifferentDistrict),
        ("西藏拉萨市城关区", "甘肃省兰州市城关区", Elsewhere, DifferentProvince),
        // Cities without counties.
        ("广东省东莞市南城街道", "东莞市虎门镇", Same, SameDistrict),
        ("广东省中山市石岐街道", "广东中山市东区街道", Same, SameDistrict),
        ("广东省东莞市", "广东省深圳市南山区", Elsewhere, DifferentCity),
        // Hong Kong: province level only.
        ("香港特别行政区九龙油尖旺区", "广东省深圳市福田区", Elsewhere, DifferentProvince),
        ("香港特别行政区湾仔区", "香港九龙", Undetermined, NotPreciseEnough),
        // Not precise enough, and unresolvable text.
        ("浙江省杭州市余杭区", "杭州市", Undetermined, NotPreciseEnough),
        ("浙江省", "海口市", Elsewhere, DifferentProvince),
        ("asdf1234", "杭州市余杭区", Undetermined, DeliveryAddressUnresolved),
        ("杭州市余杭区", "???", Undetermined, SigningLocationUnresolved),
    ];
    let mut failures = Vec::new();
    for &(delivery, signing, verdict, reason) in pairs {
        let result = check(delivery, signing);
        if (result.verdict, result.reason) != (verdict, reason) {
            failures.push(format!(
                "{delivery} / {signing}: expected {verdict:?}/{reason:?}, got {:?}/{:?}\n  delivery {:?}\n  signing {:?}",
                result.verdict, result.reason, result.delivery, result.signing
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} pairs failed:\n{}",
        failures.len(),
        pairs.len(),
        failures.join("\n")
    );
}

#[test]
fn tb_20_pickup_point_flag_only_for_pickup_words() {
    assert!(check("杭州市余杭区", "杭州市余杭区丰巢快递柜").pickup_point);
    assert!(check("杭州市余杭区", "杭州市余杭区门卫代收").pickup_point);
    assert!(!check("杭州市余杭区", "杭州市余杭区本人签收").pickup_point);
}

#[test]
fn tb_20_result_serialises_in_snake_case() {
    let json = serde_json::to_value(check("杭州市余杭区", "萧山区")).unwrap();
    assert_eq!(json["verdict"], "signed_elsewhere");
    assert_eq!(json["reason"], "different_district");
    assert_eq!(json["signing"]["county"]["code"], "330109");
    assert_eq!(json["pickup_point"], false);
}
