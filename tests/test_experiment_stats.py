"""Experiment statistics: distribution functions against tables and closed forms, the tests
against published results, assignment stability, and simulations showing that the
sequential test may be peeked at while the fixed-horizon one may not. Pure: no servers."""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from functools import cache

import numpy as np
import pytest

from services.kit import experiment_stats as es
from services.kit.experiment_stats import (
    HOLDOUT,
    Arm,
    Interval,
    SequentialTest,
    Summary,
    assign,
    bucket,
    chi2_cdf,
    chi2_sf,
    compare,
    in_holdout,
    normal_cdf,
    normal_ppf,
    normal_sf,
    regularized_beta,
    relative_lift,
    relative_lift_of_means,
    sample_ratio_mismatch,
    sequential_test,
    student_t_cdf,
    student_t_ppf,
    student_t_sf,
    tau_for,
    two_proportion_test,
    welch_test,
    welch_test_values,
    wilson_interval,
)

# --- distribution functions -------------------------------------------------


def test_normal_distribution_matches_table_values_and_keeps_far_tails():
    assert normal_cdf(0.0) == 0.5
    assert normal_cdf(1.0) == pytest.approx(0.8413447460685429, abs=1e-15)
    assert normal_cdf(1.959963984540054) == pytest.approx(0.975, abs=1e-15)
    assert normal_cdf(-3.0) == pytest.approx(0.0013498980316301, rel=1e-12)
    assert normal_sf(8.0) == pytest.approx(6.22096057427178e-16, rel=1e-12)  # 1 - cdf would be 0
    assert normal_ppf(0.975) == pytest.approx(1.959963984540054, abs=1e-14)
    assert normal_ppf(0.995) == pytest.approx(2.5758293035489, abs=1e-12)
    assert normal_ppf(0.5) == 0.0
    for p in (1e-12, 1e-5, 0.02, 0.3, 0.7, 0.98, 1 - 1e-9):
        assert normal_cdf(normal_ppf(p)) == pytest.approx(p, rel=1e-12)
    with pytest.raises(ValueError):
        normal_ppf(1.0)


def test_student_t_matches_tables_and_the_closed_forms_for_one_and_two_df():
    assert student_t_cdf(2.228, 10) == pytest.approx(0.975, abs=1e-4)
    assert student_t_ppf(0.975, 10) == pytest.approx(2.2281, abs=1e-4)
    assert student_t_ppf(0.995, 30) == pytest.approx(2.750, abs=1e-3)
    assert student_t_ppf(0.95, 5) == pytest.approx(2.015, abs=1e-3)
    assert student_t_ppf(0.025, 10) == pytest.approx(-2.2281, abs=1e-4)
    for t in (-40.0, -3.0, -0.5, 0.0, 0.1, 2.0, 12.7, 300.0):
        # df = 1 is the Cauchy distribution; df = 2 has an algebraic cdf.
        assert student_t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-14)
        assert student_t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-14)
    assert student_t_sf(300.0, 1) == pytest.approx(1 / (300 * math.pi), rel=1e-4)  # the far tail keeps digits
    assert student_t_ppf(0.975, 1) == pytest.approx(math.tan(math.pi * 0.475), rel=1e-12)
    # Large df tends to the normal (first-order correction phi(t)(t^3 + t) / (4 df)).
    phi2 = math.exp(-2.0) / math.sqrt(2 * math.pi)
    assert student_t_cdf(2.0, 1e6) == pytest.approx(normal_cdf(2.0) - phi2 * 10 / 4e6, abs=1e-10)
    for df in (1.5, 3, 17.776, 200):
        for p in (0.6, 0.9, 0.975, 0.9995):
            assert student_t_cdf(student_t_ppf(p, df), df) == pytest.approx(p, abs=1e-12)


def test_chi_square_matches_tables_and_closed_forms():
    assert chi2_cdf(3.841, 1) == pytest.approx(0.95, abs=1e-4)
    assert chi2_cdf(13.8155, 2) == pytest.approx(0.999, abs=1e-6)
    assert chi2_cdf(18.307, 10) == pytest.approx(0.95, abs=1e-5)
    assert chi2_cdf(6.635, 1) == pytest.approx(0.99, abs=1e-4)
    for x in (0.01, 0.5, 3.0, 20.0, 80.0):
        assert chi2_cdf(x, 1) == pytest.approx(math.erf(math.sqrt(x / 2)), abs=1e-14)
        assert chi2_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-13)
        # Even df: the upper tail is a Poisson sum.
        assert chi2_sf(x, 10) == pytest.approx(
            math.exp(-x / 2) * sum((x / 2) ** i / math.factorial(i) for i in range(5)), rel=1e-12
        )
    assert chi2_sf(100.0, 1) == pytest.approx(math.erfc(math.sqrt(50.0)), rel=1e-10)


