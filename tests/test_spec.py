"""Study-file validation: every mistake is one clear message naming file, field and fix."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import QUADRATIC, tunebook_cli, write_study
from tunebook import SpecError, load_spec
from tunebook.space import ChoiceDomain, FloatDomain, IntDomain, Scale


def test_valid_spec_builds_space_with_roles_and_conditionals(tmp_path: Path) -> None:
    path = write_study(
        tmp_path, QUADRATIC, fixed={"batch_size": 64},
        scientific={"optimizer": ["sgd", "adam"]},
        nuisance={"lr": {"low": 1e-4, "high": 1.0, "scale": "log"},
                  "layers": {"type": "int", "low": 1, "high": 4}},
        conditional={"optimizer": {"adam": {"beta1": {"low": 0.8, "high": 0.99}},
                                   "sgd": {"beta1": {"low": 0.0, "high": 0.5}}}})
    spec = load_spec(path)
    space = spec.space
    assert space.fixed == {"batch_size": 64}
    assert [d.name for d in space.scientific] == ["optimizer"]
    keys = [d.key for d in space.nuisance]
    assert keys == ["lr", "layers", "beta1[optimizer=adam]", "beta1[optimizer=sgd]"]
    assert isinstance(space.dimension("lr").domain, FloatDomain)
    assert space.dimension("lr").domain.scale is Scale.LOG
    assert isinstance(space.dimension("layers").domain, IntDomain)
    assert space.dimension("beta1[optimizer=sgd]").domain == FloatDomain(0.0, 0.5)
    assert isinstance(space.scientific[0].domain, ChoiceDomain)
    plain = space.plain({"optimizer": "adam", "lr": 0.01, "layers": 2,
                         "beta1[optimizer=adam]": 0.9})
    assert plain == {"batch_size": 64, "optimizer": "adam", "lr": 0.01, "layers": 2,
                     "beta1": 0.9}


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"nuisance": {"lr": {"low": "big", "high": 1.0}}}, "nuisance.lr.low", "number"),
    ({"nuisance": {"lr": {"low": 0.1, "high": 0.001}}}, "nuisance.lr", "swap the bounds"),
    ({"nuisance": {"lr": {"low": 0.0, "high": 1.0, "scale": "log"}}}, "nuisance.lr",
     "log range must be positive"),
    ({"nuisance": {"lr": {"low": 0.1, "high": 1.0, "sclae": "log"}}}, "nuisance.lr",
     "unknown key 'sclae'"),
    ({"epochs": 3}, "(top level)", "unknown key 'epochs'"),
    ({"scientific": {"act": ["relu", "tanh"]},
      "conditional": {"act": {"gelu": {"x": {"low": 0, "high": 1}}}}},
     "conditional.act.gelu", "'gelu' is not a value"),
    ({"conditional": {"nope": {"a": {"x": {"low": 0, "high": 1}}}}}, "conditional.nope",
     "not a scientific parameter"),
    ({"trainer": {"train": "missing_module:main"}}, "trainer.train", "cannot find module"),
    ({"trainer": {"train": "trainer:nope"}}, "trainer.train", "no top-level function 'nope'"),
    ({"trainer": {"train": "not a function"}}, "trainer", "module:function"),
    ({"trainer": {"command": "python t.py --x {unknown}"}}, "trainer.command",
     "placeholder {unknown}"),
    ({"budget": 0}, "budget.trials", "greater than or equal to 1"),
    ({"name": "bad/name"}, "name", "letters, digits"),
    ({"scientific": {"act": {"low": 0, "high": 1}}}, "scientific", "needs a list of values"),
    ({"fixed": {"lr": 0.1}}, "nuisance.lr", "also declared under fixed"),
    ({"mode": "per_value"}, "mode", "no scientific parameter"),
    ({"nuisance": {"seed": {"low": 0, "high": 9, "type": "int"}}}, "nuisance.seed",
     "reserved name"),
    ({"scientific": {"status": ["a", "b"]}}, "scientific.status", "reserved name"),
    ({"fixed": {"value": 3}}, "fixed.value", "reserved name"),
    ({"max_steps": 100, "eval_every": 500}, "eval_every (500)",
     "no trial would ever evaluate"),
    ({"budget": "many"}, "budget", "an integer (the number of trials), or {trials: N}"),
    ({"timeout": "soon"}, "timeout", "not a duration"),
])
def test_bad_spec_names_file_field_and_fix(tmp_path: Path, change: dict[str, object],
                                           field: str, words: str) -> None:
    path = write_study(tmp_path, QUADRATIC, **change)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert str(path) in message
    assert field in message
    assert words in message


def test_duplicate_keys_are_refused_naming_both_lines(tmp_path: Path) -> None:
    path = write_study(tmp_path, QUADRATIC)
    path.write_text(path.read_text() + "budget: 9\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert str(path) in message and "'budget' is given twice (lines" in message


def test_yaml_syntax_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text("name: x\nbudget: [1, 2\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert "<unicode string>" not in str(info.value)
    assert str(info.value).count(str(path)) >= 2  # the prefix and the YAML position


def test_timeout_reads_durations_and_may_change_between_runs(tmp_path: Path) -> None:
    first = load_spec(write_study(tmp_path, QUADRATIC, timeout="1h30m"))
    assert first.model.timeout == 5400.0
    second = load_spec(write_study(tmp_path, QUADRATIC, timeout=20))
    assert second.model.timeout == 20.0 and first.identity_hash() == second.identity_hash()


def test_trainer_with_a_syntax_error_is_reported_before_running(tmp_path: Path) -> None:
    path = write_study(tmp_path, "def main(t):\n    return (\n")
    with pytest.raises(SpecError, match=r"trainer\.train: module 'trainer' .* syntax error"):
        load_spec(path)


@pytest.mark.parametrize("module", ["time", "random", "json.tool"])
def test_a_trainer_module_named_like_a_standard_module_is_refused(tmp_path: Path,
                                                                  module: str) -> None:
    path = write_study(tmp_path, QUADRATIC, module=module.split(".")[0],
                       trainer={"train": f"{module}:main"})
    top = module.split(".")[0]
    with pytest.raises(SpecError, match=rf"trainer\.train: the trainer module '{module}' has "
                                        rf"the name of a module .* Rename your file .*"
                                        rf"train_{top}\.py"):
        load_spec(path)


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(SpecError, match="mapping of fields"):
        load_spec(bad)
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "absent.yaml")


def test_bad_spec_on_the_cli_writes_nothing_and_has_no_traceback(tmp_path: Path) -> None:
    path = write_study(tmp_path, QUADRATIC, nuisance={"lr": {"low": 1.0, "high": 0.1}})
    result = tunebook_cli("run", str(path), "--db", str(tmp_path / "x.db"), cwd=tmp_path)
    assert result.returncode == 1
    assert "nuisance.lr" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_changed_spec_is_refused_with_the_changed_fields(tmp_path: Path, db_path: str) -> None:
    from tunebook import open_store
    from tunebook.runner.study import prepare_study

    store = open_store(db_path)
    prepare_study(store, load_spec(write_study(tmp_path, QUADRATIC)))
    changed = write_study(tmp_path, QUADRATIC, nuisance={"lr": {"low": 1e-3, "high": 1.0}})
    with pytest.raises(SpecError, match=r"changed: nuisance\.lr\.low.*toy-v2"):
        prepare_study(store, load_spec(changed))
    more = write_study(tmp_path, QUADRATIC, budget=9, description="now 9 trials")
    prepared = prepare_study(store, load_spec(more))
    assert prepared.resumed and prepared.enqueued == 3
    assert yaml.safe_load(Path(more).read_text())["budget"] == 9


def test_exponent_numbers_are_numbers(tmp_path: Path) -> None:
    path = write_study(tmp_path, QUADRATIC)
    path.write_text(path.read_text() + "fixed: {base_lr: 1e-3, eps: -2.5E+2}\n")
    spec = load_spec(path)
    assert spec.space.fixed == {"base_lr": 0.001, "eps": -250.0}


@pytest.mark.parametrize(("extra", "message"), [
    ({"timeout": True}, "timeout takes a duration such as 2h"),
    ({"fixed": {"layers": [64, 64]}}, "'layers': a fixed value is one number, text or "
                                      "true/false, not a list"),
    ({"fixed": {"opt": {"name": "adam"}}}, "not a mapping; to compare or search values"),
    ({"fixed": {"beta1[optimizer=adam]": 0.9}}, "is not a usable hyperparameter name"),
    ({"fixed": {"": 1}}, "is not a usable hyperparameter name"),
])
def test_validation_gaps_say_what_is_wrong_in_one_line(tmp_path: Path, extra: dict[str, Any],
                                                       message: str) -> None:
    path = write_study(tmp_path, None, **extra)
    with pytest.raises(SpecError, match=re.escape(message)) as caught:
        load_spec(path, check_trainer=False)
    assert "validation error" not in str(caught.value) and len(str(caught.value)) < 400
