from pathlib import Path

import pytest

from warmstart.config import COMMANDS, ConfigError, MaskingConfig, PrepareJob, load_config, read_recipe

RECIPES = sorted((Path(__file__).parent.parent / "recipes").rglob("*.yaml"))


def test_there_are_recipes():
    assert RECIPES, "recipes/ should hold at least one recipe"


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_every_recipe_loads_into_its_config(recipe):
    command, _ = read_recipe(recipe)
    config = load_config(command, recipe)
    assert isinstance(config, COMMANDS[command])


def _write(tmp_path, text):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


def test_unknown_key_is_named(tmp_path):
    path = _write(tmp_path, "command: prepare\ninputs: [a.txt]\ntokenizer: t\nmasking:\n  probabilty: 0.2\n")
    with pytest.raises(ConfigError, match=r"masking\.'?probabilty"):
        load_config("prepare", path)


def test_bad_type_is_named(tmp_path):
    path = _write(tmp_path, "command: prepare\ninputs: [a.txt]\ntokenizer: t\nseq_len: long\n")
    with pytest.raises(ConfigError, match="seq_len"):
        load_config("prepare", path)


def test_impossible_value_is_explained():
    with pytest.raises(ConfigError, match=r"masking.probability must be in \(0, 1\)"):
        MaskingConfig(probability=1.5)
    with pytest.raises(ConfigError, match="replace_mask"):
        MaskingConfig(replace_mask=0.95, replace_random=0.1)


def test_overrides_apply_on_top_of_recipe_and_flags(tmp_path):
    path = _write(tmp_path, "command: prepare\ninputs: a.txt\ntokenizer: t\nseq_len: 64\n")
    job = load_config("prepare", path, {"seq_len": 96}, ["masking.probability=0.3", "static_masks=2"])
    assert isinstance(job, PrepareJob)
    assert job.inputs == ["a.txt"] and job.seq_len == 96 and job.static_masks == 2
    assert job.masking.probability == pytest.approx(0.3)


def test_recipe_for_another_command_is_refused(tmp_path):
    path = _write(tmp_path, "command: tokenizer\ninputs: [a.txt]\n")
    with pytest.raises(ConfigError, match="not 'prepare'"):
        load_config("prepare", path, {"tokenizer": "t"})


def test_malformed_override():
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config("prepare", None, {"inputs": ["a"], "tokenizer": "t"}, ["seq_len"])
