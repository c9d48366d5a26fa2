//! How `resolve` parses the hard cases. Codes are checked against data/divisions.tsv.

use aftersales_divisions::{resolve, ResolvedAddress};

fn code(division: &Option<aftersales_divisions::Division>) -> Option<&str> {
    division.as_ref().map(|d| d.code.as_str())
}

/// (province, city, county) codes.
fn codes(resolved: &ResolvedAddress) -> (Option<&str>, Option<&str>, Option<&str>) {
    (
        code(&resolved.province),
        code(&resolved.city),
        code(&resolved.county),
    )
}

fn has_note(resolved: &ResolvedAddress, fragment: &str) -> bool {
    resolved.notes.iter().any(|n| n.contains(fragment))
}

#[test]
fn full_address_resolves_every_level_and_keeps_the_street_as_rest() {
    let r = resolve("浙江省杭州市余杭区良渚街道阳光小区5幢");
    assert_eq!(codes(&r), (Some("330000"), Some("330100"), Some("330110")));
    assert_eq!(r.county.as_ref().unwrap().name, "余杭区");
    assert_eq!(r.rest, "良渚街道阳光小区5幢");
}

#[test]
fn missing_province_is_inferred_from_the_city() {
    let r = resolve("杭州市萧山区宁围街道");
    assert_eq!(codes(&r), (Some("330000"), Some("330100"), Some("330109")));
    assert!(
        has_note(&r, "province 浙江省 inferred from 杭州市"),
        "{r:?}"
    );
}

#[test]
fn a_unique_county_alone_infers_city_and_province() {
    let r = resolve("余杭区五常街道");
    assert_eq!(codes(&r), (Some("330000"), Some("330100"), Some("330110")));
    assert!(has_note(&r, "city 杭州市 inferred from 余杭区"), "{r:?}");
}

#[test]
fn county_abbreviation_without_suffix() {
    let r = resolve("杭州余杭良渚");
    assert_eq!(code(&r.county), Some("330110"));
    assert!(has_note(&r, "abbreviation 余杭 read as 余杭区"), "{r:?}");
    assert_eq!(r.rest, "良渚");
}

#[test]
fn municipality_with_district() {
    let r = resolve("北京市朝阳区建国路88号");
    assert_eq!(codes(&r), (Some("110000"), Some("110000"), Some("110105")));
    assert_eq!(r.rest, "建国路88号");
    assert_eq!(code(&resolve("北京朝阳").county), Some("110105"));
}

#[test]
fn municipality_named_twice_as_marketplace_forms_do() {
    assert_eq!(code(&resolve("北京 北京市 朝阳区").county), Some("110105"));
    assert_eq!(code(&resolve("北京市市辖区东城区").county), Some("110101"));
    assert_eq!(
        code(&resolve("上海 上海市 浦东新区").county),
        Some("310115")
    );
}

#[test]
fn shanghai_pudong_abbreviated() {
    let r = resolve("上海浦东张江");
    assert_eq!(codes(&r), (Some("310000"), Some("310000"), Some("310115")));
    assert_eq!(r.rest, "张江");
}

#[test]
fn chongqing_counties_and_districts_share_the_municipality_as_city() {
    let county = resolve("重庆市城口县葛城街道");
    let district = resolve("重庆市万州区");
    assert_eq!(
        codes(&county),
        (Some("500000"), Some("500000"), Some("500229"))
    );
    assert_eq!(
        codes(&district),
        (Some("500000"), Some("500000"), Some("500101"))
    );
}

#[test]
fn county_level_cities_resolve_under_their_prefecture() {
    for text in [
        "义乌市",
        "浙江省义乌市",
        "金华义乌",
        "浙江金华义乌市稠城街道",
    ] {
        let r = resolve(text);
        assert_eq!(
            codes(&r),
            (Some("330000"), Some("330700"), Some("330782")),
            "{text}"
        );
    }
    assert_eq!(code(&resolve("昆山市玉山镇").county), Some("320583"));
    assert_eq!(code(&resolve("宁波慈溪").county), Some("330282"));
    assert_eq!(code(&resolve("福建晋江").county), Some("350582"));
}

#[test]
fn county_level_units_directly_under_a_province() {
    let r = resolve("湖北省仙桃市");
    assert_eq!(codes(&r), (Some("420000"), Some("429000"), Some("429004")));
    assert_eq!(code(&resolve("济源").county), Some("419001"));
    assert_eq!(code(&resolve("海南省琼海市嘉积镇").county), Some("469002"));
}

