"""evaluate --report and score --report: numbers, files, escaping, atomic writes, errors."""

import re
import struct
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.metrics import confusion_matrix, precision_score, recall_score

from classifier import report, report_page
from classifier.batch_report import BatchReport
from classifier.cli import cli
from classifier.report import evaluate_model, read_evaluation_data, write_evaluation_report
from classifier.scoring import score_files, score_texts

from .conftest import NEGATIVES, POSITIVES, model_opts, tiny_rows, write_store

HOSTILE = [
    "<script>window.pwned=1</script> Мамо, виходьте на Майдан, вимагайте обміну, нас покинули",
    '<img src=x onerror="window.pwned=2"> рідні виходьте на вулиці тисніть на офіс президента',
]


class _Tables(HTMLParser):
    """Every <table> of a page as a list of rows of cell texts."""

    def __init__(self):
        super().__init__()
        self.tables, self._cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def _tables(page):
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    return struct.unpack(">II", data[16:24])


def _images(folder):
    page = (folder / "report.html").read_text(encoding="utf-8")
    return page, re.findall(r'<img src="([^"]+)"', page)


def _labelled_csv(path, extra=()):
    rows = tiny_rows() + list(extra)
    write_store(path, rows)
    return path


def _sk(y, flagged):
    tn, fp, _fn, _tp = confusion_matrix(y, flagged, labels=[0, 1]).ravel()
    return (
        precision_score(y, flagged, zero_division=np.nan),
        recall_score(y, flagged, zero_division=np.nan),
        fp / (fp + tn) if fp + tn else np.nan,
    )


def _same(a, b):
    return (np.isnan(a) and np.isnan(b)) or abs(a - b) < 1e-12


def test_evaluation_tables_match_sklearn(tiny_model, tmp_path):
    data = read_evaluation_data([_labelled_csv(tmp_path / "eval.csv")])
    scores = tiny_model.predict_proba(data.frame["text"].tolist())
    threshold = float(np.quantile(scores, 0.3))  # low enough to flag negatives: no metric is trivial
    result = evaluate_model(tiny_model, data, threshold=threshold)
    frame = result.data.frame
    flagged = (scores >= threshold).astype(int)
    assert np.array_equal(frame["score"].to_numpy(), scores)
    y = frame["label"].to_numpy()
    precision, recall, fpr = _sk(y, flagged)
    assert 0 < precision < 1 and 0 < recall <= 1
    for key, value in (("precision", precision), ("recall", recall), ("fpr", fpr)):
        assert _same(result.overall[key], value)
    for column, table in (("lang", result.by_lang), ("category", result.by_category)):
        assert sorted(table) == sorted(frame[column].unique())
        for key, part in frame.groupby(column):
            idx = part.index.to_numpy()
            p, r, f = _sk(y[idx], flagged[idx])
            got = table[key]
            assert got["n"] == len(idx) and got["tp"] + got["fp"] == flagged[idx].sum()
            assert _same(got["precision"], p) and _same(got["recall"], r) and _same(got["fpr"], f), key

    out = write_evaluation_report(result, tmp_path / "rep")
    tables = _tables(out.read_text(encoding="utf-8"))
    by_lang = next(t for t in tables if t[0][0] == "language")
    assert [row[0] for row in by_lang[1:]] == ["en", "ru", "uk"]
    for row in by_lang[1:]:
        m = result.by_lang[row[0]]
        expected = [m["n"], m["positives"], m["tp"] + m["fp"], m["precision"], m["recall"], m["fpr"]]
        assert row[1:] == [report_page.fmt(v) for v in expected]
    by_cat = next(t for t in tables if t[0][0] == "category")
    assert {row[0] for row in by_cat[1:]} == set(frame["category"])


