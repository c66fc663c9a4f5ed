"""The Dask engine: the local engine's rows, scores and order, on a real LocalCluster.

One LocalCluster (2 worker processes, 1 thread each) serves the whole module: starting
one costs seconds. The killed-worker test kills one of them and runs last.
"""

import codecs
import glob
import gzip
import hashlib
import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin

from classifier import distributed as dist
from classifier.cli import cli
from classifier.errors import InputError, ModelIntegrityError
from classifier.readers import MAX_CHARS, read_part
from classifier.registry import LoadedModel
from classifier.scoring import score_files

from .conftest import NEGATIVES, POSITIVES

TEXTS = [t for _, t in POSITIVES] + [t for *_, t in NEGATIVES]


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _lines(n, start=0):
    return [f"{TEXTS[i % len(TEXTS)]} {i}" for i in range(start, start + n)]


def _corpus(folder: Path) -> list[str]:
    """Files of every kind, with error rows; the big ones are split into several partitions."""
    folder.mkdir()
    lines = _lines(400)
    lines[3], lines[10] = "", "   "  # empty text
    lines[50] = "x" * (MAX_CHARS + 10)  # truncated
    big = "\n".join(lines).encode("utf-8") + b"\nbad \xff\xfe bytes\nno final newline"
    (folder / "big.txt").write_bytes(big)
    (folder / "cyr.txt").write_bytes(("\r\n".join(_lines(300, 7)) + "\r\nlone\rcarriage\r").encode("cp1251"))
    rows = [json.dumps({"text": t}, ensure_ascii=False) for t in _lines(300, 3)]
    rows[5], rows[120], rows[200] = "{broken", json.dumps({"other": 1}), json.dumps({"text": 5})
    (folder / "msgs.jsonl").write_text("\n".join(rows) + "\n\n", encoding="utf-8")
    csv_text = 'text,n\n"a quoted\nmessage over two lines",1\n' + "".join(
        f'"{t}",{i}\n' for i, t in enumerate(TEXTS)
    )
    (folder / "table.csv").write_text(csv_text, encoding="utf-8")
    (folder / "small.txt.gz").write_bytes(gzip.compress("\n".join(_lines(40, 11)).encode("utf-8")))
    noise = [hashlib.sha256(str(i).encode()).hexdigest() * 4 for i in range(90)]  # big row groups
    frame = pd.DataFrame({"text": [*(f"{t} {n}" for t, n in zip(_lines(90, 5), noise, strict=True)), None]})
    frame.to_parquet(folder / "rows.parquet", row_group_size=25)
    return [str(folder / "big.txt"), str(folder / "cyr.txt"), str(folder / "msgs.jsonl"),
            str(folder / "table.csv"), str(folder / "small.txt.gz"), str(folder / "rows.parquet")]  # fmt: skip


def _local(paths, model, out: Path) -> pd.DataFrame:
    score_files(paths, str(out), model, jobs=1)
    return pd.read_parquet(out)


def _parts(outdir: Path) -> pd.DataFrame:
    files = sorted(glob.glob(str(outdir / "part-*.parquet")))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def _no_leftovers(outdir: Path):
    return not [p for p in outdir.parent.iterdir() if p.name.startswith(f".{outdir.name}.")]


# --- partitions, without a cluster ------------------------------------------------------------


def _split_records(path, options, block_size):
    """The records of every partition, in order, as the Dask graph computes them."""
    out = []
    for part in dist.plan_partitions([path], options, block_size):
        if part.block is None:
            out += list(
                read_part(options.open(part.path), first_row=part.first_row, row_groups=part.row_groups)
            )
            continue
        if part.block_no == 0:
            blocks = [p for p in dist.plan_partitions([path], options, block_size) if p.block is not None]
            layout = dist._first_rows(*(dist.count_block(p.path, p.block) for p in blocks))
        begin, end, first = layout[part.block_no]
        out += list(
            read_part(
                options.open(part.path), first_row=first, byte_range=(begin, end), encoding=part.encoding
            )
        )
    return [(r.row, r.text, r.error, r.truncated) for r in out]