#[test]
fn city_alone_has_no_county() {
    let r = resolve("海口");
    assert_eq!(codes(&r), (Some("460000"), Some("460100"), None));
    assert!(has_note(&r, "abbreviation 海口 read as 海口市"), "{r:?}");
}

#[test]
fn prefectures_without_counties_are_the_finest_unit() {
    for (text, city) in [
        ("广东省东莞市南城街道", "441900"),
        ("广东中山市石岐街道", "442000"),
        ("甘肃省嘉峪关市", "620200"),
        ("儋州市那大镇", "460400"),
    ] {
        let r = resolve(text);
        assert_eq!(code(&r.city), Some(city), "{text}");
        assert_eq!(r.county, None, "{text}");
        assert!(has_note(&r, "has no county level"), "{r:?}");
    }
}

#[test]
fn a_shorter_city_name_is_taken_when_only_it_lets_the_district_be_read() {
    // 济南市中区 is 济南 + 市中区; 青岛市南区 is 青岛 + 市南区.
    assert_eq!(code(&resolve("济南市中区").county), Some("370103"));
    assert_eq!(code(&resolve("青岛市南区香港中路").county), Some("370202"));
    // …but 青岛市南京路 is 青岛市 and a road.
    let r = resolve("青岛市南京路");
    assert_eq!(codes(&r), (Some("370000"), Some("370200"), None));
    assert_eq!(r.rest, "南京路");
}

#[test]
fn a_street_word_that_starts_the_next_division_is_no_street() {
    // 路南区, 道里区 and 府谷县 begin with words that usually start street or compound names.
    assert_eq!(code(&resolve("唐山路南区").county), Some("130202"));
    assert_eq!(code(&resolve("哈尔滨道里区").county), Some("230102"));
    assert_eq!(code(&resolve("榆林府谷").county), Some("610822"));
}

#[test]
fn ambiguous_district_without_context_stays_unresolved_with_candidates() {
    let r = resolve("朝阳区");
    assert_eq!(codes(&r), (None, None, None));
    assert!(has_note(&r, "110105 北京市朝阳区"), "{r:?}");
    assert!(has_note(&r, "220104 吉林省长春市朝阳区"), "{r:?}");

    let r = resolve("鼓楼区");
    assert_eq!(codes(&r), (None, None, None));
    assert!(has_note(&r, "4 readings"), "{r:?}");
}

#[test]
fn ambiguous_district_with_context_is_resolved() {
    assert_eq!(code(&resolve("福州鼓楼区").county), Some("350102"));
    assert_eq!(code(&resolve("江苏省徐州市鼓楼区").county), Some("320302"));
    assert_eq!(code(&resolve("长春朝阳区").county), Some("220104"));
    assert_eq!(code(&resolve("南通通州区").county), Some("320612"));
    assert_eq!(code(&resolve("重庆江北区").county), Some("500105"));
    assert_eq!(code(&resolve("宁波江北区").county), Some("330205"));
}

#[test]
fn longest_name_wins_province_vs_city_of_the_same_name() {
    let r = resolve("吉林市昌邑区");
    assert_eq!(codes(&r), (Some("220000"), Some("220200"), Some("220202")));
    // 吉林 alone is the province or the city.
    let r = resolve("吉林");
    assert_eq!(codes(&r), (Some("220000"), None, None));
    assert!(has_note(&r, "ambiguous"), "{r:?}");
}

#[test]
fn autonomous_regions_and_prefectures() {
    let cases = [
        ("新疆乌鲁木齐市天山区", "650000", "650102"),
        ("新疆维吾尔自治区乌鲁木齐市沙依巴克区", "650000", "650103"),
        ("广西南宁市青秀区", "450000", "450103"),
        ("内蒙古呼和浩特市新城区", "150000", "150102"),
        ("西藏拉萨市城关区", "540000", "540102"),
    ];
    for (text, province, county) in cases {
        let r = resolve(text);
        assert_eq!(code(&r.province), Some(province), "{text}");
        assert_eq!(code(&r.county), Some(county), "{text}");
    }
    assert_eq!(code(&resolve("内蒙赤峰").city), Some("150400"));
    assert_eq!(code(&resolve("湖北恩施州").city), Some("422800"));
    assert_eq!(code(&resolve("湘西州吉首市").county), Some("433101"));
}

