"""Space ↔ unit-cube mappings (property tests)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from tunebook.space import ChoiceDomain, Dimension, FloatDomain, IntDomain, Scale, Space

unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@st.composite
def float_domains(draw: st.DrawFn) -> FloatDomain:
    scale = draw(st.sampled_from(list(Scale)))
    low = draw(st.floats(min_value=1e-8 if scale is Scale.LOG else -1e6, max_value=1e6))
    width = draw(st.floats(min_value=1e-3, max_value=1e6))
    return FloatDomain(low, low + width if scale is Scale.LINEAR else low * (1 + width), scale)


@st.composite
def int_domains(draw: st.DrawFn) -> IntDomain:
    scale = draw(st.sampled_from(list(Scale)))
    low = draw(st.integers(min_value=1 if scale is Scale.LOG else -1000, max_value=1000))
    return IntDomain(low, low + draw(st.integers(min_value=1, max_value=5000)), scale)


@given(float_domains(), unit)
def test_float_unit_to_value_to_unit(domain: FloatDomain, u: float) -> None:
    value = domain.from_unit(u)
    assert domain.low <= value <= domain.high
    assert math.isclose(domain.to_unit(value), u, abs_tol=1e-6)


@given(float_domains(), unit)
def test_float_value_round_trip(domain: FloatDomain, u: float) -> None:
    value = domain.from_unit(u)
    assert math.isclose(domain.from_unit(domain.to_unit(value)), value, rel_tol=1e-9,
                        abs_tol=1e-9 * max(abs(domain.low), abs(domain.high)))


@given(int_domains(), unit)
def test_int_round_trip_is_exact(domain: IntDomain, u: float) -> None:
    value = domain.from_unit(u)
    assert domain.contains(value)
    assert domain.from_unit(domain.to_unit(value)) == value


@given(st.lists(st.one_of(st.text(min_size=1), st.integers()), min_size=1, max_size=12,
                unique_by=repr), unit)
def test_choice_round_trip_is_exact(values: list[object], u: float) -> None:
    domain = ChoiceDomain(tuple(values))  # type: ignore[arg-type]
    value = domain.from_unit(u)
    assert value in values
    assert domain.from_unit(domain.to_unit(value)) == value


def test_choice_bins_are_equal() -> None:
    domain = ChoiceDomain(("a", "b", "c"))
    picks = [domain.from_unit((i + 0.5) / 300) for i in range(300)]
    assert [picks.count(v) for v in "abc"] == [100, 100, 100]


def test_int_log_gives_each_integer_its_log_share() -> None:
    domain = IntDomain(1, 3, Scale.LOG)
    picks = [domain.from_unit((i + 0.5) / 1000) for i in range(1000)]
    expected = [math.log(2) / math.log(4), math.log(3 / 2) / math.log(4),
                math.log(4 / 3) / math.log(4)]
    for value, share in zip((1, 2, 3), expected, strict=True):
        assert abs(picks.count(value) / 1000 - share) < 0.01


def test_conditional_dimensions_only_for_their_value() -> None:
    space = Space(
        scientific=(Dimension("opt", ChoiceDomain(("sgd", "adam")),),),
        nuisance=(Dimension("lr", FloatDomain(1e-3, 1.0, Scale.LOG)),
                  Dimension("beta1", FloatDomain(0.8, 0.99), condition=("opt", "adam")),
                  Dimension("beta1", FloatDomain(0.0, 0.5), condition=("opt", "sgd"))))
    adam = space.params_from_unit({"opt": "adam"}, [0.5, 0.0, 1.0])
    sgd = space.params_from_unit({"opt": "sgd"}, [0.5, 0.0, 1.0])
    assert set(adam) == {"opt", "lr", "beta1[opt=adam]"} and adam["beta1[opt=adam]"] == 0.8
    assert set(sgd) == {"opt", "lr", "beta1[opt=sgd]"} and math.isclose(sgd["beta1[opt=sgd]"],
                                                                          0.5)
    assert space.plain(sgd)["beta1"] == sgd["beta1[opt=sgd]"]
    assert space.combos() == [{"opt": "sgd"}, {"opt": "adam"}]