def test_regularized_beta_identities():
    for x in (0.001, 0.3, 0.77, 0.999):
        assert regularized_beta(1, 1, x) == pytest.approx(x, abs=1e-15)
        assert regularized_beta(3.5, 1, x) == pytest.approx(x**3.5, rel=1e-12)
        assert regularized_beta(2.5, 4, x) + regularized_beta(4, 2.5, 1 - x) == pytest.approx(1.0, abs=1e-14)
    assert regularized_beta(40, 40, 0.5) == pytest.approx(0.5, abs=1e-14)


# --- conversion rate ----------------------------------------------------------


def test_wilson_interval_for_ten_of_a_hundred():
    ci = wilson_interval(10, 100)
    assert (round(ci.low, 4), round(ci.high, 4)) == (0.0552, 0.1744)
    assert wilson_interval(10, 100, z=1.959963984540054) == ci
    assert wilson_interval(10, 100, 0.99).low < ci.low  # wider at higher confidence
    zero = wilson_interval(0, 50)
    assert zero.low == 0.0 and 0.06 < zero.high < 0.08  # not the Wald interval's (0, 0)
    assert wilson_interval(0, 0) == Interval(0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


def test_two_proportion_test_pooled_z_and_newcombe_interval():
    result = two_proportion_test(100, 1000, 130, 1000)
    pooled = 230 / 2000
    z = 0.03 / math.sqrt(pooled * (1 - pooled) * 2 / 1000)
    assert result.z == pytest.approx(z, rel=1e-12)
    assert result.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-12)
    assert result.p_value == pytest.approx(0.0355, abs=1e-4)
    assert result.lift == pytest.approx(0.3)
    assert result.chance_to_beat > 0.97
    # Newcombe (1998), Table II, method 10: 56/70 - 48/80 and 9/10 - 3/10.
    ci = two_proportion_test(48, 80, 56, 70).difference_ci
    assert (round(ci.low, 4), round(ci.high, 4)) == (0.0524, 0.3339)
    ci = two_proportion_test(3, 10, 9, 10).difference_ci
    assert (round(ci.low, 4), round(ci.high, 4)) == (0.1705, 0.8090)
    ci = two_proportion_test(0, 10, 0, 20).difference_ci  # 0/10 - 0/20 there: -0.1611 to 0.2775
    assert (round(ci.low, 4), round(ci.high, 4)) == (-0.2775, 0.1611)
    same = two_proportion_test(50, 500, 50, 500)
    assert same.z == 0 and same.p_value == 1.0 and same.chance_to_beat == pytest.approx(0.5)
    assert two_proportion_test(0, 100, 0, 100).p_value == 1.0
    assert two_proportion_test(0, 100, 5, 100).lift is None


# --- revenue per person -----------------------------------------------------------

# R: t.test(extra ~ group, data = sleep) -> t = -1.8608, df = 17.776, p-value = 0.07939,
# 95 percent confidence interval -3.3654832 0.2054832 (group 1 minus group 2).
SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def test_welch_reproduces_r_on_the_sleep_data():
    result = welch_test_values(SLEEP_1, SLEEP_2)
    assert result.difference == pytest.approx(1.58)
    assert result.t == pytest.approx(1.8608, abs=1e-4)
    assert result.df == pytest.approx(17.776, abs=1e-3)
    assert result.p_value == pytest.approx(0.07939, abs=1e-5)
    assert result.difference_ci.low == pytest.approx(-0.2054832, abs=1e-7)
    assert result.difference_ci.high == pytest.approx(3.3654832, abs=1e-7)