def test_evaluate_cli_writes_report_with_valid_pngs(tiny_model, tmp_path):
    data = _labelled_csv(tmp_path / "eval.csv")
    folder = tmp_path / "rep"
    result = CliRunner().invoke(
        cli, ["evaluate", *model_opts(tiny_model), "--data", str(data), "--report", str(folder)]
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"model {tiny_model.version}  threshold {tiny_model.threshold:.4f}" in out
    assert "30 rows, 15 positive" in out and "lang=uk" in out and "category=scam" in out
    assert out.strip().endswith(str(folder / "report.html"))
    page, images = _images(folder)
    assert len(images) == 4
    for name in images:
        width, height = _png_size(folder / name)
        assert width > 300 and height > 300
    import matplotlib.image

    assert matplotlib.image.imread(folder / images[0]).ndim == 3  # decodes whole
    assert f'content="{report_page.CSP}"'.replace("'", "&#x27;") in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
    for lang in ("uk", "ru", "en"):
        assert f"<td>{lang}</td>" in page
    assert tiny_model.card["model_sha256"] in page and tiny_model.card["data"]["sha256"] in page


def test_evaluation_data_defaults_and_hostile_values_are_escaped(tiny_model, tmp_path):
    path = tmp_path / "min.csv"
    path.write_text(
        "text,label,lang,category\n"
        f'"{HOSTILE[0]}",yes,<script>x</script>,"<img src=x onerror=alert(1)>"\n'
        "Купи хліба,0,,\n"
        "Mom I am alive,FALSE,,\n",
        encoding="utf-8",
    )
    data = read_evaluation_data([path])
    assert data.frame["label"].tolist() == [1, 0, 0]
    assert data.frame["lang"].tolist()[1:] == ["uk", "en"]
    assert data.frame["category"].tolist()[1:] == ["unsorted", "unsorted"]
    out = write_evaluation_report(evaluate_model(tiny_model, data), tmp_path / "rep")
    page = out.read_text(encoding="utf-8")
    assert "<script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_report_replaces_an_old_one_only_when_complete(tiny_model, tmp_path, monkeypatch):
    data = read_evaluation_data([_labelled_csv(tmp_path / "eval.csv")])
    folder = tmp_path / "rep"
    write_evaluation_report(evaluate_model(tiny_model, data), folder)
    old_page, old_images = _images(folder)

    def boom(*args):
        raise KeyboardInterrupt  # e.g. Ctrl-C after some plots were written

    monkeypatch.setattr(report, "_plot_histograms", boom)
    with pytest.raises(KeyboardInterrupt):
        write_evaluation_report(evaluate_model(tiny_model, data, threshold=0.01), folder)
    assert (folder / "report.html").read_text(encoding="utf-8") == old_page
    assert all((folder / name).exists() for name in old_images)
    assert not list(folder.glob(".*.part"))

    monkeypatch.undo()
    write_evaluation_report(evaluate_model(tiny_model, data, threshold=0.01), folder)
    page, images = _images(folder)
    assert page != old_page
    icon = re.findall(r'<link rel="icon" href="([^"]+)">', page)
    assert sorted(p.name for p in folder.glob("*.png")) == sorted(images + icon)  # stale plots removed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "19990101T000000Z"], "Error: model version '19990101T000000Z' does not exist in "),
        (
            ["--data", "missing.csv"],
            "Error: missing.csv: no such file or folder; run from the repository root or pass --data PATH",
        ),
        (
            ["--data", "nolabel.csv"],
            "Error: nolabel.csv: no column 'label'; the columns are: text, lang; "
            "evaluation needs labelled rows (text,label[,lang,category])",
        ),
        (["--data", "badlabel.csv"], "Error: badlabel.csv:3: label 'maybe' is not 1/0, yes/no"),
        (
            ["--data", "later.jsonl"],  # only the second line lacks the label: was a KeyError
            "Error: later.jsonl:2: no field 'label'; the row has: text; evaluation needs labelled rows",
        ),
    ],
)
def test_evaluate_bad_input_is_one_line_error(tiny_model, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    _labelled_csv(tmp_path / "good.csv")
    (tmp_path / "nolabel.csv").write_text("text,lang\nhello,en\n", encoding="utf-8")
    (tmp_path / "badlabel.csv").write_text("text,label\nhello,0\nhi,maybe\n", encoding="utf-8")
    (tmp_path / "later.jsonl").write_text('{"text": "hello", "label": 0}\n{"text": "hi"}\n', encoding="utf-8")
    base = ["evaluate", "--models-dir", str(tiny_model.path.parent), "--report", str(tmp_path / "rep")]
    if "--data" not in args:
        base += ["--data", "good.csv"]
    result = CliRunner().invoke(cli, [*base, *args])
    assert result.exit_code in (1, 2)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), lines
    assert "Traceback" not in result.output
    assert not (tmp_path / "rep").exists()