#[test]
fn carrier_trace_phrasing_with_brackets() {
    let r = resolve("【杭州市】余杭区良渚街道菜鸟驿站已签收");
    assert_eq!(code(&r.county), Some("330110"));
    assert_eq!(r.rest, "良渚街道菜鸟驿站已签收");

    let r = resolve("快件已在【萧山区】完成签收");
    assert_eq!(code(&r.county), Some("330109"));
    assert!(has_note(&r, "ignored \"快件已在\""), "{r:?}");

    let r = resolve("您的快件已在杭州萧山宁围代收点签收");
    assert_eq!(code(&r.county), Some("330109"));
}

#[test]
fn full_width_punctuation_and_spaces_are_tolerated() {
    let r = resolve("浙江省　杭州市，余杭区（良渚街道）");
    assert_eq!(code(&r.county), Some("330110"));
    assert_eq!(r.rest, "良渚街道");
}

#[test]
fn street_names_are_not_read_as_divisions() {
    // 余杭塘路 is a road in 西湖区, not 余杭区.
    let r = resolve("杭州市余杭塘路");
    assert_eq!(codes(&r), (Some("330000"), Some("330100"), None));
    assert_eq!(r.rest, "余杭塘路");
    // 南京东路 is in Shanghai.
    assert_eq!(code(&resolve("南京东路菜鸟驿站").city), None);
}

#[test]
fn compound_and_building_names_are_not_read_as_divisions() {
    // 西湖 abbreviates 西湖区 (杭州, 南昌), but 西湖花园 is a compound anywhere.
    let r = resolve("签收人:西湖花园物业");
    assert_eq!(codes(&r), (None, None, None));
    assert_eq!(code(&resolve("杭州大厦菜鸟驿站").city), None);
    // A full name is still a division: 西湖区 is ambiguous, not a compound.
    assert!(has_note(&resolve("西湖区花园"), "ambiguous"));
}

#[test]
fn a_name_before_the_address_does_not_capture_it() {
    let r = resolve("王海南 13800000000 浙江省杭州市西湖区文三路");
    assert_eq!(code(&r.county), Some("330106"));
}

#[test]
fn hong_kong_macau_and_taiwan_are_known_at_province_level() {
    let r = resolve("香港特别行政区九龙油尖旺区");
    assert_eq!(codes(&r), (Some("810000"), None, None));
    assert_eq!(r.rest, "九龙油尖旺区");
    assert_eq!(code(&resolve("香港湾仔").province), Some("810000"));
    assert_eq!(code(&resolve("澳门").province), Some("820000"));
    assert_eq!(code(&resolve("台湾省台北市").province), Some("710000"));
}

#[test]
fn garbage_resolves_to_nothing() {
    for text in ["asdf1234", "", "已签收,签收人:本人", "？？？"] {
        let r = resolve(text);
        assert_eq!(codes(&r), (None, None, None), "{text}");
        assert!(
            has_note(&r, "no administrative division recognised"),
            "{r:?}"
        );
    }
}

#[test]
fn resolved_address_serialises_with_plain_field_names() {
    let json = serde_json::to_value(resolve("杭州市余杭区")).unwrap();
    assert_eq!(json["county"]["code"], "330110");
    assert_eq!(json["county"]["name"], "余杭区");
    assert_eq!(json["city"]["name"], "杭州市");
}

/// Not a benchmark: prints the cost so the crate docs stay honest. Run with --nocapture.
#[test]
fn resolve_is_fast() {
    let texts = [
        "浙江省杭州市余杭区良渚街道阳光小区5幢",
        "【杭州市】余杭区良渚街道菜鸟驿站已签收",
        "快件已在【萧山区】完成签收",
        "北京 北京市 朝阳区 望京街道",
        "王海南 13800000000 浙江省杭州市西湖区文三路",
        "新疆维吾尔自治区乌鲁木齐市沙依巴克区",
        "已签收,签收人:物业",
        "鼓楼区",
    ];
    resolve("warm up the index");
    let rounds = 2_000;
    let started = std::time::Instant::now();
    for _ in 0..rounds {
        for text in texts {
            std::hint::black_box(resolve(std::hint::black_box(text)));
        }
    }
    let per_call = started.elapsed() / (rounds * texts.len() as u32);
    println!(
        "resolve: {per_call:?} per address (mean over {} calls)",
        rounds * texts.len() as u32
    );
    let started = std::time::Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(aftersales_divisions::check_signed_elsewhere(
            "浙江省杭州市余杭区良渚街道阳光小区5幢",
            "【杭州市】余杭区良渚街道阳光小区菜鸟驿站已签收",
        ));
    }
    println!(
        "check_signed_elsewhere: {:?} per pair",
        started.elapsed() / rounds
    );
}
