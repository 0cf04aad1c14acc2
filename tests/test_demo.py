"""The demo's quick mode end to end on the real data (slow: a couple of minutes)."""

import json

import pytest

from warmstart.cli import main


@pytest.mark.slow
def test_quick_demo_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "6/6 report" in printed
    results = json.loads((out / "results.json").read_text())
    starts = {row["start"] for row in results["table"]}
    assert starts == {"random", "ours", "random-bilstm", "ours-bilstm", "minilm", "minilm+dapt"}
    for row in results["table"]:
        assert 0.0 <= row["mean"] <= 1.0 and row["n"] == 2
    assert (out / "data_hunger.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    assert "| start" in report and "data_hunger.png" in report
    assert (out / "pretrain" / "curves.png").is_file()
    assert (out / "pretrain" / "model" / "model.safetensors").is_file()