# --- score --report ------------------------------------------------------------------


def _messages(tmp_path):
    lines = [t for _, t in POSITIVES] + [t for *_, t in NEGATIVES] + HOSTILE
    path = tmp_path / "m.txt"
    path.write_text("\n".join(lines * 30) + "\n\n", encoding="utf-8")
    return path


def test_batch_report_matches_the_output_and_stays_bounded(tiny_model, tmp_path):
    path = _messages(tmp_path)
    other = tmp_path / "n.txt"
    other.write_text("Купи хліба\nMom, I'm alive\n", encoding="utf-8")
    collector = BatchReport(
        threshold=tiny_model.threshold, model_version=tiny_model.version, top_n=7, max_text=40
    )
    out = tmp_path / "out.jsonl"
    summary = score_files(
        [str(path), str(other)],
        str(out),
        tiny_model,
        jobs=1,
        chunk_size=100,
        only_flagged=True,
        collector=collector,
    )
    scored = pd.DataFrame([dict(r, n=i) for i, r in enumerate(_score_rows(tiny_model, path, other))])
    ok = scored[scored["error"] == ""]
    assert collector.rows == summary.rows == len(scored)
    assert collector.histogram.sum() == summary.scored == len(ok)
    assert np.array_equal(collector.histogram, np.histogram(ok["score"], bins=collector.edges)[0])
    for source, part in scored.groupby("source"):
        errors = int((part["error"] != "").sum())
        flagged_n = int((part["flagged"] == True).sum())  # noqa: E712
        assert collector.by_source[source] == [len(part), len(part) - errors, flagged_n, errors]
    for lang, part in ok.groupby("lang"):
        assert collector.by_lang[lang] == [len(part), int(part["flagged"].sum())]
    top = collector.top()
    flagged = ok[ok["flagged"] == True].sort_values(["score", "n"], ascending=[False, True])  # noqa: E712
    assert len(collector._top) == 7
    assert [(t["source"], t["row"]) for t in top] == list(
        zip(flagged["source"], flagged["row"], strict=True)
    )[:7]
    assert all(len(t["text"]) <= 41 for t in top) and any(t["text"].endswith("…") for t in top)


def _score_rows(model, *paths):
    from classifier.scoring import score_file

    for p in paths:
        for frame in score_file(p, model):
            yield from frame.to_dict("records")


def test_batch_report_keeps_the_highest_scores_across_chunks():
    collector = BatchReport(threshold=0.5, model_version="v", top_n=3)
    rng = np.random.default_rng(0)
    all_scores = []
    from classifier.readers import Record

    for chunk in range(50):
        scores = rng.random(200)
        all_scores.extend(scores)
        frame = pd.DataFrame(
            {
                "source": "s",
                "row": np.arange(200) + 200 * chunk + 1,
                "lang": "uk",
                "score": scores,
                "flagged": scores >= 0.5,
                "reasons": "",
                "truncated": False,
                "error": "",
            }
        )
        records = [Record(source=None, row=int(r), text="x" * 1000) for r in frame["row"]]
        collector.add("s", records, frame)
        assert len(collector._top) <= 3
    assert [t["score"] for t in collector.top()] == sorted(all_scores, reverse=True)[:3]
    assert collector.histogram.sum() == 10_000 and len(collector.histogram) == report_page.HIST_BINS


