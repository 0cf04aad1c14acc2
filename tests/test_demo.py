"""The demo's quick mode end to end on the real data (slow: a couple of minutes). `make test` runs it twice:
on this machine, and on a stand-in for a CPU without native bf16 (tests/conftest.py, MACHINE_SENSITIVE)."""

import json

import pytest

from warmstart import hardware
from warmstart.cli import main


@pytest.mark.slow
def test_quick_demo_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "6/6 report" in printed
    results = json.loads((out / "results.json").read_text())
    starts = {row["start"] for row in results["table"]}
    assert starts == {"random", "ours", "random-bilstm", "ours-bilstm", "ours-bilstm+contrastive", "minilm",
                      "minilm+dapt"}
    for row in results["table"]:
        assert 0.0 <= row["mean"] <= 1.0 and row["n"] == 2 and row["mode"] in ("fine-tune", "probe")
    # every run is there twice, fine-tuned and probed, and the table shows the better on validation
    assert len(results["runs"]) == 2 * 7 * 2 and {r["mode"] for r in results["runs"]} == {"fine-tune", "probe"}
    for row in results["table"]:
        runs = [r for r in results["runs"] if r["start"] == row["start"] and r["labels"] == row["labels"]]
        mean = {m: sum(r["validation_accuracy"] for r in runs if r["mode"] == m) / 2 for m in ("fine-tune", "probe")}
        assert mean[row["mode"]] == max(mean.values())
    assert len(results["both_modes"]) == 2 * len(results["table"])
    assert (out / "data_hunger.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    assert "| start" in report and "data_hunger.png" in report
    assert f"Command: `warmstart demo --quick -o {out}`" in report
    assert (out / "pretrain" / "curves.png").is_file()
    assert (out / "pretrain" / "model" / "model.safetensors").is_file()
    contrastive = json.loads((out / "pretrain-bilstm-contrastive" / "model" / "meta.json").read_text())
    assert "contrastive_accuracy" in contrastive["validation"]
    # the report names the machine and what ran there: precision auto, resolved by the policy
    auto = hardware.resolve_precision("auto", "cpu")
    assert contrastive["precision"] == auto
    assert {run["precision"] for run in results["pretraining"].values()} == {auto}
    assert all(run["seconds"] > 0 and run["tokens"] > 0 for run in results["pretraining"].values())
    assert f"native bf16: {'yes' if hardware.native_bf16('cpu') else 'no'}" in results["machine"]
    assert "Machine: " in report and f"cpu, {auto}," in report and "tokens/s" in report
