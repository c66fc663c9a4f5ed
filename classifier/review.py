"""The review queue: label scored messages (or campaigns) one at a time, by keyboard, in a local page.

:func:`load_items` reads what ``score`` writes (with the text, ``--include-text``) or a
campaigns file, highest score first, with the guide's three conditions from the
model's condition heads. :class:`ReviewQueue` hands out the next item an annotator has
not decided and records decisions in :mod:`classifier.decisions`. :func:`create_app`
is the Flask page; :func:`serve` runs it on 127.0.0.1 only. :func:`export_decisions`
sends decisions to the label store through :func:`classifier.merge.add_labels`, the
code ``labels add`` runs.

The page is built on the server, every text through
:func:`classifier.report_page.esc`; its one inline script is allowed by a nonce in the
Content-Security-Policy, and the page loads nothing else: no remote asset, no request
outside this server. Every request needs the random token of the URL that ``review``
prints; any other gets 403.
"""

from __future__ import annotations

import csv
import hmac
import io
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ._cells import unescape_cell
from .errors import InputError
from .labels import NEGATIVE_CATEGORIES, POSITIVE_CATEGORY
from .report_page import esc

CAMPAIGN_COLUMNS = (
    "campaign",
    "size",
    "first_seen",
    "last_seen",
    "languages",
    "sources",
    "max_score",
    "text",
)
CONDITION_TITLES = ("captive voice", "addressed home", "urges pressure")
# the key of each label-0 category on the page: digits, then letters that no other key uses
CATEGORY_KEYS = dict(zip(NEGATIVE_CATEGORIES, "1234567890abcd", strict=False))


@dataclass(frozen=True)
class Item:
    """One message (or campaign) to review.

    ``text`` is the original; ``shown`` and ``shown_reasons`` are what the page shows
    (redacted with ``--redact``). ``conditions`` are the condition heads'
    probabilities, or None for a model without them.
    """

    key: str
    scored_file: str
    source: str
    row: str
    campaign: str
    campaign_size: int
    text: str
    shown: str
    score: float
    reasons: str
    shown_reasons: str
    conditions: tuple[float, float, float] | None
    is_campaign: bool = False


def _bad_workbook_errors() -> tuple:
    """What reading a broken .xlsx raises (a zip error, openpyxl's, a missing member)."""
    import zipfile

    errors: list = [zipfile.BadZipFile, KeyError, EOFError]
    try:
        from openpyxl.utils.exceptions import InvalidFileException

        errors.append(InvalidFileException)
    except ImportError:  # openpyxl missing: pandas says so in an ImportError, one line already
        pass
    return tuple(errors)


