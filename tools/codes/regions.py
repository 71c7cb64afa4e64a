#!/usr/bin/env python3
"""Writes the NUTS rows of config/codes/regions.tsv from Eurostat's NUTS 2024 file.

The source is Eurostat's classification file NUTS2021-NUTS2024.xlsx, kept next to this
script (tools/codes/README.md says where it comes from and pins its SHA-256). Its sheet
"NUTS2024" lists the NUTS 2024 regions of the 27 EU countries, its sheet "Statistical
Regions" those of the EFTA countries (and of candidate and other countries, left out here).
The rows written are every level 3 region of the EU and EFTA countries, in the file's order,
except the Extra-Regio units (codes ending in ZZZ: territory that belongs to no region).
The country column is the ISO 3166-1 code a case carries (Eurostat's EL is Greece, GR).
Rows of other schemes (the Philippines' regions) are kept from the current file as they are.

    tools/codes/regions.py           rewrite config/codes/regions.tsv
    tools/codes/regions.py --check   exit 1 if the file is not what the source gives

Standard library only (the .xlsx is a zip of XML).
"""
import hashlib
import os
import sys
import xml.etree.ElementTree as ET
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "NUTS2021-NUTS2024.xlsx")
SOURCE_SHA256 = "d71a162127e543579bca3fd942abbb007340be34e627b7767747bc0dbaecc0fb"
TARGET = os.path.join(HERE, "..", "..", "config", "codes", "regions.tsv")
SCHEME = "nuts-2024"

EU = "AT BE BG CY CZ DE DK EE EL ES FI FR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
EFTA = "IS LI NO CH".split()
ISO_COUNTRY = {"EL": "GR"}  # Eurostat's country codes that are not ISO 3166-1's

# (sheet, its first four column headers, the countries taken from it)
SHEETS = [
    ("NUTS2024", ["Country code", "NUTS Code", "NUTS label", "NUTS level"], EU),
    ("Statistical Regions", ["Country code", "SR Code", "Territorial level", "SR level"], EFTA),
]

HEADER = """\
# Regions of identification (cases' identified_region): docs/statistics.md, "Territory".
# EU and EFTA countries: NUTS 3 codes of the NUTS 2024 classification (Commission Delegated
# Regulation (EU) 2023/674, in force from 1 January 2024), scheme nuts-2024, every level 3
# region of the 27 EU countries and of Iceland, Liechtenstein, Norway and Switzerland (Eurostat's
# statistical regions) but the Extra-Regio units (..ZZZ); a NUTS code's levels are its prefixes
# (SE110 is in SE11, SE1, SE). The country column is ISO 3166-1 (Greece's EL codes are GR's).
# These rows are written by tools/codes/regions.py from Eurostat's NUTS2021-NUTS2024.xlsx
# (tools/codes/README.md): do not edit them by hand. Source: European Commission, Eurostat,
# NUTS classification, https://ec.europa.eu/eurostat/web/nuts (reuse authorised with
# acknowledgement, Eurostat's copyright notice).
# Other countries: a documented list per country, scheme iso-3166-2: the Philippines' regions
# as ISO 3166-2:PH names them (Debian iso-codes 4.15), one level below the country. Add a
# country's rows below the NUTS rows to accept its regions.
"""

M = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
PR = "{http://schemas.openxmlformats.org/package/2006/relationships}"


def fail(msg):
    sys.exit("regions.py: " + msg)


def column(ref):
    return "".join(ch for ch in ref if ch.isalpha())