def test_welch_from_summaries_is_the_exact_formula():
    a, b = Summary(n=400, mean=12.0, variance=900.0), Summary(n=250, mean=17.5, variance=2500.0)
    va, vb = 900 / 400, 2500 / 250
    df = (va + vb) ** 2 / (va**2 / 399 + vb**2 / 249)
    result = welch_test(a, b)
    assert result.t == pytest.approx(5.5 / math.sqrt(va + vb), rel=1e-12)
    assert result.df == pytest.approx(df, rel=1e-12)
    assert result.p_value == pytest.approx(2 * student_t_sf(result.t, df), rel=1e-12)
    assert result.difference_ci.high - 5.5 == pytest.approx(student_t_ppf(0.975, df) * math.sqrt(va + vb))
    assert result.p_value > 0.05 and result.difference_ci.contains(0.0)  # t = 5.5 / 3.5, not enough


def test_summaries_from_values_and_from_running_sums_agree():
    values = [0.0] * 900 + [19.9, 49.0, 120.5, 5.25] * 25
    from_values = Summary.of(values)
    from_sums = Summary.of_sums(len(values), sum(values), sum(v * v for v in values))
    assert from_sums.n == from_values.n
    assert from_sums.mean == pytest.approx(from_values.mean, rel=1e-12)
    assert from_sums.variance == pytest.approx(from_values.variance, rel=1e-9)
    constant = welch_test(Summary(5, 2.0, 0.0), Summary(5, 2.0, 0.0))
    assert constant.p_value == 1.0
    with pytest.raises(ValueError):
        welch_test(Summary(1, 2.0, 0.0), Summary(5, 2.0, 1.0))


# --- sample-ratio mismatch ------------------------------------------------------


def test_sample_ratio_mismatch():
    assert not sample_ratio_mismatch([5000, 5000], [50, 50]).mismatch
    flagged = sample_ratio_mismatch([5000, 5400], [50, 50])
    assert flagged.mismatch and flagged.chi2 == pytest.approx(2 * 200**2 / 5200)
    assert flagged.p_value == pytest.approx(chi2_sf(flagged.chi2, 1)) and flagged.p_value < 0.001
    assert not sample_ratio_mismatch([5000, 5150], [50, 50]).mismatch  # p ~ 0.14
    assert not sample_ratio_mismatch([1010, 9020], [10, 90]).mismatch
    assert sample_ratio_mismatch([1300, 9000], [10, 90]).mismatch
    three = sample_ratio_mismatch([3000, 3050, 2990], [1, 1, 1])
    assert three.df == 2 and not three.mismatch
    assert sample_ratio_mismatch([10, 3], [1, 0]).mismatch  # units in an arm meant to get none


# --- assignment ------------------------------------------------------------------


def test_bucket_is_the_documented_salted_sha256():
    digest = hashlib.sha256(b"exp-42:person-1").hexdigest()
    assert bucket("exp-42", "person-1") == int(digest[:15], 16) % 10_000
    assert bucket("exp-42", "person-1") == bucket("exp-42", "person-1")
    assert bucket("exp-43", "person-1") != bucket("exp-42", "person-1")  # the salt reshuffles