def _read_table(path: Path) -> pd.DataFrame:
    """A scored or campaigns file as strings; CSV/TSV cells unescaped as ``score`` escaped them."""
    name = path.name.lower()
    try:
        if name.endswith((".csv", ".tsv")):
            frame = pd.read_csv(
                path, sep="\t" if name.endswith(".tsv") else ",", dtype=str, keep_default_na=False,
                encoding="utf-8-sig",
            )  # fmt: skip
            return frame.map(unescape_cell)
        if name.endswith((".jsonl", ".ndjson")):
            return pd.read_json(path, lines=True, dtype=False)
        if name.endswith(".xlsx"):
            return pd.read_excel(path, dtype=object, engine="openpyxl")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError, *_bad_workbook_errors()) as exc:
        # an .xlsx that is no zip, a truncated one, a zip without a workbook: openpyxl's
        # BadZipFile, InvalidFileException or KeyError are one line too
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: cannot read it as a scored file ({reason})") from None
    raise InputError(f"{path}: review reads what score writes: a .csv, .tsv, .jsonl or .xlsx file")


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def load_items(path, model=None, *, redact: bool = False) -> list[Item]:
    """The items of a scored file or a campaigns file, highest score first.

    Parameters
    ----------
    path : path-like
        What ``score`` writes (``.csv``, ``.tsv``, ``.jsonl``, ``.xlsx``) with at least
        ``score``, ``flagged`` and ``text`` (``score --include-text``), optionally
        ``reasons``, ``source``, ``row`` and ``campaign``; or a campaigns file, whose
        columns are exactly :data:`CAMPAIGN_COLUMNS`. Error rows and rows without
        text are left out.
    model : LoadedModel, optional
        Gives the guide's three conditions (its condition heads); without one, or for
        a model without condition heads, they are not shown.
    redact : bool, default=False
        Show texts and reasons with :func:`classifier.redact.redact` applied.

    Raises
    ------
    InputError
        Unreadable file, missing columns (a missing text column says to rescore with
        ``--include-text``), or no row to review.
    """
    from .decisions import item_key
    from .redact import redact as mask

    path = Path(path)
    frame = _read_table(path)
    columns = [str(c) for c in frame.columns]
    campaigns = set(columns) == set(CAMPAIGN_COLUMNS)
    if not campaigns:
        missing = [c for c in ("score", "flagged") if c not in columns]
        if missing:
            raise InputError(
                f"{path}: no {' and no '.join(missing)} column; review reads a file written by "
                f"'coercion-classifier score' (or a campaigns file: {','.join(CAMPAIGN_COLUMNS)})"
            )
        if "text" not in columns:
            raise InputError(
                f"{path} has no text column; rescore with --include-text "
                "(coercion-classifier score INPUT --include-text -o FILE)"
            )
    records = frame.to_dict("records")
    rows = []
    for n, record in enumerate(records, start=1):
        text = _cell(record.get("text"))
        score = pd.to_numeric(_cell(record.get("max_score" if campaigns else "score")), errors="coerce")
        if not text.strip() or _cell(record.get("error")) or score != score:
            continue
        rows.append((n, record, text, float(score)))
    if not rows:
        raise InputError(f"{path}: no scored message with a text to review")
    sizes: dict[str, int] = {}
    if not campaigns and "campaign" in columns:
        for _, record, _, _ in rows:
            cid = _cell(record.get("campaign")).strip()
            if cid:
                sizes[cid] = sizes.get(cid, 0) + 1
    conditions = [None] * len(rows)
    if model is not None and model.scorer.has_conditions:
        probabilities = model.scorer.condition_proba([text for _, _, text, _ in rows])
        conditions = [tuple(float(p) for p in ps) for ps in probabilities]
    items = []
    for (n, record, text, score), conds in zip(rows, conditions, strict=True):
        if campaigns:
            cid = _cell(record.get("campaign")).strip()
            source, row = f"campaign {cid}", ""
            size = int(pd.to_numeric(_cell(record.get("size")), errors="coerce") or 1)
            key = item_key(text, f"{path.name}#campaign:{cid}", "")
        else:
            cid = _cell(record.get("campaign")).strip()
            source, row = _cell(record.get("source")), _cell(record.get("row")) or str(n)
            size = sizes.get(cid, 1) if cid else 1
            key = item_key(text, source or path.name, row)
        reasons = _cell(record.get("reasons"))
        items.append(
            Item(
                key=key, scored_file=path.name, source=source, row=row, campaign=cid,
                campaign_size=size, text=text, shown=mask(text) if redact else text, score=score,
                reasons=reasons, shown_reasons=mask(reasons) if redact else reasons,
                conditions=conds, is_campaign=campaigns,
            )
        )  # fmt: skip
    items.sort(key=lambda item: -item.score)  # stable: file order among equal scores
    return items


class ReviewQueue:
    """One annotator's queue over ``items``, backed by a :class:`classifier.decisions.Decisions`.

    Items the annotator decided are not shown again; skipped ones come back after every
    undecided one, in the order they were skipped.

    Parameters
    ----------
    items : list of Item
    decisions : Decisions
    annotator : str
    """

    def __init__(self, items, decisions, annotator: str):
        if not annotator or not annotator.strip():
            raise InputError("--annotator needs a name (who is labelling)")
        self.items = list(items)
        self.decisions = decisions
        self.annotator = annotator.strip()
        self._by_key = {item.key: item for item in self.items}
        self.is_campaigns = bool(self.items) and self.items[0].is_campaign

    def get(self, key: str) -> Item | None:
        return self._by_key.get(key)

    def current(self) -> Item | None:
        """The next item to show: the highest-scoring undecided one, else the first skipped one."""
        decided = self.decisions.decided(self.annotator)
        for item in self.items:
            if item.key not in decided:
                return item
        for key in self.decisions.skipped(self.annotator):
            if key in self._by_key:
                return self._by_key[key]
        return None

    def progress(self) -> tuple[int, int]:
        """(items labelled by this annotator, items in the file)."""
        decided = self.decisions.decided(self.annotator)
        return sum(1 for item in self.items if decided.get(item.key) is not None), len(self.items)

    def campaign_of(self, item: Item) -> list[Item]:
        """The item and every other item of its campaign in this file (just the item if it has none)."""
        if not item.campaign or item.is_campaign:
            return [item]
        return [other for other in self.items if other.campaign == item.campaign]

    def decide(self, item: Item, label: int | None, category: str = "", *, whole_campaign=False) -> int:
        """Record a decision (label None: skip) on the item, or on its whole campaign; rows stored."""
        if label == 1:
            category = POSITIVE_CATEGORY
        elif label == 0:
            if category not in NEGATIVE_CATEGORIES:
                raise InputError(f"category {category!r} is not one of {', '.join(NEGATIVE_CATEGORIES)}")
        else:
            category = ""
        targets = self.campaign_of(item) if whole_campaign else [item]
        return self.decisions.record(self.annotator, targets, label, category)

    def undo(self) -> int:
        """Undo the annotator's last decision on this queue's items (not one made over another file)."""
        return self.decisions.undo(self.annotator, self._by_key)


