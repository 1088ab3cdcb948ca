"""The one typed derivation: every workflow's study keeps the study file's values and types,
accepts conditionals, and runs; the workflows are callable from Python."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import tunebook_cli
from tunebook import SpecError, load_spec, open_store, run_study
from tunebook._spec_derive import Change, ChangeKind, Derivation, from_changes
from tunebook.records import TrialStatus
from tunebook.space import ParamRef
from tunebook.workflows import (
    batch_size_probe,
    lr_sweep,
    next_study,
    read_config,
    rerun,
    round2,
    warmup_sweep,
)
from tunebook.workflows.batchsize import probe_spec
from tunebook.workflows.lrsweep import early_spec, sweep_spec
from tunebook.workflows.warmup import warmup_spec

# Fixed values as a user writes them, and the Python value each must arrive as.
FIXED_TEXT = {
    "weight_decay": ("1e-4", 1e-4),
    "scale": ("3.5E-2", 0.035),
    "width": ("16", 16),
    "use_bias": ("true", True),
    "act": ("relu", "relu"),
    "ratio": ("0.25", 0.25),
}


def study_text(fixed: dict[str, str], *, opt_values: tuple[str, ...] = ("adam", "sgd"),
               beta_high: str = "0.99", budget: int = 6, comments: bool = False) -> str:
    """A study file with a conditional block per optimizer, written as a person would."""
    c = (lambda text: f"  # {text}") if comments else (lambda text: "")
    fixed_lines = "".join(f"  {k}: {v}{c('fixed ' + k)}\n" for k, v in fixed.items())
    blocks = "".join(
        f"    {v}:{c('block ' + v)}\n"
        + (f"      beta1: {{low: 0.5, high: {beta_high}}}{c('beta1')}\n" if v == "adam" else
           f"      momentum: {{low: 0.0, high: 0.95}}{c('momentum')}\n")
        for v in opt_values)
    return (f"name: cond{c('the name')}\n"
            f"objective: {{metric: loss, goal: minimize}}{c('objective')}\n"
            f"trainer: {{train: 'trainer:main'}}{c('trainer')}\n"
            f"fixed:{c('fixed section')}\n{fixed_lines}"
            f"  batch_size: 8{c('batch')}\n"
            f"  warmup_steps: 0{c('warmup')}\n"
            f"scientific:{c('scientific')}\n"
            f"  opt: [{', '.join(opt_values)}]{c('opt')}\n"
            f"nuisance:{c('nuisance')}\n"
            f"  learning_rate: {{low: 1.0e-3, high: 1.0, scale: log}}{c('lr')}\n"
            f"conditional:{c('conditional')}\n"
            f"  opt:{c('by opt')}\n{blocks}"
            f"budget: {budget}{c('budget')}\n"
            f"max_steps: 12{c('steps')}\n"
            f"eval_every: 3{c('every')}\n")


TYPES_TRAINER = """
    import json
    import math
    from pathlib import Path

    def main(t):
        with open(Path(__file__).parent / "types.jsonl", "a") as out:
            out.write(json.dumps({"study": t.study, "params": {
                k: [type(v).__name__, v] for k, v in t.params.items()}}) + "\\n")
        lr = t.params["learning_rate"]
        beta = t.params.get("beta1", t.params.get("momentum", 0.5))
        for step in range(1, (t.max_steps or 12) + 1):
            loss = (math.log10(lr) + 1.5) ** 2 + (beta - 0.8) ** 2 + 1.0 / step
            t.report(step, loss=loss, train_loss=loss)
