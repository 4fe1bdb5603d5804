"""Experiment statistics shared by journeys (A/B tests, holdouts) and analytics.

One pure module (the standard library's `math` and `hashlib`, nothing else) so
that the service that assigns people to arms and the service that reports on
them compute the same numbers, and so that it can be tested without servers.
SciPy is not a dependency: the normal, Student t and chi-square distribution
functions it would provide are implemented here (erfc; the regularized
incomplete beta and gamma functions by continued fractions, modified Lentz)
and the tests pin them to table values and closed forms.

What is here:
- assignment: `bucket`, `assign`, `in_holdout` (salted SHA-256, contiguous bucket ranges);
- conversion rate: `wilson_interval`, `two_proportion_test`;
- revenue per person: `welch_test`, `welch_test_values`;
- sample-ratio mismatch: `sample_ratio_mismatch`;
- peeking-safe conversion test: `SequentialTest` (mSPRT, always-valid p and CI);
- lift over a holdout: `relative_lift`, `relative_lift_of_means`;
- what an API shows: `compare`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

# ---------------------------------------------------------------------------
# Distribution functions
# ---------------------------------------------------------------------------

_SQRT2 = math.sqrt(2.0)
_EPS = 1e-15
_TINY = 1e-300
_MAX_ITERATIONS = 100_000


def normal_cdf(x: float) -> float:
    """P(Z <= x) for a standard normal Z. Through erfc so that far tails keep their digits."""
    return 0.5 * math.erfc(-x / _SQRT2)


def normal_sf(x: float) -> float:
    """P(Z > x); the tail directly, not 1 - cdf, which is 0 beyond x of about 8."""
    return 0.5 * math.erfc(x / _SQRT2)


def normal_ppf(p: float) -> float:
    """The x with normal_cdf(x) == p, for 0 < p < 1.

    Acklam's rational approximation (relative error 1.2e-9) polished by one
    Halley step on erfc, which brings it to about machine precision.
    """
    if not 0.0 < p < 1.0:
        raise ValueError("p must be strictly between 0 and 1")
    a = (
        -3.969683028665376e01,
        2.209460984245205e02,
        -2.759285104469687e02,
        1.383577518672690e02,
        -3.066479806614716e01,
        2.506628277459239e00,
    )
    b = (
        -5.447609879822406e01,
        1.615858368580409e02,
        -1.556989798598866e02,
        6.680131188771972e01,
        -1.328068155288572e01,
    )
    c = (
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e00,
        -2.549732539343734e00,
        4.374664141464968e00,
        2.938163982698783e00,
    )
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    low = 0.02425
    if p < low:
        q = math.sqrt(-2.0 * math.log(p))
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0
        )
    elif p <= 1.0 - low:
        q = p - 0.5
        r = q * q
        x = (
            (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5])
            * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0)
        )
    else:
        q = math.sqrt(-2.0 * math.log1p(-p))
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0
        )
    # Halley: the error measured on the side of the smaller tail, where it has digits.
    e = normal_cdf(x) - p if p < 0.5 else (1.0 - p) - normal_sf(x)
    u = e * math.sqrt(2.0 * math.pi) * math.exp(x * x / 2.0)
    return x - u / (1.0 + x * u / 2.0)


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) (Numerical Recipes `betacf`), by modified Lentz."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = _TINY if abs(d) < _TINY else d
    d = 1.0 / d
    h = d
    for m in range(1, _MAX_ITERATIONS):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            return h
    raise ArithmeticError(f"incomplete beta did not converge (a={a}, b={b}, x={x})")


def regularized_beta(a: float, b: float, x: float, y: float | None = None) -> float:
    """I_x(a, b), the regularized incomplete beta function.

    `y` is 1 - x when the caller knows it more precisely than 1 - x can be
    computed (x near 1). The fraction converges fast for x < (a+1)/(a+b+2);
    beyond that the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) is used.
    """
    if y is None:
        y = 1.0 - x
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(y)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, y) / b


def _student_t_two_tails(t: float, df: float) -> float:
    """P(|T| > |t|) = I_{df/(df+t^2)}(df/2, 1/2), with 1 - x passed exactly."""
    t2 = t * t
    return regularized_beta(df / 2.0, 0.5, df / (df + t2), t2 / (df + t2))


def student_t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with `df` (real, > 0) degrees of freedom."""
    if df <= 0:
        raise ValueError("df must be positive")
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    half = 0.5 * _student_t_two_tails(t, df)
    return half if t > 0 else 1.0 - half