# --- export -----------------------------------------------------------------------------------

_EXPORT_COLUMNS = ("text", "label", "category", "source", "row", "annotator", "writer", "group", "added")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "review"


def _stable_id(text: str) -> str:
    """A readable prefix of ``text`` and a short hash of it: distinct texts never share one.

    Examples
    --------
    >>> _stable_id("c1") != _stable_id("C1") and _stable_id("к1") != _stable_id("1")
    True
    """
    import hashlib

    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    prefix = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:20].strip("-")
    return f"{prefix}-{digest}" if prefix else digest


def campaign_group(scored_file: str, campaign: str) -> str:
    """The label store ``group`` of a campaign's exported rows (one per scored file and campaign id)."""
    return f"review-{_stable_id(scored_file)}-campaign-{_stable_id(campaign)}"


def export_decisions(
    decisions,
    *,
    annotator: str | None = None,
    store=None,
    redact: bool = False,
    resolve: str | None = None,
    exports_dir=None,
    now: datetime | None = None,
):
    """Send the labelled decisions to the label store, as ``labels add`` adds a file.

    The decisions (all annotators', or ``annotator``'s) are written, one row each, to a
    new file ``<workspace>/review/exports/<time>_<who>_<scored file>.csv`` (never over
    another: it stays as the record of what was exported; an export that adds nothing
    and cites none of its lines, in a conflict or a held-out text, leaves none), which goes to
    :func:`classifier.merge.add_labels` with ``source="review:<scored file>"``: the
    same provenance (annotator, writer, date, the message's own input file and row),
    duplicate and conflict handling, and refusal of held-out texts as ``labels add``.
    Exporting again adds nothing new: the rows are then exact duplicates of the store's.
    Skips are not exported. A campaign row's ``group`` names its campaign, so
    cross-validation holds a campaign's messages out together.

    Parameters
    ----------
    decisions : Decisions
    annotator : str, optional
    store : path-like, optional
        Default: the workspace's label store.
    redact : bool, default=False
        Export the redacted texts (what was shown with ``--redact``) instead of the
        originals: personal data stays out of the store, at the price of a training
        text that differs from what ``score`` sees.
    resolve : {None, "newest", "keep"}
        As ``labels add --resolve``.
    exports_dir : path-like, optional
        Default: ``<workspace>/review/exports``.
    now : datetime, optional

    Returns
    -------
    list of (str, AddReport or None)
        One per scored file: its name and what ``labels add`` did (None: nothing to export).

    Raises
    ------
    DataError
        As :func:`classifier.merge.add_labels` (unresolved conflicts: nothing added).
    """
    from .merge import add_labels
    from .normalize import normalize_texts
    from .redact import redact as mask
    from .workspace import home

    now = now or datetime.now(UTC)
    chosen = [d for d in decisions.all(annotator) if d.label is not None]
    exports_dir = Path(exports_dir) if exports_dir is not None else home() / "review" / "exports"
    exports_dir.mkdir(parents=True, exist_ok=True)
    by_file: dict[str, list] = {}
    for d in chosen:
        by_file.setdefault(d.scored_file, []).append(d)
    results = []
    for scored_file, rows in sorted(by_file.items()):
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=list(_EXPORT_COLUMNS), lineterminator="\n")
        writer.writeheader()
        for d in rows:
            writer.writerow(
                {
                    "text": mask(d.text) if redact else d.text,
                    "label": d.label,
                    "category": d.category,
                    "source": d.source,
                    "row": d.row,
                    "annotator": d.annotator,
                    "writer": d.annotator,
                    "group": campaign_group(scored_file, d.campaign) if d.campaign else "",
                    "added": d.decided_at[:10],
                }
            )
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        who = _slug(annotator) if annotator else "all"
        for n in range(1, 1000):
            target = exports_dir / f"{stamp}{'' if n == 1 else f'-{n}'}_{who}_{_slug(scored_file)}.csv"
            try:
                with open(target, "x", encoding="utf-8", newline="") as fh:  # never over a file
                    fh.write(buffer.getvalue())
                break
            except FileExistsError:
                continue
        originals = None
        if redact:  # the held-out check also looks at the original texts, not only the masked ones
            originals = {}
            masked = [mask(d.text) for d in rows]
            for key, d in zip(normalize_texts(masked), rows, strict=True):
                originals.setdefault(key, []).append(d.text)
        report = add_labels(
            [target],
            store,
            source=f"review:{scored_file}",
            resolve=resolve,
            now=now,
            original_texts=originals,
        )
        if not report.added and not report.conflicts and not report.evaluation_texts:
            target.unlink(missing_ok=True)  # nothing added and no line of it cited: no record to keep
        results.append((scored_file, report))
    return results