"""


def _fixed_arrivals(folder: Path) -> dict[str, list[tuple[str, Any]]]:
    """Per study, the (type, value) of each fixed parameter in every trial it ran."""
    seen: dict[str, list[tuple[str, Any]]] = {}
    for line in (folder / "types.jsonl").read_text().splitlines():
        row = json.loads(line)
        for key in FIXED_TEXT:
            seen.setdefault(row["study"], []).append((key, tuple(row["params"][key])))
    return seen


def test_a_conditional_study_runs_through_every_workflow_with_its_values_typed(
        tmp_path: Path, db_path: str) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "trainer.py").write_text(textwrap.dedent(TYPES_TRAINER))
    (folder / "study.yaml").write_text(study_text({k: t for k, (t, _) in FIXED_TEXT.items()}))
    spec = load_spec(folder / "study.yaml")
    store = open_store(db_path)
    run_study(spec, store, workers=2)
    swept = lr_sweep(spec, store, low=1e-3, high=1.0, points=3, early_steps=10)
    assert swept.sweep.best is not None and swept.early is not None
    assert swept.studies == ("cond-lr-sweep", "cond-early-check")
    warm = warmup_sweep(spec, store, unstable_lr=0.5, points=3)
    assert warm.study == "cond-warmup-sweep" and [p.x for p in warm.sweep.points] == [0, 1]
    probe = batch_size_probe(spec, store, sizes=[4, 8], steps=8)
    assert [p.size for p in probe.result.points] == [4, 8]
    seeds = rerun(store, "cond", seeds=2)
    assert seeds.report is not None and seeds.made.study.name == "cond-seeds"
    longer = round2(store, "cond", steps_factor=2)
    assert longer.rounds is not None and longer.made.max_steps == 24
    arrivals = _fixed_arrivals(folder)
    assert set(arrivals) == {"cond", "cond-lr-sweep", "cond-early-check", "cond-warmup-sweep",
                             "cond-batch-size", "cond-seeds", "cond-x2"}
    for study, values in arrivals.items():
        for key, (kind, value) in values:
            expected = FIXED_TEXT[key][1]
            assert (kind, value) == (type(expected).__name__, expected), (study, key)
    # The conditional parameter reaches the held-still studies under its plain name, at
    # the middle of adam's range (opt held at its first value, adam).
    rows = [json.loads(line) for line in (folder / "types.jsonl").read_text().splitlines()]
    sweep_params = next(r["params"] for r in rows if r["study"] == "cond-lr-sweep")
    assert sweep_params["opt"] == ["str", "adam"] and sweep_params["beta1"][0] == "float"
    assert "momentum" not in sweep_params


def test_the_cli_lr_sweep_gives_trials_the_float_the_file_wrote(tmp_path: Path,
                                                                 db_path: str) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "trainer.py").write_text(textwrap.dedent(TYPES_TRAINER))
    (folder / "study.yaml").write_text(study_text({"weight_decay": "1e-4"}))
    out = tunebook_cli("lr-sweep", str(folder / "study.yaml"), "--range", "1e-3:1",
                       "--points", "3", "--no-early-check", "--db", db_path, "--no-progress",
                       "-o", str(tmp_path / "sweep.html"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in (folder / "types.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    assert all(r["params"]["weight_decay"] == ["float", 1e-4] for r in rows)


EDGE_TRAINER = """
    import math

    def main(t):
        lr = t.params["learning_rate"]
        beta = t.params.get("beta1")
        for step in range(1, 13):
            if beta is None:   # sgd: flat and worse; adam: best beyond beta1's upper bound
                loss = 5.0 + 0.01 * math.log10(lr)
            else:
                loss = 10.0 * (1.2 - beta) + 0.01 * abs(math.log10(lr) + 1.5)
            t.report(step, loss=loss + 0.1 / step)
