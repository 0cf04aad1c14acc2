import subprocess
import sys

import pytest

from warmstart.cli import COMMANDS, main


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_explains_itself(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: warmstart" in out and len(out.splitlines()) > 5


def test_python_dash_m_works():
    out = subprocess.run([sys.executable, "-m", "warmstart", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("warmstart ")


def test_bad_input_exits_2_with_a_message(tmp_path, capsys, tokenizer_dir):
    code = main(["prepare", "-i", str(tmp_path / "missing.txt"), "-t", str(tokenizer_dir), "-o", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "missing.txt does not exist" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, message", [
    (["--seeds", "1"], "--seeds must be at least 2"),
    (["--images", "--seeds", "3"], "--seeds applies to the text demo"),
    (["--budgets", "50,x"], "--budgets must be comma-separated"),
])
def test_demo_options_are_checked_before_any_work(tmp_path, capsys, args, message):
    assert main(["demo", *args, "-o", str(tmp_path / "demo")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()


def test_vocabulary_without_mask_token_is_refused(tmp_path, capsys):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "a"]) + "\n")
    code = main(["tokenizer", "--existing", str(vocab), "-o", str(tmp_path / "tok")])
    assert code == 2
    err = capsys.readouterr().err
    assert "[MASK]" in err and "vocab.txt" in err


def test_tokenizer_then_prepare_from_the_command_line(tmp_path, corpus_txt, capsys):
    assert main(["tokenizer", "-i", str(corpus_txt), "-o", str(tmp_path / "tok"), "--vocab-size", "300"]) == 0
    assert main(["prepare", "-i", str(corpus_txt), "-t", str(tmp_path / "tok"), "-o", str(tmp_path / "shards"),
                 "--workers", "0", "--quiet", "--set", "static_masks=1"]) == 0
    out = capsys.readouterr().out
    assert "duplicates dropped" in out and "[UNK] share" in out and "MB/s" in out
    assert (tmp_path / "shards" / "index.json").is_file()