def export_lines(results) -> list[str]:
    """What an export did, for people: one block per scored file."""
    if not results:
        return ["no labelled decisions to export"]
    lines = []
    for scored_file, report in results:
        lines.append(f"review:{scored_file}: " + "; ".join(report.lines()))
        lines.extend(conflict.line() for conflict in report.conflicts)
        if report.evaluation_line():
            lines.append(report.evaluation_line())
    return lines


# --- the page -------------------------------------------------------------------------------


def _csp(nonce: str) -> str:
    return (
        "default-src 'none'; "
        f"script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; img-src 'self'; "
        "form-action 'self'; base-uri 'none'; connect-src 'none'"
    )


def create_app(queue: ReviewQueue, token: str, *, export=None):
    """The review page as a Flask app.

    Parameters
    ----------
    queue : ReviewQueue
    token : str
        Every request must carry it (``?t=`` in the URL, or the ``t`` form field);
        otherwise 403.
    export : callable, optional
        Called with no argument by the page's export key; returns lines to show.

    Notes
    -----
    ``app.config["ALLOWED_HOSTS"]`` (set by :func:`serve`: ``127.0.0.1:PORT``,
    ``localhost:PORT``) limits the Host header, so that a site a DNS rebinding points
    at this port gets 403 even with the token. Unset (the test client): any host.
    """
    from flask import Flask, abort, make_response, redirect, request

    app = Flask("classifier.review")
    state = {"notice": []}

    @app.before_request
    def _check():
        given = request.args.get("t") or request.form.get("t") or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            abort(403)
        allowed = app.config.get("ALLOWED_HOSTS")
        if allowed is not None and request.host not in allowed:
            abort(403)

    @app.after_request
    def _headers(response):
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        response.headers.setdefault("Content-Security-Policy", "default-src 'none'")
        return response

    @app.errorhandler(403)
    def _forbidden(_):
        return (
            "403 Forbidden: open the URL that coercion-classifier review printed\n",
            403,
            {"Content-Type": "text/plain; charset=utf-8"},
        )

    def back():
        return redirect(f"/?t={token}", code=303)

    @app.get("/")
    def page():
        nonce = secrets.token_urlsafe(16)
        notice, state["notice"] = state["notice"], []
        response = make_response(render_page(queue, token, nonce, notice, can_export=export is not None))
        response.headers["Content-Security-Policy"] = _csp(nonce) + "; frame-ancestors 'none'"
        response.headers["Content-Type"] = "text/html; charset=utf-8"
        return response

    @app.get("/icon.png")
    def icon():  # the page's own icon, so that the browser asks for no /favicon.ico (a 403)
        from .report_page import _icon

        return _icon(), 200, {"Content-Type": "image/png"}

    @app.post("/decide")
    def decide():
        action = request.form.get("action", "")
        if action == "undo":
            removed = queue.undo()
            state["notice"] = [
                f"undone ({removed} row{'s' if removed != 1 else ''})" if removed else "nothing to undo"
            ]
            return back()
        item = queue.get(request.form.get("item", ""))
        if item is None:
            abort(400)
        whole = request.form.get("scope") == "campaign"
        if action == "yes":
            n = queue.decide(item, 1, whole_campaign=whole)
        elif action == "no":
            category = request.form.get("category", "")
            if category not in NEGATIVE_CATEGORIES:
                abort(400)
            n = queue.decide(item, 0, category, whole_campaign=whole)
        elif action == "skip":
            n = queue.decide(item, None)
        else:
            abort(400)
        if whole and not item.is_campaign:
            state["notice"] = [f"campaign {item.campaign}: {n} row(s) labelled"]
        return back()

    @app.post("/export")
    def run_export():
        if export is None:
            abort(404)
        try:
            state["notice"] = export()
        except Exception as exc:  # shown on the page: a conflict or a store problem, one line
            state["notice"] = [f"export failed: {exc}"]
        return back()

    return app