def test_score_cli_report_escapes_messages(tiny_model, tmp_path):
    path = tmp_path / "m.txt"
    forged = "<@batch_scores@> виходьте на Майдан"  # the report's own image placeholder
    lines = [*HOSTILE, forged] + [t for *_, t in NEGATIVES]
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    folder = tmp_path / "rep"
    result = CliRunner().invoke(
        cli,
        ["score", str(path), *model_opts(tiny_model), "-o", str(tmp_path / "o.csv"),
         "--threshold", "0", "--report", str(folder)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr.strip().splitlines()[-1] == f"report: {folder / 'report.html'}"
    page, images = _images(folder)
    assert len(images) == 2 and all(_png_size(folder / n)[0] > 300 for n in images)
    assert "<script" not in page and "<img src=x" not in page and 'onerror="' not in page
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;window.pwned=2&quot;&gt;" in page
    assert "&lt;@batch_scores@&gt; виходьте" in page and "<@" not in page
    tables = _tables(page)
    per_input = next(t for t in tables if t[0][0] == "input")
    n = len(lines)
    assert per_input[1] == [str(path), f"{n + 1}", f"{n}", f"{n}", "1.000", "1"]
    per_lang = next(t for t in tables if t[0][0] == "language")
    assert [r[0] for r in per_lang[1:]] == ["en", "ru", "uk"]
    top = next(t for t in tables if t[0][0] == "score")
    assert len(top) == 1 + n and HOSTILE[0] in [r[-1] for r in top]


def test_score_report_is_not_written_for_a_failed_run(tiny_model, tmp_path):
    folder = tmp_path / "rep"
    result = CliRunner().invoke(
        cli,
        ["score", str(tmp_path / "missing.txt"), *model_opts(tiny_model), "--report", str(folder)],
    )
    assert result.exit_code == 2 and not folder.exists()


def test_report_refuses_a_file_as_folder(tiny_model, tmp_path):
    (tmp_path / "f").write_text("x")
    data = _labelled_csv(tmp_path / "eval.csv")
    result = CliRunner().invoke(
        cli,
        ["evaluate", *model_opts(tiny_model), "--data", str(data), "--report", str(tmp_path / "f")],
    )
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines()[-1].startswith("Error: ")


def test_score_texts_agree_with_report_top(tiny_model, tmp_path):
    """The scores the report shows are the scores score_texts gives."""
    collector = BatchReport(threshold=0.0, model_version=tiny_model.version, top_n=5)
    path = tmp_path / "m.txt"
    texts = [t for _, t in POSITIVES]
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    score_files([str(path)], str(tmp_path / "o.csv"), tiny_model, jobs=1, collector=collector)
    api = dict(zip(texts, score_texts(texts, tiny_model)["score"], strict=True))
    for t in collector.top():
        assert t["score"] == api[t["text"]]


BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


def test_esc_shows_bidi_controls_as_visible_escapes():
    shown = report_page.esc("invoice \u202egpj.exe\u202c & " + BIDI)
    assert not set(shown) & set(BIDI)
    assert shown.startswith("invoice ⟨U+202E⟩gpj.exe⟨U+202C⟩ &amp; ⟨U+202A⟩⟨U+202B⟩")
    assert "⟨U+061C⟩" in shown and "⟨U+200F⟩" in shown


def test_score_report_neutralises_right_to_left_overrides(tiny_model, tmp_path):
    path = tmp_path / "m.txt"
    spoofed = "Мамо виходьте на Майдан \u202eнімбо йте агамив\u202c нас покинули \u2067x\u2069"
    path.write_text("\n".join([spoofed, *(t for _, t in POSITIVES)]) + "\n", encoding="utf-8")
    folder = tmp_path / "rep"
    result = CliRunner().invoke(
        cli,
        ["score", str(path), "--models-dir", str(tiny_model.path.parent), "--model", str(tiny_model.version),
         "-o", str(tmp_path / "o.csv"), "--threshold", "0", "--report", str(folder)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert not set(page) & set(BIDI)
    assert "Майдан ⟨U+202E⟩німбо йте агамив⟨U+202C⟩ нас" in page and "⟨U+2067⟩x⟨U+2069⟩" in page


def test_table_cells_are_right_aligned_only_when_they_hold_numbers():
    from classifier.report_page import table_html

    html = table_html(["campaign", "size", "first seen", "score", "text"],
                      [["c0001", 60, "2024-02-06 01:16:00", 0.99, "Мамо, виходьте"], ["c0002", 3, None, float("nan"), "x"]])  # fmt: skip
    assert '<td class="num">60</td>' in html and '<td class="num">0.990</td>' in html
    assert (
        "<td>c0001</td>" in html
        and "<td>2024-02-06 01:16:00</td>" in html
        and "<td>Мамо, виходьте</td>" in html
    )
    assert html.count('<td class="num">-</td>') == 2  # missing numbers stay in the number column