@pytest.mark.parametrize("block_size", [1, 5, 64, 1000])
def test_byte_ranges_give_the_whole_files_records_and_row_numbers(tmp_path, block_size):
    long = "ж" * (MAX_CHARS - 1)  # a "\r" lands on the reader's cap: it must stay with its "\n"
    cases = {
        "mixed.txt": "a\nb\r\nc\rd\n\n\r\r\n é \udcff\nlast".encode("utf-8", "surrogateescape"),
        "bom.txt": codecs.BOM_UTF8 + "перший\nдругий\n\ufeffтретій\n".encode(),
        "koi.txt": "привет\r\nмама\rпапа\n".encode("koi8-r"),
        "cap.txt": (long + "\r\n" + "next\r\n" + long + "x\r\nend").encode("utf-8"),
        "m.jsonl": b'{"text": "a"}\r\n{"other": 1}\n{bad\r\n\n{"text": "\xd0\xb6"}',
    }
    for name, data in cases.items():
        if name == "cap.txt" and block_size < 1000:
            continue  # every block inside a 200 KB line scans to its end: slow, and nothing new
        path = tmp_path / name
        path.write_bytes(data)
        options = dist.ReadOptions(encoding="koi8-r" if name == "koi.txt" else None)
        whole = [(r.row, r.text, r.error, r.truncated) for r in options.open(str(path)).records()]
        assert _split_records(str(path), options, block_size) == whole, name


def test_plan_splits_only_what_can_be_split(tmp_path):
    paths = _corpus(tmp_path / "in")
    parts = dist.plan_partitions(paths, dist.ReadOptions(), block_size=8192)
    by_source = {p: [q for q in parts if q.source == p] for p in paths}
    assert len(by_source[paths[0]]) > 3 and len(by_source[paths[2]]) > 1  # txt, jsonl: byte ranges
    assert by_source[paths[1]][0].encoding == "cp1251"
    assert [len(by_source[p]) for p in paths[3:5]] == [1, 1]  # csv, gzip: whole
    assert [(q.first_row, q.row_groups) for q in by_source[paths[5]]] == [
        (1, (0,)),
        (26, (1,)),
        (51, (2,)),
        (76, (3,)),
    ]
    assert [p.index for p in parts] == list(range(len(parts)))
    (tmp_path / "u16.txt").write_bytes("рядок\n".encode("utf-16") * 5000)
    assert len(dist.plan_partitions([str(tmp_path / "u16.txt")], dist.ReadOptions(), 8192)) == 1


def test_a_worker_refuses_a_scorer_that_does_not_match_the_card(tiny_model):
    blob = dist.model_blob(tiny_model)
    assert blob.sha256 == tiny_model.card["scorer_sha256"]
    with pytest.raises(ModelIntegrityError, match="does not match its model card"):
        dist.worker_scorer(dist.ModelBlob(blob.version, blob.sha256, blob.npz + b"x"))
    assert (
        dist.worker_scorer(blob).predict_proba(TEXTS[:3]).tolist()
        == tiny_model.predict_proba(TEXTS[:3]).tolist()
    )


# --- on the cluster ---------------------------------------------------------------------------


def test_dask_engine_equals_local_engine(client, tiny_model, tmp_path):
    paths = _corpus(tmp_path / "in")
    paths.append(paths[0])  # the same file twice: twice its rows, as the local engine gives
    expected = _local(paths, tiny_model, tmp_path / "local.parquet")
    outdir = tmp_path / "out"
    summary = dist.score_distributed(paths, outdir, tiny_model, client=client, block_size=8192)
    assert summary.partitions > 10
    got = _parts(outdir)
    pd.testing.assert_frame_equal(got, expected)
    assert (got["error"] != "").sum() >= 8 and got["truncated"].any()
    assert got.loc[got["source"] == paths[1], "row"].tolist() == list(range(1, 303))
    saved = json.loads((outdir / dist.SUMMARY_FILE).read_text(encoding="utf-8"))
    assert (saved["rows"], saved["errors"], saved["model"]) == (
        len(expected),
        summary.errors,
        tiny_model.version,
    )
    assert saved["sources"][paths[1]]["encoding"] == "cp1251"
    assert {s: v["rows"] for s, v in saved["sources"].items()} == expected.groupby("source").size().to_dict()
    assert pd.read_parquet(outdir).shape == expected.shape  # _summary.json does not disturb readers
    # the model went to each worker once, and was checked and loaded there once
    loads = client.run(lambda: dict(dist.LOADS))
    assert [n.get(tiny_model.card["scorer_sha256"]) for n in loads.values()] == [1, 1]
    assert _no_leftovers(outdir)