def render_page(queue: ReviewQueue, token: str, nonce: str, notice=(), *, can_export=True) -> str:
    """The page's HTML for the queue's current item; every text escaped."""
    item = queue.current()
    done, total = queue.progress()
    keys = "".join(
        f"<li data-key='{esc(key)}' data-category='{esc(cat)}'><kbd>{esc(key)}</kbd> {esc(cat)}</li>"
        for cat, key in CATEGORY_KEYS.items()
    )
    hidden = f'<input type="hidden" name="t" value="{esc(token)}">'
    if item is None:
        body = f"<p id='done'>Nothing left to review: {done} of {total} labelled.</p>"
    else:
        conds = "<p class='note'>condition heads: none in this model</p>"
        if item.conditions is not None:
            conds = (
                "<ul id='conditions'>"
                + "".join(
                    f"<li>{esc(title)}: <strong>{'yes' if p >= 0.5 else 'no'}</strong> ({p:.2f})</li>"
                    for title, p in zip(CONDITION_TITLES, item.conditions, strict=True)
                )
                + "</ul>"
            )
        where = esc(item.source) + (f" row {esc(item.row)}" if item.row else "")
        campaign = (
            f"campaign <strong>{esc(item.campaign)}</strong>, <span id='campaign-size'>{item.campaign_size}</span> message(s)"
            if item.campaign
            else "no campaign (<span id='campaign-size'>1</span> message)"
        )
        whole = (
            "every decision covers the campaign"
            if item.is_campaign
            else "Shift+Y / Shift+N: label the whole campaign"
        )
        body = (
            f"<div id='item' data-key='{esc(item.key)}'>"
            f"<p class='meta'>score <strong id='score'>{item.score:.4f}</strong> · {where} · {campaign}</p>"
            f"<div id='text' class='msg'>{esc(item.shown)}</div>"
            f"<p>reasons: <span id='reasons'>{esc(item.shown_reasons) or '-'}</span></p>{conds}</div>"
            f"<form id='decide' method='post' action='/decide'>{hidden}"
            f"<input type='hidden' name='item' value='{esc(item.key)}'>"
            "<input type='hidden' name='scope' value=''><input type='hidden' name='category' value=''>"
            "<button name='action' value='yes'>y: pattern</button> "
            "<button type='button' id='no-button'>n: not pattern…</button> "
            "<button name='action' value='skip'>s: skip</button> "
            "<input type='hidden' name='action' value='' disabled>"
            f"<p class='note'>{esc(whole)}</p></form>"
            f"<div id='categories' hidden><p>not the pattern: which category? (Esc: back)</p><ul>{keys}</ul></div>"
        )
    undo = f"<form id='undo' method='post' action='/decide'>{hidden}<input type='hidden' name='action' value='undo'><button>u: undo</button></form>"
    exp = (
        f"<form id='export' method='post' action='/export'>{hidden}<button>e: export to the label store</button></form>"
        if can_export
        else ""
    )
    shown_notice = "".join(f"<p class='notice'>{esc(line)}</p>" for line in notice)
    help_box = (
        "<div id='help' hidden><h2>Keys</h2><ul>"
        "<li><kbd>y</kbd> pattern (label 1)</li><li><kbd>n</kbd> not the pattern, then a category key</li>"
        "<li><kbd>Shift</kbd>+<kbd>Y</kbd> / <kbd>Shift</kbd>+<kbd>N</kbd> the same for every message of the "
        "shown message's campaign (Shift must be held: Caps Lock alone labels one message)</li>"
        "<li><kbd>s</kbd> skip (it comes back after the rest)</li><li><kbd>u</kbd> undo your last decision in this file</li>"
        "<li><kbd>e</kbd> export the decisions to the label store</li><li><kbd>?</kbd> this help; Esc closes</li>"
        f"</ul><ul>{keys}</ul></div>"
    )
    return _PAGE.format(
        csp=esc(_csp(nonce)),
        who=esc(queue.annotator),
        done=done,
        total=total,
        kind="campaigns" if queue.is_campaigns else "messages",
        notice=shown_notice,
        body=body,
        undo=undo,
        export=exp,
        help=help_box,
        nonce=esc(nonce),
        token=esc(token),
        script=_SCRIPT,
        style=_STYLE,
    )