def test_assignment_proportions_over_100k_ids():
    ids = [f"person-{i}" for i in range(100_000)]
    counts = Counter(assign("exp-7", i, [("A", 1), ("B", 1)], holdout_pct=10) for i in ids)
    assert set(counts) == {"A", "B", HOLDOUT}
    for name, share in (("A", 0.45), ("B", 0.45), (HOLDOUT, 0.10)):
        assert counts[name] / len(ids) == pytest.approx(share, abs=0.006)  # about 4 standard errors
    assert not sample_ratio_mismatch([counts["A"], counts["B"], counts[HOLDOUT]], [45, 45, 10]).mismatch
    uneven = Counter(assign("exp-8", i, [("A", 1), ("B", 2), ("C", 7)]) for i in ids)
    assert not sample_ratio_mismatch([uneven["A"], uneven["B"], uneven["C"]], [1, 2, 7]).mismatch
    assert uneven["A"] / len(ids) == pytest.approx(0.1, abs=0.004)
    buckets = Counter(bucket("exp-7", i) // 1000 for i in ids)
    assert not sample_ratio_mismatch([buckets[k] for k in range(10)], [1] * 10).mismatch
    assert assign("exp-7", "person-1", [("A", 0), ("B", 0)]) is None
    assert assign("exp-7", "person-1", []) is None


def test_renaming_a_variant_or_changing_the_holdout_reassigns_nobody_else():
    ids = [f"u{i}" for i in range(20_000)]
    arms = [("control", 1), ("red", 1), ("blue", 1)]
    before = [assign("exp-9", i, arms, 10) for i in ids]
    renamed = [assign("exp-9", i, [("control", 1), ("crimson", 1), ("blue", 1)], 10) for i in ids]
    for old, new in zip(before, renamed, strict=True):
        assert new == ("crimson" if old == "red" else old)
    no_holdout = [assign("exp-9", i, arms) for i in ids]
    smaller_holdout = [assign("exp-9", i, arms, 5) for i in ids]
    for old, none_held, fewer_held in zip(before, no_holdout, smaller_holdout, strict=True):
        if old != HOLDOUT:
            assert none_held == fewer_held == old  # the holdout never moves anyone between variants
        else:
            assert fewer_held in (HOLDOUT, none_held)  # the 5% held out are among the 10%
    assert 0 < smaller_holdout.count(HOLDOUT) < before.count(HOLDOUT)
    # The journey service's holdout check is this one.
    assert [in_holdout("exp-9", i, 10) for i in ids] == [a == HOLDOUT for a in before]
    assert all(bucket("holdout:exp-9", i) < 1000 for i, a in zip(ids, before, strict=True) if a == HOLDOUT)


def test_assignment_refuses_bad_configurations():
    with pytest.raises(ValueError):
        assign("s", "u", [("A", -1), ("B", 50)])
    with pytest.raises(ValueError):
        assign("s", "u", [(HOLDOUT, 50)])
    with pytest.raises(ValueError):
        assign("s", "u", [("A", 1)], holdout_pct=101)


# --- lift against a holdout ---------------------------------------------------------


def test_relative_lift_over_a_holdout_by_the_log_ratio():
    # 9,000 treated at 12% against a 1,000-person holdout at 10%.
    lift = relative_lift(1080, 9000, 100, 1000)
    log_se = math.sqrt((1 - 0.12) / 1080 + (1 - 0.10) / 100)
    assert lift.estimate == pytest.approx(0.2)
    assert lift.ci.low == pytest.approx(1.2 * math.exp(-1.959963984540054 * log_se) - 1, rel=1e-12)
    assert lift.ci.high == pytest.approx(1.2 * math.exp(1.959963984540054 * log_se) - 1, rel=1e-12)
    assert lift.ci.low < 0 < lift.ci.high  # a 1,000-person holdout cannot show a 20% lift yet
    assert relative_lift(1200, 10_000, 1000, 10_000).ci.low > 0
    assert relative_lift(10, 100, 0, 100).estimate is None
    revenue = relative_lift_of_means(Summary(9000, 6.0, 400.0), Summary(1000, 5.0, 300.0))
    assert revenue.estimate == pytest.approx(0.2) and revenue.ci.low > -1


# --- compare ----------------------------------------------------------------------------


def test_compare_answers_what_an_api_shows():
    control = Arm(n=5000, conversions=500, revenue=25_000.0, revenue_of_squares=1_500_000.0)
    treatment = Arm(n=5000, conversions=650, revenue=33_000.0, revenue_of_squares=1_980_000.0)
    result = compare(control, treatment, sequential=SequentialTest(tau=tau_for(0.10)))
    assert result.control.rate == 0.1 and result.treatment.rate == 0.13
    assert result.control.rate_ci == wilson_interval(500, 5000)
    assert result.treatment.revenue_per_person == pytest.approx(6.6)
    assert result.lift.estimate == pytest.approx(0.3) and result.lift.ci.low > 0
    assert result.p_value == two_proportion_test(500, 5000, 650, 5000).p_value < 1e-5
    assert result.p_value < result.sequential_p_value < 0.05  # the price of being allowed to peek
    assert result.significant and result.significant_fixed_horizon
    assert result.revenue is not None and result.revenue.p_value < 0.05
    assert not result.srm.mismatch
    assert result.sequential.looks == 1
    again = compare(control, treatment, sequential=SequentialTest.from_dict(result.sequential.to_dict()))
    assert again.sequential.looks == 2

    lopsided = compare(Arm(5000, 500), Arm(5400, 540))
    assert lopsided.srm.mismatch and not lopsided.significant and lopsided.revenue_lift.estimate is None
    holdout = compare(Arm(1000, 100), Arm(9000, 1080), weights=(10, 90))
    assert not holdout.srm.mismatch and holdout.lift.estimate == pytest.approx(0.2)


# --- sequential test: simulations -------------------------------------------------------------

EXPERIMENTS = 1000
LOOKS = 100
PER_LOOK = 100  # exposures between looks (both arms together), each to an arm by a fair coin: about 50 per arm
BASE_RATE = 0.10


@cache
def simulated_looks(rate_a: float, rate_b: float, experiments: int, seed: int) -> list[list[tuple[int, int, int, int]]]:
    """Per experiment, the cumulative (conversions_a, n_a, conversions_b, n_b) at every look."""
    rng = np.random.default_rng(seed)
    n_a = rng.binomial(PER_LOOK, 0.5, size=(experiments, LOOKS))
    c_a = rng.binomial(n_a, rate_a)
    c_b = rng.binomial(PER_LOOK - n_a, rate_b)
    cum = [np.cumsum(x, axis=1).tolist() for x in (c_a, n_a, c_b, PER_LOOK - n_a)]
    return [list(zip(*(rows[e] for rows in cum), strict=True)) for e in range(experiments)]


def test_peeking_at_the_sequential_test_keeps_false_positives_within_alpha():
    """1,000 A/A experiments (10% in both arms), a look every 100 exposures up to 10,000:
    the share that EVER shows p < 0.05 stays within 5%, and so does the always-valid
    interval's miss rate."""
    runs = simulated_looks(BASE_RATE, BASE_RATE, EXPERIMENTS, 20261204)
    finals = [sequential_test(looks, tau=tau_for(BASE_RATE)) for looks in runs]
    ever_significant = sum(f.p_value < 0.05 for f in finals) / EXPERIMENTS
    assert all(f.looks == LOOKS for f in finals)
    assert ever_significant <= 0.05
    assert sum(not f.ci.contains(0.0) for f in finals) / EXPERIMENTS <= 0.05
    # A bolder tau (the mixing prior favouring 5-point differences) keeps the bound too.
    bold = sum(sequential_test(looks, tau=0.05).significant for looks in runs) / EXPERIMENTS
    assert bold <= 0.05
    print(f"A/A sequential: ever p < 0.05 in {ever_significant:.1%} (tau 0.01), {bold:.1%} (tau 0.05)")


def test_peeking_at_the_fixed_horizon_test_inflates_false_positives():
    """The same experiments read with the fixed-horizon z-test at every look: far above 5%."""
    runs = simulated_looks(BASE_RATE, BASE_RATE, EXPERIMENTS, 20261204)
    ever = sum(any(two_proportion_test(*look).p_value < 0.05 for look in looks) for looks in runs) / EXPERIMENTS
    at_the_end = sum(two_proportion_test(*looks[-1]).p_value < 0.05 for looks in runs) / EXPERIMENTS
    assert ever > 0.10
    assert at_the_end <= 0.07  # read once, as designed, it holds its level
    print(f"A/A fixed horizon: ever p < 0.05 in {ever:.1%}; at the planned end only {at_the_end:.1%}")


def test_sequential_test_finds_a_real_lift():
    """10% against 13%, about 5,000 per arm: rejected in nearly every run, and the
    always-valid interval covers the true difference."""
    runs = simulated_looks(0.10, 0.13, 200, 7)
    tau = tau_for(BASE_RATE, relative_effect=0.30)  # tau = the effect one hopes to detect
    finals = [sequential_test(looks, tau=tau) for looks in runs]
    power = sum(f.significant for f in finals) / len(finals)
    covered = sum(f.ci.contains(0.03) for f in finals) / len(finals)
    assert power >= 0.9
    assert covered >= 0.95
    print(f"10% vs 13%: sequential rejects in {power:.1%}; its interval covers +3 points in {covered:.1%}")


def test_sequential_state_is_a_running_minimum_and_round_trips():
    state = SequentialTest(tau=0.01)
    state = state.observe(1000, 10_000, 1300, 10_000)
    strong = state.p_value
    assert strong < 0.05 and not state.ci.contains(0.0)
    state = state.observe(2000, 20_000, 2010, 20_000)  # the evidence fades, the minimum stays
    assert state.p_value == strong and state.looks == 2
    assert SequentialTest.from_dict(state.to_dict()) == state
    assert SequentialTest(tau=0.01).observe(0, 100, 0, 100).p_value == 1.0
    with pytest.raises(ValueError):
        SequentialTest(tau=0.0)
    assert tau_for(0.1) == es.DEFAULT_RELATIVE_EFFECT * 0.1
