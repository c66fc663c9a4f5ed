"""The pieces every HTML report shares: PNG plots, escaped HTML, atomic writing.

Message texts come from adversaries. Every text put into a page goes through
:func:`esc` (:func:`html.escape`); the page loads nothing remote and carries a
Content-Security-Policy that allows no script at all. :func:`write_page` writes
atomically: the plots get content-addressed names and ``report.html``, which names
them, is replaced last, so an interrupted run leaves the previous report whole and
its images in place.

Plots need matplotlib (the ``report`` extra); it is imported only when a report is
written, and always with the non-interactive Agg backend.
"""

from __future__ import annotations

import hashlib
import html
import io
import numbers
import re
from pathlib import Path

from .errors import InputError

REPORT_FILE = "report.html"
CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
TOP_N = 50
MAX_TEXT = 500
HIST_BINS = 50
MAX_SOURCES_SHOWN = 200

# PNG names written by this module: "<plot>-<12 hex digits of its SHA-256>.png".
_PNG_NAME = re.compile(
    r"^(?:pr_curve|calibration|confusion|score_hist|batch_scores|batch_lang|icon)-[0-9a-f]{12}\.png$"
)


def require_matplotlib() -> None:
    """Fail early, with the extra to install, when matplotlib is missing.

    Raises
    ------
    InputError
        matplotlib cannot be imported.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError("reports need matplotlib: pip install 'coercion-classifier[report]'") from None


def new_figure(width=6.4, height=4.2, rows=1, height_ratios=None):
    """A matplotlib Figure on an Agg canvas (no pyplot: no global state, no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    if rows == 1:
        return fig, fig.subplots()
    return fig, fig.subplots(rows, 1, gridspec_kw={"height_ratios": height_ratios}, sharex=True)


def _icon() -> bytes:
    """A 16x16 red square PNG: the page's own icon, so the browser asks for no other file."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xd6\x27\x28" * 16 for _ in range(16))  # filter byte + RGB pixels
    header = struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def to_png(fig) -> bytes:
    buf = io.BytesIO()
    # "tight" keeps long axis labels (e.g. the confusion matrix's) inside the image
    fig.savefig(buf, format="png", metadata={"Software": None}, bbox_inches="tight", pad_inches=0.1)
    return buf.getvalue()


# --- writing a report folder atomically ---------------------------------------------


# Bidirectional controls (embeddings, overrides, isolates, marks): a right-to-left
# override makes "gpj.exe" read as "exe.jpg" and reorders a table cell's neighbours.
# Displayed texts show them as visible escapes instead.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def esc(value) -> str:
    """Escape anything for HTML text or a quoted attribute; bidi controls shown as ``⟨U+202E⟩``."""
    return _BIDI.sub(lambda m: f"⟨U+{ord(m.group()):04X}⟩", html.escape(str(value), quote=True))


def write_page(directory, title: str, body: str, plots: dict[str, bytes]) -> Path:
    """Write PNGs under content-addressed names, then ``report.html`` (the commit point).

    ``body`` refers to plot ``name`` as ``<@name@>``: escaped text never holds a ``<``,
    so no message can forge the placeholder. Stale PNGs of earlier reports
    in the folder are removed only after the new page is in place.
    """
    from .writers import atomic_path, atomic_text_output

    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise InputError(f"{directory}: exists and is not a folder; pass a folder for --report")
    directory.mkdir(parents=True, exist_ok=True)
    names = {}
    plots = {**plots, "icon": _icon()}
    for name, data in plots.items():
        filename = f"{name}-{hashlib.sha256(data).hexdigest()[:12]}.png"
        names[name] = filename
        if not (directory / filename).exists():
            with atomic_path(directory / filename) as tmp:
                tmp.write_bytes(data)
    for name, filename in names.items():
        body = body.replace(f"<@{name}@>", esc(filename))
    page = _PAGE.format(title=esc(title), csp=esc(CSP), style=_STYLE, body=body, icon=esc(names["icon"]))
    target = directory / REPORT_FILE
    with atomic_text_output(target) as fh:
        fh.write(page)
    keep = set(names.values())
    for old in directory.iterdir():
        if _PNG_NAME.match(old.name) and old.name not in keep:
            old.unlink(missing_ok=True)
    return target


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1100px;
padding:0 1rem;color:#1b1b1b;line-height:1.4}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #ccc;padding:.25rem .5rem;
vertical-align:top}th{background:#f2f2f2;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.plots{display:flex;flex-wrap:wrap;gap:1rem}.plots figure{margin:0}img{max-width:100%;height:auto}
figcaption{font-size:.9rem;color:#444;max-width:640px}.msg{white-space:pre-wrap;word-break:break-word;
max-width:560px}.note{color:#555;font-size:.9rem}code{background:#f4f4f4;padding:0 .2rem}
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="{icon}">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<h1>{title}</h1>
{body}
</body>
</html>
"""


def fmt(value, digits=3) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _is_number(value) -> bool:
    # bool is an int, but "True" reads as text; None is a missing number ("-")
    return value is None or (isinstance(value, numbers.Number) and not isinstance(value, bool))


def table_html(header: list[str], rows: list[list], numeric_from: int = 1) -> str:
    """An HTML table; every cell is escaped, numbers from column ``numeric_from`` on right-aligned.

    Text cells (dates, names, messages) stay left-aligned whatever their column.
    """
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{esc(fmt(v))}</td>'
            if i >= numeric_from and _is_number(v)
            else f"<td>{esc(fmt(v))}</td>"
            for i, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def figure_html(name: str, alt: str, caption: str) -> str:
    return (
        f'<figure><img src="<@{name}@>" alt="{esc(alt)}" width="640">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


# --- evaluation on labelled data ------------------------------------------------------