def student_t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` (real, > 0) degrees of freedom."""
    return student_t_sf(-t, df)


def student_t_ppf(p: float, df: float) -> float:
    """The t with student_t_cdf(t, df) == p: bracketed Newton on the smaller tail."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must be strictly between 0 and 1")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -student_t_ppf(1.0 - p, df)
    tail = 1.0 - p
    lo, hi = 0.0, max(1.0, normal_ppf(p))
    while student_t_sf(hi, df) > tail:
        lo, hi = hi, hi * 2.0
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    t = (lo + hi) / 2.0
    for _ in range(200):
        err = student_t_sf(t, df) - tail  # decreasing in t
        if abs(err) <= 1e-15 * tail:
            break
        if err > 0:
            lo = t
        else:
            hi = t
        if hi - lo <= 1e-15 * hi:
            break
        density = math.exp(log_norm - (df + 1) / 2 * math.log1p(t * t / df))
        step = t + err / density if density > 0 else (lo + hi) / 2.0
        t = step if lo <= step <= hi else (lo + hi) / 2.0
    return t


def regularized_gamma_q(a: float, x: float) -> float:
    """Q(a, x) = Gamma(a, x) / Gamma(a), the regularized upper incomplete gamma function.

    Series for P when x < a + 1 (where it converges fast), continued fraction
    (modified Lentz) for Q otherwise, so the small upper tails keep their digits.
    """
    if a <= 0:
        raise ValueError("a must be positive")
    if x <= 0.0:
        return 1.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        ap = a
        for _ in range(_MAX_ITERATIONS):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * _EPS:
                return 1.0 - total * math.exp(log_front)
        raise ArithmeticError(f"incomplete gamma series did not converge (a={a}, x={x})")
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITERATIONS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            return math.exp(log_front) * h
    raise ArithmeticError(f"incomplete gamma fraction did not converge (a={a}, x={x})")


def chi2_sf(x: float, df: float) -> float:
    """P(X > x) for a chi-square X with `df` degrees of freedom."""
    return regularized_gamma_q(df / 2.0, x / 2.0)


def chi2_cdf(x: float, df: float) -> float:
    """P(X <= x) for a chi-square X with `df` degrees of freedom."""
    return 1.0 - chi2_sf(x, df)


# ---------------------------------------------------------------------------
# Assignment
# ---------------------------------------------------------------------------

BUCKETS = 10_000
HOLDOUT = "holdout"


def bucket(salt: str, unit_id: str) -> int:
    """The unit's bucket in [0, BUCKETS): SHA-256 of f"{salt}:{unit_id}", first 15 hex digits mod 10000.

    Deterministic across processes and languages (no Python `hash`, which is
    randomized per process), so any replica or a later report finds the same
    arm. 15 hex digits are 60 bits; 2^60 mod 10000 = 6976, so buckets below
    6976 get one more of the 2^60 hash values than the others: a bias of about
    1e-14, nothing. The salt should be the experiment's own id: with a salt
    shared between experiments the same people would land in the same ranges
    in each of them, and their effects would be confounded.
    """
    digest = hashlib.sha256(f"{salt}:{unit_id}".encode()).hexdigest()
    return int(digest[:15], 16) % BUCKETS


def in_holdout(salt: str, unit_id: str, holdout_pct: float) -> bool:
    """Whether the unit is in the lowest `holdout_pct` percent of buckets of the salt "holdout:{salt}".

    Its own salt, so that who is held out is independent of who gets which
    variant: changing the holdout share then moves units only between the
    holdout and their one variant, and the variants keep their proportions
    among everyone else. Shares nest: the 5% held out are among the 10%.
    """
    if not 0.0 <= holdout_pct <= 100.0:
        raise ValueError("holdout_pct must be within [0, 100]")
    return holdout_pct > 0 and bucket(f"holdout:{salt}", unit_id) < holdout_pct * BUCKETS / 100.0


def variant_ends(variants: Sequence[tuple[str, float]]) -> list[tuple[str, int]]:
    """Each variant's exclusive end bucket, in order: contiguous ranges proportional to the weights."""
    total = 0.0
    for name, weight in variants:
        if weight < 0 or math.isnan(weight):
            raise ValueError(f"variant {name!r} has a negative weight")
        if name == HOLDOUT:
            raise ValueError(f"{HOLDOUT!r} is reserved for the holdout")
        total += weight
    if total <= 0:
        return []
    ends, cumulative = [], 0.0
    for name, weight in variants:
        cumulative += weight
        ends.append((name, round(cumulative / total * BUCKETS)))
    return ends


def assign(salt: str, unit_id: str, variants: Sequence[tuple[str, float]], holdout_pct: float = 0.0) -> str | None:
    """The unit's variant name, HOLDOUT, or None when no variant has weight (nothing to assign).

    `holdout_pct` is a percentage of all units (see `in_holdout`); weights are
    relative (1:1, 45:45, 2:1 alike) and split everyone not held out. The
    variants take contiguous ranges of the unit's bucket from 0 upwards, in
    the order given.

    Why: a unit's bucket depends only on the salt and its id, and a range
    only on the weights, so renaming a variant moves nobody; the holdout is a
    separate hash, so changing it never moves anyone from one variant to
    another. Changing a weight moves units only between neighbouring ranges
    from that variant on, so add new variants at the end.
    """
    ends = variant_ends(variants)
    if in_holdout(salt, unit_id, holdout_pct):
        return HOLDOUT
    b = bucket(salt, unit_id)
    for name, end in ends:
        if b < end:
            return name
    return None


# ---------------------------------------------------------------------------
# Conversion rate
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def z_for(confidence: float) -> float:
    """The two-sided critical z for a confidence level (0.95 -> 1.95996...)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be strictly between 0 and 1")
    return normal_ppf(0.5 + confidence / 2.0)


def wilson_interval(successes: int, n: int, confidence: float = 0.95, *, z: float | None = None) -> Interval:
    """Wilson score interval for a proportion.

    Not the Wald interval p +- z*sqrt(p(1-p)/n): that one collapses to a point
    at 0 or n successes and undercovers at the small counts an experiment's
    first days have; Wilson stays within [0, 1] and covers close to nominal.
    With n == 0 nothing is known: (0, 1).
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError("need 0 <= successes <= n")
    if n == 0:
        return Interval(0.0, 1.0)
    z = z_for(confidence) if z is None else z
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z / (1.0 + z2n) * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n))
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class ProportionTest:
    """Treatment (B) against control (A) on a conversion rate.

    z and p_value come from the pooled two-proportion z-test (the variance
    under the null hypothesis that both rates are equal). `difference` is
    rate_b - rate_a and `difference_ci` is Newcombe's hybrid score interval
    (unpooled; built from the two Wilson intervals): unlike Wald it keeps its
    coverage at small counts and rates near 0. `lift` is (rate_b - rate_a) /
    rate_a, None when control has no conversions. `chance_to_beat` is the
    posterior probability that B's rate exceeds A's under uniform Beta(1, 1)
    priors, by the normal approximation of the two Beta posteriors (accurate
    once each arm has a few dozen units).
    """

    rate_a: float
    rate_b: float
    difference: float
    difference_ci: Interval
    lift: float | None
    z: float
    p_value: float
    chance_to_beat: float


def two_proportion_test(
    conversions_a: int, n_a: int, conversions_b: int, n_b: int, confidence: float = 0.95
) -> ProportionTest:
    if n_a <= 0 or n_b <= 0:
        raise ValueError("both arms need at least one unit")
    pa, pb = conversions_a / n_a, conversions_b / n_b
    pooled = (conversions_a + conversions_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b))
    if se > 0:
        z = (pb - pa) / se
        p_value = min(1.0, 2.0 * normal_sf(abs(z)))
    else:  # nobody or everybody converted in both arms: no evidence of a difference
        z, p_value = 0.0, 1.0
    zc = z_for(confidence)
    wa, wb = wilson_interval(conversions_a, n_a, z=zc), wilson_interval(conversions_b, n_b, z=zc)
    d = pb - pa
    ci = Interval(
        d - math.sqrt((pb - wb.low) ** 2 + (wa.high - pa) ** 2), d + math.sqrt((wb.high - pb) ** 2 + (pa - wa.low) ** 2)
    )
    return ProportionTest(
        rate_a=pa,
        rate_b=pb,
        difference=d,
        difference_ci=ci,
        lift=(d / pa) if pa > 0 else None,
        z=z,
        p_value=p_value,
        chance_to_beat=_chance_to_beat(conversions_a, n_a, conversions_b, n_b),
    )


def _beta_moments(successes: int, n: int) -> tuple[float, float]:
    a, b = successes + 1.0, n - successes + 1.0
    return a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1.0))


def _chance_to_beat(conversions_a: int, n_a: int, conversions_b: int, n_b: int) -> float:
    mean_a, var_a = _beta_moments(conversions_a, n_a)
    mean_b, var_b = _beta_moments(conversions_b, n_b)
    return normal_cdf((mean_b - mean_a) / math.sqrt(var_a + var_b))


# ---------------------------------------------------------------------------
# Revenue per person: Welch's t-test
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """What a mean's test needs from one arm: count, mean, sample variance (n - 1 denominator)."""

    n: int
    mean: float
    variance: float

    @classmethod
    def of(cls, values: Iterable[float]) -> "Summary":
        """Two passes (mean first, then squared deviations): no cancellation as with sum of squares."""
        xs = list(values)
        n = len(xs)
        if n == 0:
            return cls(0, 0.0, 0.0)
        mean = math.fsum(xs) / n
        variance = math.fsum((x - mean) ** 2 for x in xs) / (n - 1) if n > 1 else 0.0
        return cls(n, mean, variance)

    @classmethod
    def of_sums(cls, n: int, total: float, total_of_squares: float) -> "Summary":
        """From running sums, which is what a store can aggregate (Mongo $sum of x and x*x).

        People who did not buy count with 0: they add to n and to neither sum.
        The one-pass formula loses digits only when the variance is tiny
        against the mean squared, which revenue per person never is; clamped at 0.
        """
        if n == 0:
            return cls(0, 0.0, 0.0)
        mean = total / n
        variance = max(0.0, (total_of_squares - total * mean) / (n - 1)) if n > 1 else 0.0
        return cls(n, mean, variance)


@dataclass(frozen=True)
class WelchTest:
    """Mean of B minus mean of A, by Welch's unequal-variances t-test.

    Welch and not Student's pooled test because revenue per person has very
    different variances between arms whenever the treatment changes who buys;
    Welch keeps its level then, and loses almost nothing when they are equal.
    df is the Welch-Satterthwaite approximation (real-valued); p_value is
    two-sided from the Student t distribution with that df; `difference_ci`
    is difference +- t_{1-alpha/2, df} * se.
    """

    mean_a: float
    mean_b: float
    difference: float
    difference_ci: Interval
    se: float
    t: float
    df: float
    p_value: float


def welch_test(a: Summary, b: Summary, confidence: float = 0.95) -> WelchTest:
    if a.n < 2 or b.n < 2:
        raise ValueError("each arm needs at least two values for a variance")
    va, vb = a.variance / a.n, b.variance / b.n
    se = math.sqrt(va + vb)
    d = b.mean - a.mean
    if se == 0.0:  # both arms constant: the difference is exact
        exact = Interval(d, d)
        return WelchTest(
            a.mean,
            b.mean,
            d,
            exact,
            0.0,
            0.0 if d == 0 else math.copysign(math.inf, d),
            math.inf,
            1.0 if d == 0 else 0.0,
        )
    df = (va + vb) ** 2 / (va * va / (a.n - 1) + vb * vb / (b.n - 1))
    t = d / se
    p_value = min(1.0, 2.0 * student_t_sf(abs(t), df))
    half = student_t_ppf(0.5 + confidence / 2.0, df) * se
    return WelchTest(a.mean, b.mean, d, Interval(d - half, d + half), se, t, df, p_value)


def welch_test_values(a: Iterable[float], b: Iterable[float], confidence: float = 0.95) -> WelchTest:
    """welch_test from the raw values of each arm (include the zeros of people who did not buy)."""
    return welch_test(Summary.of(a), Summary.of(b), confidence)


# ---------------------------------------------------------------------------
# Sample-ratio mismatch
# ---------------------------------------------------------------------------

SRM_ALPHA = 0.001


@dataclass(frozen=True)
class SampleRatioMismatch:
    """Chi-square goodness of fit of the arms' counts against the intended split.

    A mismatch means assignment or exposure logging is broken (a variant that
    crashes before it logs, bots filtered in one arm only): the comparison is
    then biased whatever its p-value, so results should not be shown as valid.
    The threshold is 0.001, not 0.05, because the check runs at every look of
    every experiment and a false alarm discards a good experiment.
    """

    chi2: float
    df: int
    p_value: float
    mismatch: bool


def sample_ratio_mismatch(
    observed: Sequence[int], weights: Sequence[float], alpha: float = SRM_ALPHA
) -> SampleRatioMismatch:
    """`weights` in any unit (percentages, shares); arms with weight 0 must have no units."""
    if len(observed) != len(weights) or len(observed) < 2:
        raise ValueError("need one weight per arm and at least two arms")
    total, weight_total = sum(observed), float(sum(weights))
    if weight_total <= 0:
        raise ValueError("weights must add up to more than 0")
    if total == 0:
        return SampleRatioMismatch(0.0, len(observed) - 1, 1.0, False)
    chi2 = 0.0
    for count, weight in zip(observed, weights, strict=True):
        expected = total * weight / weight_total
        if expected == 0:
            if count:
                return SampleRatioMismatch(math.inf, len(observed) - 1, 0.0, True)
            continue
        chi2 += (count - expected) ** 2 / expected
    df = len(observed) - 1
    p_value = chi2_sf(chi2, df)
    return SampleRatioMismatch(chi2, df, p_value, p_value < alpha)


# ---------------------------------------------------------------------------
# Always-valid (sequential) test of two conversion rates: mSPRT
# ---------------------------------------------------------------------------

DEFAULT_RELATIVE_EFFECT = 0.10


def tau_for(baseline_rate: float, relative_effect: float = DEFAULT_RELATIVE_EFFECT) -> float:
    """A mixing standard deviation for SequentialTest: the absolute difference one hopes to detect.

    The mSPRT is most powerful for effects near tau (Johari et al. fit tau
    to the effects of past experiments; without that history, the smallest
    effect worth acting on is the honest choice): for a 10% baseline and a
    10% relative lift, tau = 0.01. A wrong tau costs power, never validity.
    """
    if not 0.0 < baseline_rate < 1.0 or relative_effect <= 0:
        raise ValueError("need 0 < baseline_rate < 1 and relative_effect > 0")
    return baseline_rate * relative_effect


@dataclass(frozen=True)
class SequentialTest:
    """Always-valid test of rate_b - rate_a = 0: mixture SPRT with a normal mixing prior.

    Johari, Pekelis, Koomen, Walsh, "Always Valid Inference: Continuous
    Monitoring of A/B Tests" (Optimizely's Stats Engine). At each look, with
    the difference d = rate_b - rate_a and its variance V, the likelihood
    ratio of "difference ~ N(0, tau^2)" against "difference = 0", in the
    normal approximation, is

        Lambda = sqrt(V / (V + tau^2)) * exp(d^2 tau^2 / (2 V (V + tau^2)))

    Under the null Lambda is a nonnegative martingale, so by Ville's
    inequality P(Lambda ever >= 1/alpha) <= alpha: p = min over looks of
    1/Lambda may be read after every exposure and acted on whenever it drops
    below alpha, with the false-positive rate still at most alpha. A
    fixed-horizon p-value read that way is not (the test file measures both).

    V for the p-value is the pooled variance (the variance if the null is
    true, as in the fixed-horizon z-test); for the interval it is the
    unpooled one. The always-valid interval at a look is every difference
    d0 whose Lambda(d0) stays below 1/alpha:

        d +- sqrt(V (V + tau^2) / tau^2 * (2 log(1/alpha) + log((V + tau^2) / V)))

    and `ci` is the intersection of those over the looks (valid for the same
    reason), starting at [-1, 1]. Should an intersection come out empty,
    which only the alpha-probability failure can cause, the look's own
    interval is kept.

    tau is fixed before the data are seen (see `tau_for`); choosing it from
    the data would void the guarantee. Immutable: `observe` answers the next
    state, which a service stores between looks (`to_dict`, `from_dict`).
    """

    tau: float
    alpha: float = 0.05
    looks: int = 0
    p_value: float = 1.0
    ci: Interval = Interval(-1.0, 1.0)
    difference: float = 0.0

    def __post_init__(self) -> None:
        if self.tau <= 0 or not 0.0 < self.alpha < 1.0:
            raise ValueError("need tau > 0 and 0 < alpha < 1")

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    def to_dict(self) -> dict[str, float | int]:
        """Flat plain numbers, for a document store or JSON."""
        return {
            "tau": self.tau,
            "alpha": self.alpha,
            "looks": self.looks,
            "p_value": self.p_value,
            "ci_low": self.ci.low,
            "ci_high": self.ci.high,
            "difference": self.difference,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "SequentialTest":
        return cls(
            tau=data["tau"],
            alpha=data["alpha"],
            looks=data["looks"],
            p_value=data["p_value"],
            ci=Interval(data["ci_low"], data["ci_high"]),
            difference=data["difference"],
        )

    def observe(self, conversions_a: int, n_a: int, conversions_b: int, n_b: int) -> "SequentialTest":
        """The state after a look at the CUMULATIVE counts so far (not the increments)."""
        if n_a <= 0 or n_b <= 0:
            return replace(self, looks=self.looks + 1)
        pa, pb = conversions_a / n_a, conversions_b / n_b
        d = pb - pa
        tau2 = self.tau * self.tau
        p_value = self.p_value
        pooled = (conversions_a + conversions_b) / (n_a + n_b)
        v = pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)
        if v > 0:  # with no conversions (or only conversions) in both arms there is no evidence yet
            log_lambda = 0.5 * math.log(v / (v + tau2)) + d * d * tau2 / (2.0 * v * (v + tau2))
            p_value = min(p_value, math.exp(-log_lambda) if log_lambda > 0 else 1.0)
        ci = self.ci
        v = pa * (1.0 - pa) / n_a + pb * (1.0 - pb) / n_b
        if v > 0:
            half = math.sqrt(v * (v + tau2) / tau2 * (2.0 * math.log(1.0 / self.alpha) + math.log((v + tau2) / v)))
            low, high = max(ci.low, d - half), min(ci.high, d + half)
            ci = Interval(low, high) if low <= high else Interval(d - half, d + half)
        return replace(self, looks=self.looks + 1, p_value=p_value, ci=ci, difference=d)


def sequential_test(looks: Iterable[tuple[int, int, int, int]], tau: float, alpha: float = 0.05) -> SequentialTest:
    """SequentialTest over looks of cumulative (conversions_a, n_a, conversions_b, n_b)."""
    state = SequentialTest(tau=tau, alpha=alpha)
    for look in looks:
        state = state.observe(*look)
    return state


# ---------------------------------------------------------------------------
# Relative lift (treatment over control or over a holdout)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Lift:
    """Relative lift of treatment over its reference, treatment / reference - 1, with an interval.

    The interval is the delta method on the log of the ratio (Katz's
    log method for a risk ratio), exponentiated back: a ratio's sampling
    distribution is skewed and the log makes it close to normal, and the
    interval cannot go below -100%. Fieller's interval is exact for a ratio
    of normals but can be unbounded; with the sample sizes of experiments the
    two agree. None when the ratio or its log is undefined (no conversions
    in an arm, a nonpositive mean).
    """

    estimate: float | None
    ci: Interval | None


def _log_ratio_lift(ratio: float, log_se: float, confidence: float) -> Lift:
    z = z_for(confidence)
    log_ratio = math.log(ratio)
    return Lift(ratio - 1.0, Interval(math.exp(log_ratio - z * log_se) - 1.0, math.exp(log_ratio + z * log_se) - 1.0))


def relative_lift(
    conversions_treated: int, n_treated: int, conversions_reference: int, n_reference: int, confidence: float = 0.95
) -> Lift:
    """Lift of a conversion rate: var(log p) ~ (1 - p) / conversions for each arm."""
    if n_treated <= 0 or n_reference <= 0 or conversions_reference <= 0:
        return Lift(None, None)
    pt, pr = conversions_treated / n_treated, conversions_reference / n_reference
    if conversions_treated <= 0:
        return Lift(-1.0, None)
    log_se = math.sqrt((1.0 - pt) / conversions_treated + (1.0 - pr) / conversions_reference)
    return _log_ratio_lift(pt / pr, log_se, confidence)


def relative_lift_of_means(treated: Summary, reference: Summary, confidence: float = 0.95) -> Lift:
    """Lift of a mean (revenue per person): var(log mean) ~ variance / (n * mean^2) for each arm."""
    if treated.n < 2 or reference.n < 2 or treated.mean <= 0 or reference.mean <= 0:
        return Lift(None, None)
    log_se = math.sqrt(
        treated.variance / (treated.n * treated.mean**2) + reference.variance / (reference.n * reference.mean**2)
    )
    return _log_ratio_lift(treated.mean / reference.mean, log_se, confidence)


# ---------------------------------------------------------------------------
# What an API shows
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Arm:
    """One arm's running totals, what a store aggregates per experiment and arm.

    n counts exposed units; revenue sums are over units (a person's revenue
    summed first, then squared), so people without revenue add nothing.
    """

    n: int
    conversions: int
    revenue: float = 0.0
    revenue_of_squares: float = 0.0

    def revenue_summary(self) -> Summary:
        return Summary.of_sums(self.n, self.revenue, self.revenue_of_squares)


@dataclass(frozen=True)
class ArmReport:
    n: int
    conversions: int
    rate: float
    rate_ci: Interval
    revenue_per_person: float


@dataclass(frozen=True)
class Comparison:
    """Treatment against control (or against a holdout), as one response.

    `p_value` is the fixed-horizon z-test: valid only if read once, at the
    sample size fixed in advance. `sequential_p_value` is the always-valid
    one: it may be read at every look. `significant` therefore uses the
    sequential p-value; `significant_fixed_horizon` is there for experiments
    analysed once at their planned end. `sequential` is the test's state to
    store and pass to the next `compare`. When `srm.mismatch` is true the
    arms are not comparable and no result should be presented as valid.
    """

    control: ArmReport
    treatment: ArmReport
    conversion: ProportionTest
    lift: Lift
    revenue: WelchTest | None
    revenue_lift: Lift
    p_value: float
    sequential_p_value: float
    sequential: SequentialTest
    alpha: float
    significant: bool
    significant_fixed_horizon: bool
    srm: SampleRatioMismatch


def compare(
    control: Arm,
    treatment: Arm,
    *,
    alpha: float = 0.05,
    weights: tuple[float, float] = (1.0, 1.0),
    sequential: SequentialTest | None = None,
) -> Comparison:
    """Compare two arms' cumulative totals; intervals are at confidence 1 - alpha.

    `weights` is the intended split of control to treatment (the assign
    weights, e.g. (10, 90) for a 10% holdout against everyone treated), for
    the sample-ratio check. `sequential` is the state from the previous look;
    create it when the experiment starts, with tau from the baseline rate
    expected then (`tau_for`). Without it, this look alone is tested with
    tau from the control's observed rate: a single look's 1/Lambda is still
    a valid p-value, but tau taken from the data makes that approximate, and
    without the looks before, the running minimum is lost.
    """
    if control.n <= 0 or treatment.n <= 0:
        raise ValueError("both arms need exposed units")
    confidence = 1.0 - alpha
    z = z_for(confidence)
    conversion = two_proportion_test(control.conversions, control.n, treatment.conversions, treatment.n, confidence)
    if sequential is None:
        sequential = SequentialTest(tau=tau_for(min(max(control.conversions / control.n, 0.001), 0.999)), alpha=alpha)
    sequential = sequential.observe(control.conversions, control.n, treatment.conversions, treatment.n)
    control_revenue, treatment_revenue = control.revenue_summary(), treatment.revenue_summary()
    revenue = None
    if control.n >= 2 and treatment.n >= 2:
        revenue = welch_test(control_revenue, treatment_revenue, confidence)

    def report(arm: Arm, summary: Summary) -> ArmReport:
        return ArmReport(
            arm.n, arm.conversions, arm.conversions / arm.n, wilson_interval(arm.conversions, arm.n, z=z), summary.mean
        )

    return Comparison(
        control=report(control, control_revenue),
        treatment=report(treatment, treatment_revenue),
        conversion=conversion,
        lift=relative_lift(treatment.conversions, treatment.n, control.conversions, control.n, confidence),
        revenue=revenue,
        revenue_lift=relative_lift_of_means(treatment_revenue, control_revenue, confidence),
        p_value=conversion.p_value,
        sequential_p_value=sequential.p_value,
        sequential=sequential,
        alpha=alpha,
        significant=sequential.p_value < alpha,
        significant_fixed_horizon=conversion.p_value < alpha,
        srm=sample_ratio_mismatch([control.n, treatment.n], list(weights)),
    )


# -- what the journey service and analytics both answer ------------------------------------------
# The sequential test's mixing scale is fixed at the first look and kept. Campaign effects worth
# acting on are lifts of tens of percent on baselines of a few percent, so tau is 30% of the
# baseline (the control's rate once it has CAMPAIGN_MIN_BASELINE_N people, else 5%), and never
# under three points. Measured: with tau 0.02 a creative converting 59% against 5% on 80 people an
# arm was not significant (p 0.16; 0.02 with tau 0.03), while 5% -> 7% on 2,000 an arm is 0.13 to
# 0.17 for any tau from 0.01 to 0.03. A wrong tau costs power, never validity.
CAMPAIGN_RELATIVE_EFFECT = 0.3
CAMPAIGN_MIN_TAU = 0.03
CAMPAIGN_MIN_BASELINE_N = 30
CAMPAIGN_DEFAULT_BASELINE = 0.05


def campaign_tau(control: Arm) -> float:
    """The sequential test's tau for a campaign experiment, from the control arm at the first look."""
    n = control.n
    baseline = control.conversions / n if n >= CAMPAIGN_MIN_BASELINE_N else CAMPAIGN_DEFAULT_BASELINE
    return max(CAMPAIGN_MIN_TAU, tau_for(min(max(baseline, 0.001), 0.999), CAMPAIGN_RELATIVE_EFFECT))


def interval_doc(value: Interval | None) -> dict | None:
    return None if value is None else {"low": value.low, "high": value.high}


def comparison_doc(arm: str, against: str, c: Comparison) -> dict:
    """One arm against another as plain values (snake_case keys), as both services answer it."""
    return {
        "arm": arm,
        "against": against,
        "lift": c.lift.estimate,
        "lift_interval": interval_doc(c.lift.ci),
        "difference": c.conversion.difference,
        "difference_interval": interval_doc(c.conversion.difference_ci),
        "p_value": c.p_value,
        "sequential_p_value": c.sequential_p_value,
        "significant": c.significant,
        "significant_fixed_horizon": c.significant_fixed_horizon,
        "chance_to_beat": c.conversion.chance_to_beat,
        "revenue_difference": c.revenue.difference if c.revenue else None,
        "revenue_p_value": c.revenue.p_value if c.revenue else None,
        "revenue_lift": c.revenue_lift.estimate,
        "sample_ratio_mismatch": c.srm.mismatch,
        "sample_ratio_p_value": c.srm.p_value,
    }
