"""`warmstart demo --images --quick` end to end on the real Fashion-MNIST files (slow: about two minutes)."""

import json

import pytest

from warmstart.cli import main


@pytest.mark.slow
def test_quick_image_demo_runs_end_to_end(tmp_path, capsys):
    from warmstart.datasets import DatasetUnavailable
    from warmstart.images.fashion_mnist import locate

    try:
        locate()  # as root (CI), installs Debian's dataset-fashion-mnist first
    except DatasetUnavailable as error:
        pytest.skip(f"Fashion-MNIST is not installed and cannot be installed here: {error}")
    out = tmp_path / "demo"
    assert main(["demo", "--images", "--quick", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "4/4 report" in printed and "ETA" in printed and "about 2 minutes" in printed
    results = json.loads((out / "results.json").read_text())
    assert {row["start"] for row in results["chosen"]} == {"random CNN", "DAE CNN", "random ViT", "MAE ViT"}
    for row in results["chosen"]:
        assert 0.0 <= row["test"] <= 1.0 and row["n"] == 2 and row["labels_per_class"] == 10
        # the reported mode is the one with the best validation accuracy, never chosen on test
        rivals = [e for e in results["every_mode"] if e["start"] == row["start"]]
        assert row["validation"] == max(e["validation"] for e in rivals)
    assert {e["mode"] for e in results["every_mode"] if e["start"] == "MAE ViT"} == {"full", "probe"}
    for name in ("data_hunger.png", "reconstruction-dae.png", "reconstruction-mae.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    report = (out / "report.md").read_text()
    assert "| start" in report and "data_hunger.png" in report and "reconstruction-dae.png" in report
