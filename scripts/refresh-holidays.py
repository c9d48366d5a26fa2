#!/usr/bin/env python3
"""Regenerate crates/domain/data/cn-holidays.json from the PyPI package `chinesecalendar`.

The mainland-China working-day calendar (public holidays and 调休 make-up working days) is data
that changes once a year, when the State Council publishes next year's notice (usually in
November). The domain crate embeds crates/domain/data/cn-holidays.json at compile time; this
script is how that file is produced:

    python3 scripts/refresh-holidays.py                     # newest chinesecalendar on PyPI
    python3 scripts/refresh-holidays.py --version 1.11.0    # a pinned release
    python3 scripts/refresh-holidays.py --from-year 2024    # first year to keep (default 2024)

It downloads the package's source distribution with pip (no install, no code from the package is
executed: `chinese_calendar/constants.py` is read with `ast`), writes every holiday and make-up
workday from --from-year on into the JSON file, and copies the package's LICENSE next to it as
cn-holidays.LICENSE. Review the diff against the State Council notice before committing, then run
`cargo test -p aftersales-domain`.

Dates are filed under their own calendar year, whichever notice they come from (the package has,
for example, 2018-12-29 as a make-up workday for New Year's Day 2019; it would be filed under
2018). The Rust loader rejects a date filed under another year.

Only the Python standard library and pip are needed.
"""

import argparse
import ast
import datetime
import json
import pathlib
import subprocess
import sys
import tarfile
import tempfile

PACKAGE = "chinesecalendar"
REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "crates" / "domain" / "data"
OUT_JSON = DATA_DIR / "cn-holidays.json"
OUT_LICENSE = DATA_DIR / "cn-holidays.LICENSE"


def download_sdist(version, into):
    """Fetch the source distribution (it carries LICENSE; the wheel does not)."""
    spec = f"{PACKAGE}=={version}" if version else PACKAGE
    subprocess.run(
        [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
            "--no-binary", ":all:", "--dest", str(into), spec,
        ],
        check=True,
    )
    found = sorted(into.glob(f"{PACKAGE}-*.tar.gz"))
    if len(found) != 1:
        sys.exit(f"expected one {PACKAGE} sdist in {into}, found {found}")
    return found[0]


def read_member(tar, suffix):
    for member in tar.getmembers():
        parts = member.name.split("/")
        # <pkg>-<version>/<suffix>
        if member.isfile() and "/".join(parts[1:]) == suffix:
            return tar.extractfile(member).read().decode("utf-8")
    sys.exit(f"{suffix} not found in the sdist")


def holiday_names(module):
    """Holiday enum member -> Chinese name, from `class Holiday(Enum)`."""
    names = {}
    for node in module.body:
        if isinstance(node, ast.ClassDef) and node.name == "Holiday":
            for stmt in node.body:
                if (
                    isinstance(stmt, ast.Assign)
                    and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Name)
                    and isinstance(stmt.value, ast.Tuple)
                ):
                    values = [ast.literal_eval(e) for e in stmt.value.elts]
                    # (english, chinese, days)
                    names[stmt.targets[0].id] = values[1]
    if not names:
        sys.exit("class Holiday not found in constants.py")
    return names


def date_dict(module, name, names):
    """`name = {datetime.date(year=.., month=.., day=..): Holiday.x.value, ...}`."""
    for node in module.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == name
        ):
            out = {}
            for key, value in zip(node.value.keys, node.value.values):
                kw = {k.arg: ast.literal_eval(k.value) for k in key.keywords}
                day = datetime.date(kw["year"], kw["month"], kw["day"])
                # Holiday.<member>.value
                member = value.value.attr
                if day in out:
                    sys.exit(f"{day} appears twice in {name}")
                out[day] = names[member]
            return out
    sys.exit(f"{name} = {{...}} not found in constants.py")


def entries(days, year):
    return [
        {"date": d.isoformat(), "name": n}
        for d, n in sorted(days.items())
        if d.year == year
    ]


def render(doc):
    """JSON with one entry per line, so a refresh reads as a clean diff."""
    out = ["{"]
    for key in ("source", "license", "generated", "note"):
        out.append(f"  {json.dumps(key)}: {json.dumps(doc[key], ensure_ascii=False)},")
    out.append('  "years": {')
    years = list(doc["years"].items())
    for yi, (year, lists) in enumerate(years):
        out.append(f"    {json.dumps(year)}: {{")
        for li, kind in enumerate(("holidays", "workdays")):
            items = lists[kind]
            if not items:
                out.append(f"      {json.dumps(kind)}: []" + ("," if li == 0 else ""))
                continue
            out.append(f"      {json.dumps(kind)}: [")
            for ii, item in enumerate(items):
                comma = "," if ii < len(items) - 1 else ""
                out.append("        " + json.dumps(item, ensure_ascii=False) + comma)
            out.append("      ]" + ("," if li == 0 else ""))
        out.append("    }" + ("," if yi < len(years) - 1 else ""))
    out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", help=f"{PACKAGE} release (default: newest)")
    parser.add_argument("--from-year", type=int, default=2024)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        sdist = download_sdist(args.version, pathlib.Path(tmp))
        version = sdist.name[len(PACKAGE) + 1 : -len(".tar.gz")]
        with tarfile.open(sdist) as tar:
            constants = read_member(tar, "chinese_calendar/constants.py")
            license_text = read_member(tar, "LICENSE")

    module = ast.parse(constants)
    names = holiday_names(module)
    holidays = date_dict(module, "holidays", names)
    workdays = date_dict(module, "workdays", names)

    both = sorted(set(holidays) & set(workdays))
    if both:
        sys.exit(f"listed as both holiday and workday: {both}")
    for day in workdays:
        if day.weekday() < 5 and day.year >= args.from_year:
            print(f"warning: make-up workday {day} is not a weekend day", file=sys.stderr)

    last_year = max(d.year for d in holidays)
    years = range(args.from_year, last_year + 1)
    doc = {
        "source": f"PyPI {PACKAGE} {version} (https://github.com/LKI/chinese-calendar), "
        "chinese_calendar/constants.py: holidays, workdays",
        "license": "MIT, (c) 2017 Lirian Su; see cn-holidays.LICENSE",
        "generated": datetime.date.today().isoformat(),
        "note": "Generated by scripts/refresh-holidays.py; do not edit by hand. Each date is "
        "filed under its own calendar year. holidays: days off by the State Council notice "
        "(weekend days inside a holiday period may or may not be listed); workdays: weekend "
        "days made working days (调休). A Saturday or Sunday not listed as a workday is off.",
        "years": {
            str(y): {"holidays": entries(holidays, y), "workdays": entries(workdays, y)}
            for y in years
        },
    }
    for y in years:
        if not doc["years"][str(y)]["holidays"]:
            sys.exit(f"{PACKAGE} {version} has no holidays for {y}")

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    OUT_JSON.write_text(render(doc), encoding="utf-8")
    OUT_LICENSE.write_text(license_text, encoding="utf-8")
    # The rendered text must be the JSON it claims to be.
    assert json.loads(OUT_JSON.read_text(encoding="utf-8")) == doc
    print(f"wrote {OUT_JSON.relative_to(REPO_ROOT)}: {PACKAGE} {version}, years {years.start}..{years.stop - 1}")


if __name__ == "__main__":
    main()