_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem auto;max-width:900px;padding:0 1rem;color:#1b1b1b}
.msg{white-space:pre-wrap;word-break:break-word;font-size:1.25rem;border:1px solid #ccc;padding:1rem;
background:#fafafa}.meta,.note{color:#555}.notice{background:#fff6d5;padding:.3rem .6rem}
kbd{border:1px solid #999;border-radius:3px;padding:0 .3rem;background:#f4f4f4;font-family:monospace}
#help{position:fixed;inset:10% 20%;background:#fff;border:2px solid #333;padding:1rem;overflow:auto}
#categories ul,#help ul{columns:2}form{display:inline-block;margin:.3rem .3rem 0 0}
"""

# The page's only script: keys to form submissions. No fetch, no remote anything.
_SCRIPT = """
(function () {
  var keys = {};
  document.querySelectorAll('#categories [data-key]').forEach(function (li) {
    var category = li.getAttribute('data-category');
    keys[li.getAttribute('data-key')] = category;
    li.addEventListener('click', function () {  // a mouse works too
      send(decide, {action: 'no', category: category, scope: scope});
    });
  });
  var decide = document.getElementById('decide');
  var cats = document.getElementById('categories');
  var help = document.getElementById('help');
  var scope = '';
  var sent = false;
  function send(form, fields) {
    if (sent || !form) return;
    sent = true;
    for (var name in fields) {
      var input = form.querySelector('input[name=' + name + ']');
      input.disabled = false;
      input.value = fields[name];
    }
    form.submit();
  }
  function askCategory(whole) {
    if (!decide) return;
    scope = whole ? 'campaign' : '';
    cats.hidden = false;
  }
  var noButton = document.getElementById('no-button');
  if (noButton) noButton.addEventListener('click', function () { askCategory(false); });
  document.addEventListener('keydown', function (e) {
    if (e.ctrlKey || e.altKey || e.metaKey) return;
    // letters compare in lower case, so Caps Lock does not change a key; a campaign needs Shift held
    var k = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    if (k === 'Escape') { cats && (cats.hidden = true); help.hidden = true; return; }
    if (k === '?') { help.hidden = !help.hidden; return; }
    if (cats && !cats.hidden) {
      if (keys[k]) send(decide, {action: 'no', category: keys[k], scope: scope});
      return;
    }
    if (k === 'y') send(decide, {action: 'yes', scope: e.shiftKey ? 'campaign' : ''});
    else if (k === 'n') askCategory(e.shiftKey);
    else if (k === 's') send(decide, {action: 'skip', scope: ''});
    else if (k === 'u') { var u = document.getElementById('undo'); if (!sent) { sent = true; u.submit(); } }
    else if (k === 'e') { var x = document.getElementById('export'); if (x && !sent) { sent = true; x.submit(); } }
  });
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="/icon.png?t={token}">
<title>Review queue</title>
<style>{style}</style>
</head>
<body>
<h1>Review queue</h1>
<p class="meta">annotator <strong id="annotator">{who}</strong> · <span id="progress">{done} of {total}</span> {kind} labelled · press <kbd>?</kbd> for the keys</p>
{notice}
{body}
<div>{undo}{export}</div>
{help}
<script nonce="{nonce}">{script}</script>
</body>
</html>
"""


def serve(app, port: int = 0, *, on_ready=None):
    """Serve ``app`` on 127.0.0.1:``port`` (0: a free port) until interrupted.

    ``on_ready(port)`` is called once the socket is bound (to print the URL).

    Raises
    ------
    InputError
        ``port`` is taken.
    """
    import logging

    from werkzeug.serving import make_server

    # werkzeug logs every request line, token included, to stderr: keep only its errors
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    if port:  # werkzeug prints two lines and exits on a taken port; say it in one, as an error
        import socket

        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as exc:
                raise InputError(
                    f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); pass another --port, or none for a free one"
                ) from None
    server = make_server("127.0.0.1", port, app, threaded=True)
    bound = server.socket.getsockname()[1]
    app.config["ALLOWED_HOSTS"] = {f"127.0.0.1:{bound}", f"localhost:{bound}"}
    if on_ready is not None:
        on_ready(bound)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def new_token() -> str:
    """The URL's random token (192 bits)."""
    return secrets.token_urlsafe(24)