def test_dask_engine_report_equals_local_report(client, tiny_model, tmp_path):
    from classifier.batch_report import BatchReport

    paths = _corpus(tmp_path / "in")
    reports = [BatchReport(threshold=0.3, model_version=tiny_model.version, top_n=7) for _ in range(2)]
    score_files(
        paths, str(tmp_path / "l.parquet"), tiny_model, threshold=0.3, chunk_size=37, collector=reports[0]
    )
    dist.score_distributed(
        paths,
        tmp_path / "out",
        tiny_model,
        client=client,
        threshold=0.3,
        block_size=8192,
        collector=reports[1],
    )
    local, remote = reports
    assert local.rows == remote.rows > 1000
    np.testing.assert_array_equal(local.histogram, remote.histogram)
    assert (local.by_source, local.by_lang, local.truncated) == (
        remote.by_source,
        remote.by_lang,
        remote.truncated,
    )
    assert len(local.top()) == 7 and local.top() == remote.top()


def test_failed_run_leaves_the_old_output_whole(client, tiny_model, tmp_path):
    paths = _corpus(tmp_path / "in")
    outdir = tmp_path / "out"
    outdir.mkdir()  # an earlier run's output (--overwrite replaces nothing else)
    (outdir / "part-00000.csv").write_text("old\n")
    (outdir / "_summary.json").write_text("{}")
    tampered = LoadedModel(
        tiny_model.version, tiny_model.path, {**tiny_model.card, "scorer_sha256": "0" * 64}
    )
    with pytest.raises(ModelIntegrityError, match="does not match its model card"):
        dist.score_distributed(paths, outdir, tampered, client=client, overwrite=True, block_size=8192)
    (tmp_path / "cut.txt.gz").write_bytes(gzip.compress("\n".join(_lines(5000)).encode())[:-100])
    with pytest.raises(InputError, match="cannot read"):
        dist.score_distributed(
            [str(tmp_path / "cut.txt.gz")], outdir, tiny_model, client=client, overwrite=True
        )
    assert sorted(p.name for p in outdir.iterdir()) == ["_summary.json", "part-00000.csv"]
    assert (outdir / "part-00000.csv").read_text() == "old\n" and _no_leftovers(outdir)
    dist.score_distributed(paths[3:4], outdir, tiny_model, client=client, out_format="csv", overwrite=True)
    assert sorted(p.name for p in outdir.iterdir()) == ["_summary.json", "part-00000.csv"]


def _cli(*args, **kwargs):
    return CliRunner().invoke(cli, ["score", *map(str, args)], **kwargs)


def test_cli_dask_engine_writes_the_local_engines_rows(client, tiny_model, tmp_path):
    paths = _corpus(tmp_path / "in")[:3]
    model = ["--models-dir", tiny_model.path.parent, "--model", tiny_model.version]
    local = _cli(*paths, "-o", tmp_path / "local.csv", *model, "--jobs", 1)
    assert local.exit_code == 0, local.output
    outdir = tmp_path / "out"
    args = [*paths, "--engine", "dask", "--scheduler", client.scheduler.address, "--format", "csv", *model]
    result = _cli(*args, "-o", outdir)
    assert result.exit_code == 0, result.output
    assert "partitions on 2 Dask workers" in result.stderr and "input encoding cp1251" in result.stderr
    parts = sorted(outdir.glob("part-*.csv"))
    text = "".join(p.read_text(encoding="utf-8").split("\n", 1)[1] for p in parts)
    assert parts[0].read_text(encoding="utf-8").split("\n", 1)[0] + "\n" + text == (
        tmp_path / "local.csv"
    ).read_text(encoding="utf-8")
    again = _cli(*args, "-o", outdir)
    assert again.exit_code == 2 and again.stderr.startswith("Error: ") and "--overwrite" in again.stderr
    assert _cli(*args, "-o", outdir, "--overwrite").exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "dask"], "pass -o OUTDIR"),
        (["--engine", "dask", "-o", "-"], "pass -o OUTDIR"),
        (["-", "--engine", "dask", "-o", "{tmp}/out"], "cannot read standard input"),
        (["--scheduler", "tcp://127.0.0.1:1", "-o", "{tmp}/o.csv"], "need --engine dask"),
        (["--engine", "dask", "-o", "{file}"], "is a file"),
        (["--engine", "dask", "-o", "{tmp}/.", "--overwrite"], "is inside the output folder"),
    ],
)
def test_cli_refuses_before_any_work(tmp_path, args, message):
    sample = tmp_path / "m.txt"
    sample.write_text("мамо\n", encoding="utf-8")
    args = [a.format(tmp=tmp_path, file=sample) for a in args]
    result = _cli(sample, *args, "--models-dir", tmp_path / "no-models")
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and message in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "no-models").exists()  # refused before the model was trained