def read_sheets(path, names):
    """{sheet name: [row as {column letter: text}]} for the named sheets."""
    with zipfile.ZipFile(path) as z:
        strings = [
            "".join(t.text or "" for t in si.iter(M + "t"))
            for si in ET.fromstring(z.read("xl/sharedStrings.xml")).findall(M + "si")
        ]
        rels = {
            r.get("Id"): r.get("Target")
            for r in ET.fromstring(z.read("xl/_rels/workbook.xml.rels")).findall(PR + "Relationship")
        }
        sheets = {
            s.get("name"): rels[s.get(R + "id")]
            for s in ET.fromstring(z.read("xl/workbook.xml")).iter(M + "sheet")
        }
        out = {}
        for name in names:
            if name not in sheets:
                fail("%s has no sheet %r" % (path, name))
            rows = []
            for row in ET.fromstring(z.read("xl/" + sheets[name])).iter(M + "row"):
                cells = {}
                for c in row.findall(M + "c"):
                    v = c.find(M + "v")
                    if c.get("t") == "s":
                        text = strings[int(v.text)]
                    elif c.get("t") == "inlineStr":
                        text = "".join(t.text or "" for t in c.iter(M + "t"))
                    else:
                        text = v.text if v is not None else ""
                    cells[column(c.get("r"))] = text or ""
                rows.append(cells)
            out[name] = rows
        return out


def nuts_rows():
    """[(code, ISO country, name)] and {source country: count}."""
    with open(SOURCE, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != SOURCE_SHA256:
        fail("%s has SHA-256 %s, not %s (tools/codes/README.md)" % (SOURCE, digest, SOURCE_SHA256))
    sheets = read_sheets(SOURCE, [s[0] for s in SHEETS])
    rows, counts, seen = [], {}, set()
    for name, headers, countries in SHEETS:
        table = sheets[name]
        got = [table[0].get(col, "").strip() for col in "ABCD"]
        if got != headers:
            fail("sheet %r: columns %r, not %r" % (name, got, headers))
        for cells in table[1:]:
            country, code, label, level = (cells.get(col, "").strip() for col in "ABCD")
            if country not in countries or level != "3" or code.endswith("ZZZ"):
                continue
            if len(code) != 5 or not code.startswith(country) or not code.isalnum() or not label:
                fail("sheet %r: not a NUTS 3 row: %r" % (name, cells))
            if code in seen:
                fail("sheet %r: %s is listed twice" % (name, code))
            seen.add(code)
            rows.append((code, ISO_COUNTRY.get(country, country), " ".join(label.split())))
            counts[country] = counts.get(country, 0) + 1
        missing = [c for c in countries if c not in counts]
        if missing:
            fail("sheet %r: no NUTS 3 rows for %s" % (name, " ".join(missing)))
    return rows, counts


def other_rows(path):
    """The current file's rows of other schemes, as they are."""
    kept = []
    with open(path, encoding="utf-8") as f:
        lines = [l for l in f.read().split("\n") if l and not l.startswith("#")]
    for line in lines[1:]:
        fields = line.split("\t")
        if len(fields) != 4:
            fail("%s: not a code, a country, a scheme and a name: %r" % (path, line))
        if fields[2] != SCHEME:
            kept.append(line)
    return kept


def main(argv):
    check = argv[1:] == ["--check"]
    if argv[1:] and not check:
        sys.exit(__doc__)
    rows, counts = nuts_rows()
    text = HEADER + "code\tcountry\tscheme\tname\n"
    text += "".join("%s\t%s\t%s\t%s\n" % (code, country, SCHEME, name) for code, country, name in rows)
    text += "".join(line + "\n" for line in other_rows(TARGET))
    eu = sum(counts[c] for c in EU)
    summary = "NUTS 3: EU %d (%s), EFTA %d (%s)" % (
        eu,
        " ".join("%s %d" % (c, counts[c]) for c in EU),
        sum(counts[c] for c in EFTA),
        " ".join("%s %d" % (c, counts[c]) for c in EFTA),
    )
    with open(TARGET, encoding="utf-8") as f:
        current = f.read()
    if check:
        if current != text:
            fail("config/codes/regions.tsv is not what the source gives: run tools/codes/regions.py")
        print(summary)
        return
    with open(TARGET, "w", encoding="utf-8") as f:
        f.write(text)
    print(summary)


if __name__ == "__main__":
    main(sys.argv)
