"""``crms fp extract|score|eval``: the exact output formats of issue 14."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from crms.cli.main import app

from .fpdata import SHARED_FP, encode, fvc, matcher_or_skip, synthetic_print

runner = CliRunner()


@pytest.fixture(scope="module")
def prints(tmp_path_factory):
    d = tmp_path_factory.mktemp("prints")
    (d / "a_1.png").write_bytes(encode(synthetic_print(300, 360, seed=1), "PNG", dpi=500))
    (d / "b_1.png").write_bytes(encode(synthetic_print(600, 720, period=18, seed=2), "PNG", dpi=1000))
    return d


@pytest.fixture(scope="module")
def extracted(prints, tmp_path_factory):
    pytest.importorskip("onnxruntime", reason="the fingerprint extra is not installed")
    out = tmp_path_factory.mktemp("tpl")
    res = runner.invoke(app, ["fp", "extract", str(prints), str(out), "--iso"])
    return res, out


def test_extract_prints_one_json_line_per_image(extracted, prints):
    res, out = extracted
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 2
    rows = [json.loads(x) for x in lines]
    for row, name in zip(rows, ["a_1.png", "b_1.png"], strict=True):
        assert list(row)[:6] == ["file", "ms", "minutiae", "quality", "dpi", "dpi_source"]
        assert row["file"] == str(prints / name)
        assert isinstance(row["minutiae"], int) and 0 <= row["quality"] <= 100 and row["ms"] > 0
    from crms.fingerprint.serialise import load_template

    a, b = load_template(out / "a_1.tpl"), load_template(out / "b_1.tpl")
    assert (a.width, a.height) == (300, 360)
    assert (b.width, b.height) == (300, 360)  # 1000 ppi halved to 500
    assert load_template(out / "a_1.iso").count == a.count
    assert "resolution 1000 ppi (file)" in res.stderr
    assert [(r["dpi"], r["dpi_source"]) for r in rows] == [(500, "file"), (1000, "file")]
    assert all("consistent with the ridges" in r["dpi_reason"] for r in rows)


def test_extract_dpi_auto_reports_estimate(prints, tmp_path):
    pytest.importorskip("onnxruntime", reason="the fingerprint extra is not installed")
    res = runner.invoke(app, ["fp", "extract", str(prints / "b_1.png"), str(tmp_path), "--dpi", "auto"])
    assert res.exit_code == 0, res.output
    assert "(estimated)" in res.stderr
    assert len(res.stdout.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [(["--dpi", "zero"], "dpi"), (["--dpi", "20"], "between")])
def test_extract_rejects_bad_dpi(prints, tmp_path, args, message):
    res = runner.invoke(app, ["fp", "extract", str(prints), str(tmp_path), *args])
    assert res.exit_code == 2 and message in res.stderr and res.stdout == ""


def test_extract_reports_bad_images(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.png").write_text("not an image")
    res = runner.invoke(app, ["fp", "extract", str(tmp_path / "in" / "x.png"), str(tmp_path / "out")])
    assert res.exit_code == 1 and "unrecognised" in res.stderr and res.stdout == ""
    res = runner.invoke(app, ["fp", "extract", str(tmp_path / "nothing"), str(tmp_path / "out")])
    assert res.exit_code == 2 and "no such file" in res.stderr


def test_score_prints_pairs_in_input_order(tmp_path):
    matcher_or_skip()
    pytest.importorskip("onnxruntime", reason="the fingerprint extra is not installed")
    i11, i12, i21 = (fvc("fvc2002", "DB1_B", n) for n in ("101_1.png", "101_2.png", "102_1.png"))
    res = runner.invoke(app, ["fp", "extract", str(i11), str(tmp_path)])
    assert res.exit_code == 0, res.output
    t11 = tmp_path / "101_1.tpl"
    tsv = tmp_path / "pairs.tsv"
    rows = [(i11, i12), (i12, i11), (i11, i21), (t11, i12)]
    tsv.write_text("".join(f"{a}\t{b}\n" for a, b in rows))
    res = runner.invoke(app, ["fp", "score", str(tsv)])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert [tuple(x.split("\t")[:2]) for x in lines] == [(str(a), str(b)) for a, b in rows]
    scores = [float(x.split("\t")[2]) for x in lines]
    assert scores[0] > scores[2]  # same finger beats a different finger
    assert abs(scores[3] - scores[0]) < 1.0  # a stored template scores as its image does


def test_score_rejects_malformed_lines(tmp_path):
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("only-one-column\n")
    res = runner.invoke(app, ["fp", "score", str(tsv)])
    assert res.exit_code == 2 and "line 1" in res.stderr and res.stdout == ""
    tsv.write_text(f"{tmp_path / 'missing.tpl'}\t{tmp_path / 'missing.tpl'}\n")
    res = runner.invoke(app, ["fp", "score", str(tsv)])
    assert res.exit_code == 2 and "no such file" in res.stderr


def test_eval_json_is_exactly_one_object(tmp_path):
    matcher_or_skip()
    fvc("fvc2002", "DB1_B", "101_1.png")
    d = tmp_path / "set"
    d.mkdir()
    for f in ("101", "102"):
        for i in (1, 2, 3):
            shutil.copy(SHARED_FP / "fvc2002" / "DB1_B" / f"{f}_{i}.png", d)
    res = runner.invoke(app, ["fp", "eval", str(d), "--json"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert list(obj) == [
        "images",
        "genuine",
        "impostor",
        "eer_percent",  # the rates are percentages, as their names say
        "fmr100_percent",
        "fmr1000_percent",
        "zerofmr_percent",
        "extract_ms",
        "compare_us",
        "resolution",
    ]
    assert obj["resolution"] == {"file": {"images": 6, "min_dpi": 500.0, "max_dpi": 500.0}}
    assert (obj["images"], obj["genuine"], obj["impostor"]) == (6, 6, 9)
    assert 0 <= obj["eer_percent"] <= 100 and obj["extract_ms"] > 0 and obj["compare_us"] > 0
    res = runner.invoke(app, ["fp", "eval", str(d)])
    assert res.exit_code == 0 and "EER" in res.stdout and "6 genuine and 9 impostor" in res.stdout


def test_eval_rejects_badly_named_sets(tmp_path):
    (tmp_path / "x.png").write_bytes(encode(synthetic_print(100, 100), "PNG"))
    (tmp_path / "y.png").write_bytes(encode(synthetic_print(100, 100), "PNG"))
    res = runner.invoke(app, ["fp", "eval", str(tmp_path), "--json"])
    assert res.exit_code == 2 and "FINGER_IMPRESSION" in res.stderr and res.stdout == ""


def test_extract_trace_writes_each_step_as_png_and_json(tmp_path):
    """``--trace DIR``: per image a folder with the input, mask, quality map and minutiae overlays as
    PNG and a trace.json naming each step with its parameters, the resolution used, and the minutiae;
    the template written is the one extracted without a trace."""
    pytest.importorskip("torch")
    src = fvc("fvc2002", "DB1_B", "101_1.png")
    out, tr = tmp_path / "tpl", tmp_path / "trace"
    res = runner.invoke(app, ["fp", "extract", str(src), str(out), "--trace", str(tr)])
    assert res.exit_code == 0, res.output
    doc = json.loads((tr / "101_1" / "trace.json").read_text())
    steps = [s["step"] for s in doc["steps"]]
    assert steps == ["image", "segment", "quality", "minutiae", "template"]
    first = doc["steps"][0]
    assert (first["dpi"], first["dpi_source"], first["config"]) == (500, "file", "leader")
    size = tuple(first["size"])
    by = {s["step"]: s for s in doc["steps"]}
    assert by["segment"]["params"]["threshold"] == 0.2
    assert by["minutiae"]["params"]["minutia_quality_threshold"] == 0.6
    assert by["template"]["params"] == {"border_px": 6, "max_minutiae": 150}
    assert 0 <= by["quality"]["quality"]["score"] <= 100 and by["quality"]["params"]["block"] == 16
    row = json.loads(res.stdout)
    assert len(by["template"]["minutiae"]) == row["minutiae"] > 0
    assert len(by["minutiae"]["raw_minutiae"]) >= row["minutiae"]
    assert set(by["template"]["minutiae"][0]) == {"x", "y", "direction_deg", "type", "quality"}
    from PIL import Image

    for s in doc["steps"]:
        assert s["files"], s["step"]
        for f in s["files"]:
            with Image.open(tr / "101_1" / f) as im:
                assert im.format == "PNG" and im.size == size
    plain = tmp_path / "plain"
    assert runner.invoke(app, ["fp", "extract", str(src), str(plain)]).exit_code == 0
    assert (plain / "101_1.tpl").read_bytes() == (out / "101_1.tpl").read_bytes()


def test_score_of_two_paths_writes_the_pairing(tmp_path):
    """``crms fp score A B --trace DIR``: one line, and DIR/pair_1.json with the same score, the four
    features, the alignment and the paired minutiae (as many as the pairs feature)."""
    matcher_or_skip()
    pytest.importorskip("torch")
    a, b = fvc("fvc2002", "DB1_B", "101_1.png"), fvc("fvc2002", "DB1_B", "101_2.png")
    tr = tmp_path / "trace"
    res = runner.invoke(app, ["fp", "score", str(a), str(b), "--trace", str(tr)])
    assert res.exit_code == 0, res.output
    (line,) = res.stdout.splitlines()
    x, y, s = line.split("\t")
    assert (x, y) == (str(a), str(b))
    doc = json.loads((tr / "pair_1.json").read_text())
    assert round(doc["score"], 3) == float(s) > 20
    f = doc["features"]
    assert f["pairs"] == len(doc["paired"]) >= 6 and f["similarity_sum"] > 0
    assert f["a_inside_b"] >= f["pairs"] and f["b_inside_a"] >= f["pairs"]
    assert len(doc["alignment"]["matrix"]) == 2 and "rotation_deg" in doc["alignment"]
    assert set(doc["paired"][0]) == {"a", "b", "similarity"}
    assert doc["a"]["file"] == str(a) and doc["a"]["dpi_source"] == "file" and doc["a"]["dpi"] == 500
    res = runner.invoke(app, ["fp", "score", str(a), str(b), str(b)])
    assert res.exit_code == 2 and "two paths" in res.stderr