def test_overwrite_never_removes_a_folder_that_is_not_an_earlier_output(tmp_path):
    victim = tmp_path / "datasets"
    (victim / "labelled").mkdir(parents=True)
    (victim / "labelled" / "store.csv").write_text("text,label\nмамо,0\n", encoding="utf-8")
    sample = tmp_path / "m.txt"
    sample.write_text("мамо\n", encoding="utf-8")
    result = _cli(sample, "--engine", "dask", "-o", victim, "--overwrite", "--models-dir", tmp_path / "none")
    assert result.exit_code == 2, result.output
    assert "not the output of an earlier" in result.stderr
    assert (victim / "labelled" / "store.csv").read_text(encoding="utf-8") == "text,label\nмамо,0\n"


def test_dask_refuses_a_fifo_before_reading_it(tmp_path):
    fifo = tmp_path / "feed.txt"
    os.mkfifo(fifo)  # a worker would wait on it forever: nothing writes to it there
    with pytest.raises(InputError, match=r"feed\.txt: --engine dask cannot read a pipe or FIFO"):
        dist.check_request("dask", [str(fifo)], str(tmp_path / "out"))


def test_cli_without_dask_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    (tmp_path / "m.txt").write_text("мамо\n", encoding="utf-8")
    result = _cli(tmp_path / "m.txt", "--engine", "dask", "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert (
        result.stderr
        == "Error: --engine dask needs Dask, which is not installed: pip install '.[dask]' (or 'coercion-classifier[dask]')\n"
    )


