"""``autoq report`` on a real (tiny) search run folder of the embedded default."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from autoq.errors import AutoQError
from autoq.report import load_run, plots, write_report
from autoq.report.document import Document
from autoq.runs import folder as rf

TINY = dict(
    dataset="digits",
    calib_size=64,
    reward_size=200,
    batch_size=200,
    episodes=5,
    agent_options={"warmup_episodes": 2, "hidden": 32, "kernel_updates_per_episode": 8},
)
FIGURES = {"kernel_bits.png", "layer_bits.png", "learning_curves.png", "pareto.png", "layer_costs.png"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A finished, finetuned tiny search of the digits CNN (untrained: the report does not care, and it is fast)."""
    from autoq.search import search

    out = tmp_path_factory.mktemp("report") / "run"
    search(
        progress=False,
        out=str(out),
        model="digits-cnn",
        finetune=True,
        finetune_options={"epochs": 1, "train_batch_size": 64},
        **TINY,
    )
    return out


@pytest.fixture(scope="module")
def report_dir(run_dir) -> Path:
    return write_report(run_dir)


def test_report_writes_every_file(report_dir, run_dir):
    assert report_dir == run_dir / "report"
    names = {p.name for p in report_dir.iterdir()}
    assert FIGURES | {"index.md", "index.html", "report.json"} == names  # no temporary file left behind
    for name in FIGURES:
        assert (report_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_markdown_and_html_show_the_same(report_dir):
    md = (report_dir / "index.md").read_text()
    html = (report_dir / "index.html").read_text()
    assert set(re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)) == FIGURES
    assert set(re.findall(r'<img src="([^"]+)"', html)) == FIGURES
    md_headings = re.findall(r"^#+ (.+)$", md, re.M)
    html_headings = re.findall(r"<h\d>(.+?)</h\d>", html)
    assert md_headings == html_headings and "Settings" in md_headings and "Model size" in md_headings
    assert md.count("\n|---") == html.count("<table>")
    for text in ("uniform 8/8", "packed (kernel-wise)", "finetuned best policy, test split", "`agent_options.hidden`"):
        assert text in md and text.replace("`agent_options.hidden`", "<code>agent_options.hidden</code>") in html


def test_heatmap_shows_the_policy(run_dir):
    d = load_run(run_dir)
    names = [l.name for l in d.layers]
    bits = [d.policy.weight_bits[n] for n in names]
    fig = plots.bits_heatmap(names, bits, (1, 8), "t")
    shown = fig.axes[0].images[0].get_array()
    assert shown.shape == (len(names), max(l.c_out for l in d.layers))
    for i, layer in enumerate(d.layers):
        np.testing.assert_array_equal(shown[i, : layer.c_out].filled(-1), d.policy.weight_bits[layer.name])
        assert not shown.mask[i, : layer.c_out].any() and shown.mask[i, layer.c_out :].all()


def test_costs_and_sizes_agree_with_the_search(run_dir, report_dir):
    d = load_run(run_dir)
    summary = json.loads((run_dir / rf.SUMMARY).read_text())["best"]
    assert d.best["episode"] == summary["episode"]
    assert d.costs["best"].latency_s == pytest.approx(summary["latency_s"], rel=1e-12)
    assert d.costs["uniform8"].energy_j == pytest.approx(d.references["uniform8"]["energy_j"], rel=1e-12)
    s = d.sizes
    assert s.packed < s.uniform8 < s.float32
    key = json.loads((report_dir / "report.json").read_text())
    assert key["sizes"]["packed"] == s.packed and key["best"]["episode"] == summary["episode"]
    assert str(s.packed) in (report_dir / "index.md").read_text()


def test_export_files_are_sized(run_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run, ignore=shutil.ignore_patterns("report", "*.pt"))
    (run / "export").mkdir()
    (run / "export" / "model.onnx").write_bytes(b"x" * 1234)
    sizes = load_run(run).sizes
    assert sizes.files == {"onnx": 1234}
    assert {"size": "onnx file", "bytes": 1234} == {k: v for k, v in sizes.rows()[-1].items() if k in ("size", "bytes")}


def test_cli_json(run_dir, capsys):
    from autoq.cli.main import main

    assert main(["report", str(run_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert Path(out["index_html"]).is_file() and out["episodes"] == 5 and out["sizes"]["packed"] > 0


def test_report_without_a_best_policy(run_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run, ignore=shutil.ignore_patterns("report", "*.pt"))
    (run / rf.BEST_POLICY).unlink()
    summary = json.loads((run / rf.SUMMARY).read_text())
    (run / rf.SUMMARY).write_text(json.dumps({**summary, "best": {}}))
    out = write_report(run)
    md = (out / "index.md").read_text()
    assert "No episode met the budget" in md and "pareto.png" in md and "learning_curves.png" in md
    assert "kernel_bits.png" not in md and "layer_costs.png" not in md and "Model size" not in md


def test_bad_run_folders(tmp_path, capsys):
    from autoq.cli.main import main

    with pytest.raises(AutoQError, match="does not exist"):
        write_report(tmp_path / "missing")
    with pytest.raises(AutoQError, match="no search episodes"):
        write_report(tmp_path)
    (tmp_path / rf.EPISODES).write_text("episode,reward\n0,0.5\n")
    with pytest.raises(AutoQError, match="no config.yaml"):
        write_report(tmp_path)
    assert main(["report", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("autoq report: error:") and "\n" not in err


def test_pareto_front_and_units():
    cost = np.array([3.0, 1.0, 2.0, 2.0, 4.0])
    acc = np.array([0.9, 0.5, 0.7, 0.6, 0.9])
    assert plots.pareto_front(cost, acc).tolist() == [1, 2, 0]
    assert plots.si_unit([0.0023], "s") == plots.Unit(1e3, "ms")
    assert plots.si_unit([4.2e-5], "J") == plots.Unit(1e6, "µJ")
    m = plots.kernel_bits_matrix([np.array([1, 2, 3]), np.array([8])])
    assert m.mask.tolist() == [[False, False, False], [False, True, True]]


def test_document_escapes():
    doc = Document("a <b>")
    doc.table(["x|y"], [["<i>"]])
    assert "x\\|y" in doc.markdown() and "&lt;i&gt;" in doc.html() and "<title>a &lt;b&gt;</title>" in doc.html()
