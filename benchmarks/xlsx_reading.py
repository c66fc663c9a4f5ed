"""Reading an .xlsx beside the same rows as CSV: messages per second and peak memory.

Writes N realistic messages (uk/ru/en, 20-400 characters, from the label store) with an
id and a date column twice: as a ``;`` CSV in cp1251 (a Ukrainian Excel export) and as
an .xlsx laid out as Excel writes it (every text once in the shared-string table; openpyxl
itself writes inline strings). Each file is read by ``classifier.readers.read_records``
with ``--keep all`` in a fresh process, which reports its messages per second and its peak
RSS growth while reading (RSS sampled every 5,000 rows, minus RSS before the first row).

Usage::

    python benchmarks/xlsx_reading.py [-n 500000]
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import tempfile
import time
import zipfile
from xml.sax.saxutils import escape

from _common import realistic_messages

_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_TYPES = (
    '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>"
)


def write_xlsx(path, rows):
    """An Excel-layout workbook: header id, text, date; texts in the shared-string table."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _TYPES)
        z.writestr(
            "_rels/.rels",
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        z.writestr(
            "xl/workbook.xml",
            f'<?xml version="1.0"?><workbook {_NS} xmlns:r="{_REL}"><sheets>'
            '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
        )
        with z.open("xl/sharedStrings.xml", "w") as fh:
            fh.write(f'<?xml version="1.0"?><sst {_NS}>'.encode())
            for value in ["id", "text", "date"] + [r[1] for r in rows]:
                fh.write(f"<si><t>{escape(value)}</t></si>".encode())
            fh.write(b"</sst>")
        with z.open("xl/worksheets/sheet1.xml", "w") as fh:
            fh.write(f'<?xml version="1.0"?><worksheet {_NS}><sheetData>'.encode())
            fh.write(
                b'<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c></row>'
            )
            for i, (rid, _, date) in enumerate(rows, start=2):
                fh.write(
                    f'<row r="{i}"><c r="A{i}"><v>{rid}</v></c><c r="B{i}" t="s"><v>{i + 1}</v></c>'
                    f'<c r="C{i}" t="inlineStr"><is><t>{date}</t></is></c></row>'.encode()
                )
            fh.write(b"</sheetData></worksheet>")


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _read(path, queue):
    import openpyxl  # noqa: F401 - imported before the baseline, like the package

    from classifier.readers import read_records

    base = peak = _rss_mb()
    start = time.perf_counter()
    n = 0
    for record in read_records(path, keep="all"):
        n += not record.error
        if record.row % 5000 == 0:  # RSS now, sampled: the peak of the reading itself
            peak = max(peak, _rss_mb())
    seconds = time.perf_counter() - start
    queue.put((n, seconds, base, max(peak, _rss_mb()) - base))


def measure(path):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_read, args=(path, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=500_000, help="messages (default 500,000)")
    args = parser.parse_args()
    texts = realistic_messages(args.n)
    rows = [(i, t, f"2024-03-{1 + i % 28:02d} 09:30") for i, t in enumerate(texts)]
    tmp = tempfile.mkdtemp(prefix="xlsx-bench-")
    csv_path, xlsx_path = os.path.join(tmp, "export.csv"), os.path.join(tmp, "export.xlsx")
    with open(csv_path, "w", encoding="cp1251", errors="replace", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(["id", "Текст", "date"])
        writer.writerows(rows)
    write_xlsx(xlsx_path, rows)
    print(f"{args.n:,} messages; {os.cpu_count()} cores")
    print(
        "| input | size | msg/s | peak RSS growth while reading | RSS before reading |\n|---|---|---|---|---|"
    )
    for name, path in (("`;` CSV, cp1251", csv_path), (".xlsx, shared strings", xlsx_path)):
        n, seconds, base, extra = measure(path)
        assert n == args.n, (name, n)
        size = os.path.getsize(path) / 1e6
        print(f"| {name} | {size:.1f} MB | {n / seconds:,.0f} | {extra:.0f} MB | {base:.0f} MB |", flush=True)


if __name__ == "__main__":
    main()