def test_cli_bad_scheduler_is_one_line(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setattr(dist, "CONNECT_TIMEOUT", 1)
    (tmp_path / "m.txt").write_text("мамо\n", encoding="utf-8")
    model = ["--models-dir", tiny_model.path.parent, "--model", tiny_model.version]
    for address in ("tcp://127.0.0.1:9", "not an address:::"):
        result = _cli(
            tmp_path / "m.txt", "--engine", "dask", "--scheduler", address, "-o", tmp_path / "out", *model
        )
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith(f"Error: cannot reach the Dask scheduler at {address} (")
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert not (tmp_path / "out").exists() and _no_leftovers(tmp_path / "out")


def test_by_file_folders_and_only_flagged_as_the_local_engine(client, tiny_model, tmp_path):
    for folder, texts in (("calls", TEXTS[:12]), ("more", ["", *TEXTS[12:20]])):
        (tmp_path / folder).mkdir()
        for i, text in enumerate(texts):
            (tmp_path / folder / f"{i:02d}.txt").write_text(text, encoding="utf-8")
    inputs = [str(tmp_path / "calls"), str(tmp_path / "more") + "/"]
    options = dict(by_file=True, only_flagged=True)
    local = score_files(inputs, str(tmp_path / "local.jsonl"), tiny_model, jobs=1, **options)
    summary = dist.score_distributed(
        inputs, tmp_path / "out", tiny_model, client=client, out_format="jsonl", **options
    )
    assert (summary.rows, summary.flagged, summary.written) == (local.rows, local.flagged, local.written)
    assert summary.written < summary.rows  # something was left out
    parts = sorted((tmp_path / "out").glob("part-*.jsonl"))
    assert len(parts) == 2
    assert "".join(p.read_text(encoding="utf-8") for p in parts) == (tmp_path / "local.jsonl").read_text(
        encoding="utf-8"
    )


def test_a_dead_workers_temporary_part_is_not_published(client, tiny_model, tmp_path, monkeypatch):
    path = tmp_path / "m.txt"
    path.write_text("\n".join(_lines(300)) + "\n", encoding="utf-8")
    outdir = tmp_path / "out"
    real = dist._write_summary

    def after_a_kill(target, *args, **kwargs):
        # what a worker killed while writing part 0 leaves behind (Dask then ran the part again)
        (Path(target).parent / ".part-00000.parquet.k1ll3d.part").write_bytes(b"PAR1 half")
        return real(target, *args, **kwargs)

    monkeypatch.setattr(dist, "_write_summary", after_a_kill)
    summary = dist.score_distributed([str(path)], outdir, tiny_model, client=client, block_size=4096)
    assert summary.partitions > 1
    names = sorted(p.name for p in outdir.iterdir())
    assert names == ["_summary.json", *(dist.part_name(i, summary.partitions, "parquet")
                                          for i in range(summary.partitions))]  # fmt: skip
    assert _parts(outdir)["row"].tolist() == list(range(1, 301))


# --- a worker dies mid-run (kills a worker of the module's cluster: keep it last) -----------


class _SlowPartitions(WorkerPlugin):
    """Makes every partition take 0.25 s longer, so that a kill lands while tasks run."""

    name = "slow-partitions"

    def setup(self, worker):
        original = dist._visible
        self.original = original

        def slow(path):
            time.sleep(0.125)  # called twice per partition
            original(path)

        dist._visible = slow

    def teardown(self, worker):
        dist._visible = self.original


def _run_twice(dask_scheduler):
    """Scoring tasks that the scheduler sent to a worker more than once."""
    sent = Counter(
        str(t.key)
        for t in dask_scheduler.transition_log
        if t.finish == "processing" and str(t.key).startswith("score-")
    )
    return sorted(key for key, n in sent.items() if n > 1)


def test_a_killed_worker_costs_no_row(client, tiny_model, tmp_path):
    (tmp_path / "in").mkdir()
    path = tmp_path / "in" / "m.txt"
    path.write_text("\n".join(_lines(3000)) + "\n", encoding="utf-8")
    expected = _local([str(path)], tiny_model, tmp_path / "local.parquet")
    outdir = tmp_path / "out"
    pids = client.run(os.getpid)
    killed = {}

    def kill_when_running():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done = glob.glob(str(tmp_path / ".out.tmp-*" / "part-*.parquet"))
            if len(done) >= 4:
                killed["after"] = len(done)
                os.kill(next(iter(pids.values())), signal.SIGKILL)
                return
            time.sleep(0.02)

    client.register_plugin(_SlowPartitions())
    try:
        killer = threading.Thread(target=kill_when_running)
        killer.start()
        summary = dist.score_distributed([str(path)], outdir, tiny_model, client=client, block_size=8192)
        killer.join()
    finally:
        client.unregister_worker_plugin(_SlowPartitions.name)
    assert 4 <= killed["after"] < summary.partitions  # the kill came mid-run
    assert client.run_on_scheduler(_run_twice)  # Dask ran the dead worker's partition again
    got = _parts(outdir)
    assert got["row"].tolist() == list(range(1, 3001))  # every row, once, in order
    pd.testing.assert_frame_equal(got, expected)


@pytest.mark.parametrize(("out_format", "only_flagged"), [("parquet", False), ("csv", True)])
def test_dask_campaign_ids_equal_the_local_engine(client, tiny_model, tmp_path, out_format, only_flagged):
    """Copies spread over several partitions of one file get the local engine's ids."""
    from classifier.campaigns import CampaignGrouper

    src = tmp_path / "m.txt"
    src.write_text("\n".join(_lines(600)) + "\n", encoding="utf-8")  # each text ~20 times, numbered
    local = tmp_path / f"local.{out_format}"
    score_files([str(src)], str(local), tiny_model, threshold=0.3, chunk_size=50, only_flagged=only_flagged,
                campaigns=CampaignGrouper())  # fmt: skip
    grouper = CampaignGrouper()
    summary = dist.score_distributed([str(src)], tmp_path / "out", tiny_model, client=client, threshold=0.3,
                                     block_size=8192, out_format=out_format, only_flagged=only_flagged,
                                     campaigns=grouper)  # fmt: skip
    assert summary.partitions >= 3
    read = pd.read_parquet if out_format == "parquet" else (lambda p: pd.read_csv(p, keep_default_na=False))
    want = read(local)
    got = pd.concat([read(p) for p in sorted(glob.glob(str(tmp_path / "out" / f"part-*.{out_format}")))])
    assert list(got.columns) == list(want.columns) and list(got.columns).index("campaign") == 8
    assert got["campaign"].tolist() == want["campaign"].tolist()
    assert got["campaign"].nunique() > 5 and (got["campaign"] != "").sum() > 100
    assert grouper.result.table["size"].max() >= 15  # a text and its numbered copies, across partitions