"""


def test_next_widens_a_conditional_bound_in_its_block_keeps_every_comment_and_runs(
        tmp_path: Path, db_path: str) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "trainer.py").write_text(textwrap.dedent(EDGE_TRAINER))
    original = study_text({"weight_decay": "1e-4"}, beta_high="0.9", budget=48,
                          comments=True)
    (folder / "study.yaml").write_text(original)
    store = open_store(db_path)
    run_study(load_spec(folder / "study.yaml"), store, workers=2)
    made = next_study(store, "cond")
    widen = [c for c in made.changes if c.kind is ChangeKind.WIDEN]
    assert [(c.target, c.edge) for c in widen] == [(ParamRef("beta1", ("opt", "adam")), "high")]
    assert widen[0].statistic["best_at_edge"] >= 2 and widen[0].where == \
        "conditional.opt.adam.beta1.high"
    text = made.path.read_text()
    # every comment survives but those on the lines of a parameter no longer searched
    fixed = {c.target.name for c in made.changes if c.kind is ChangeKind.FIX and c.target}
    gone = {"learning_rate": "lr"}
    comments = [line.split("#", 1)[1].strip() for line in original.splitlines() if "#" in line]
    missing = [c for c in comments if f"# {c}" not in text]
    assert missing == [gone[name] for name in fixed], missing
    assert "beta1[" not in text  # never a storage key as a parameter name
    written = load_spec(made.path)
    adam = written.model.conditional["opt"]["adam"]["beta1"]
    # beta1 moves toward 1, never past it (0.9 + half a width, 1.1, would diverge)
    assert adam.high == pytest.approx(0.99) and written.model.fixed["weight_decay"] == 1e-4
    assert written.config() == made.spec.config()
    out = tunebook_cli("next", "cond", "-o", str(folder / "again.yaml"), "--db", db_path,
                       cwd=tmp_path)  # the same through the CLI, each change where it edits
    assert out.returncode == 0, out.stderr
    assert "conditional.opt.adam.beta1.high: " in out.stdout
    assert (folder / "again.yaml").read_text() == text
    run_study(written, store, workers=2)  # the written file runs as is
    done = store.trials([store.get_study("cond-r2").id], TrialStatus.COMPLETED)
    assert max(t.params.get("beta1[opt=adam]", 0.0) for t in done) > 0.9


def test_a_fixed_parameter_leaves_the_file_with_its_lines_and_nothing_else() -> None:
    from tunebook._spec_yaml import edit_study

    text = ("name: s  # n\n"
            "nuisance:  # section\n"
            "  noise:  # noise\n"
            "    low: 0.0  # noise low\n"
            "    high: 1.0  # noise high\n"
            "  # about lr\n"
            "  lr: {low: 1.0e-4, high: 1.0, scale: log}  # lr\n"
            "# about fixed\n"
            "fixed: {a: 1e-4}  # fixed\n")
    out = edit_study(text, [Change(ChangeKind.FIX, 0.5, "inert", ParamRef("noise"))],
                     name="s-r2")
    for kept in ("# n", "# section", "# about lr", "# lr", "# about fixed", "# fixed",
                 "# inert"):
        assert kept in out, kept
    for gone in ("# noise low", "# noise high", "# noise\n"):
        assert gone not in out
    assert "noise: 0.5" in out and "1e-4" in out


# --- the derivation as a property over generated study files -----------------------------

numbers = st.one_of(
    st.sampled_from(["1e-4", "3.5E-2", "2e+3", "1.5e-07", "0.25", "7", "-3"]),
    st.integers(-50, 50).map(str))
scalars = st.one_of(numbers, st.sampled_from(["true", "false", "relu", "'x y'"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fixed=st.dictionaries(st.sampled_from(["a", "b", "c", "d", "e"]), scalars,
                             max_size=4),
       opts=st.sampled_from([("adam", "sgd"), ("adam",), ("sgd", "adam")]))
def test_every_derivation_keeps_each_fixed_value_and_its_type(
        tmp_path_factory: pytest.TempPathFactory, fixed: dict[str, str],
        opts: tuple[str, ...]) -> None:
    folder = tmp_path_factory.mktemp("prop")
    (folder / "trainer.py").write_text("def main(t):\n    pass\n")
    (folder / "study.yaml").write_text(study_text(fixed, opt_values=opts))
    spec = load_spec(folder / "study.yaml")
    first = opts[0]
    conditional = ParamRef("beta1", ("opt", "adam")) if "adam" in opts else \
        ParamRef("momentum", ("opt", "sgd"))
    derived = [
        sweep_spec(spec, "learning_rate", 1e-4, 1.0, 3),
        early_spec(spec, 0.01, steps=10),
        warmup_spec(spec, 0.3, points=3),
        probe_spec(spec, [4, 8], steps=8),
        spec.derive(Derivation(name="r", mode="joint", budget=4)),
        spec.derive(Derivation(name="x2", max_steps=24, pruning=None)),
        spec.derive(from_changes([
            Change(ChangeKind.WIDEN, 3.0, "", ParamRef("learning_rate"), "high"),
            Change(ChangeKind.CUT, 0.7, "", conditional, "high"),
            Change(ChangeKind.BUDGET, 9, "")], name="n")),
        spec.derive(from_changes([Change(ChangeKind.FIX, 0.6, "", conditional)], name="f")),
    ]
    for out in derived:
        for key in fixed:
            value, got = spec.space.fixed[key], out.space.fixed[key]
            assert (type(got), got) == (type(value), value), (out.name, key)
        # the held-still studies hold opt at its first value with that block's parameter
        if out.name.endswith(("sweep", "check", "size")):
            assert out.space.fixed["opt"] == first and not out.space.scientific
            assert all(d.condition is None for d in out.space.nuisance)
        else:
            assert [d.name for d in out.space.scientific] == ["opt"]
    held = derived[-1].model.conditional["opt"][conditional.condition[1]]  # type: ignore[index]
    assert held[conditional.name].values == [0.6]


def test_a_derivation_naming_what_the_study_lacks_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "trainer.py").write_text("def main(t):\n    pass\n")
    (folder / "study.yaml").write_text(study_text({}))
    spec = load_spec(folder / "study.yaml")
    with pytest.raises(SpecError, match="no conditional block for opt = rmsprop"):
        spec.derive(from_changes([Change(ChangeKind.FIX, 0.5, "",
                                         ParamRef("beta1", ("opt", "rmsprop")))]))
    with pytest.raises(SpecError, match="not a searched range"):
        spec.derive(Derivation(bounds={ParamRef("width"): {"high": 3.0}}))
    with pytest.raises(SpecError, match="'nope' is not a nuisance or fixed parameter"):
        sweep_spec(spec, "nope", 1e-4, 1.0, 3)
    with pytest.raises(SpecError, match=r"invalid range: .*low \(5\) is not below high"):
        spec.derive(Derivation(bounds={ParamRef("learning_rate"): {"low": 5.0}}))


def test_baseline_set_reads_a_study_file_as_run_does(tmp_path: Path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(study_text({"weight_decay": "1e-4", "width": "16"}))
    config = read_config(path)
    assert config["weight_decay"] == 1e-4 and isinstance(config["weight_decay"], float)
    assert config["width"] == 16 and isinstance(config["width"], int)
