"""Words that respect noise. The book calls a difference an effect only when it exceeds its standard error
times the critical value for its degrees of freedom; otherwise it says the difference cannot be told apart from
zero at this scale, and how much more data would settle it.

A mean over seeds has two sources of error:
- the test images are a sample. For an accuracy this is the binomial sqrt(p (1 - p) / n); for a mean
  loss, the spread of the per-image values over sqrt(n). Every seed is scored on the same images, so
  this part does not shrink with more seeds, and it is known (infinite degrees of freedom);
- training is random: the spread over seeds, sd / sqrt(seeds), estimated from k seeds with k - 1 degrees of
  freedom, and unknown with one seed.
The combined error is judged with the seeds' k - 1 degrees of freedom (`seeds_df` says why not Welch and
Satterthwaite's), and the critical value is Student's t for them (two-sided 5%), never below Z = 2, the line for
an error that is known. With two seeds that is 12.7 standard errors, not 2: a rule of "twice the error" would call
a true null an effect about a third of the time there (tests/test_stats.py simulates it).

One seed speaks for one trained model: its error is the test images' alone, and nothing it shows is a
statement about the training procedure, whose spread over seeds one seed cannot measure. Its words say so.

A difference of two accuracies adds the binomial parts of both. They are measured on the same images,
which can only make the true error smaller, so the words err on the side of "cannot be told apart"; where a
record keeps each model's right-or-wrong per image, `paired_gap_se` gives the paired error instead.
"""

import functools
import math
import statistics
from dataclasses import dataclass

Z = 2.0  # the line for an error that is known (the test images' binomial error): two-sided 4.6%


def _beta_fraction(a, b, x):
    """The continued fraction of the regularized incomplete beta function (modified Lentz)."""
    tiny = 1e-300

    def clamp(v):
        return v if abs(v) > tiny else tiny

    c, d = 1.0, 1 / clamp(1 - (a + b) * x / (a + 1))
    h = d
    for m in range(1, 500):
        aa = m * (b - m) * x / ((a - 1 + 2 * m) * (a + 2 * m))
        d, c = 1 / clamp(1 + aa * d), clamp(1 + aa / c)
        h *= d * c
        aa = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 1 + 2 * m))
        d, c = 1 / clamp(1 + aa * d), clamp(1 + aa / c)
        h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return h


def incomplete_beta(a, b, x):
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _beta_fraction(a, b, x) / a
    return 1 - front * _beta_fraction(b, a, 1 - x) / b


def t_cdf(t, df):
    """Student's t distribution function with df (> 0, possibly fractional or infinite) degrees of freedom."""
    if math.isinf(df):
        return statistics.NormalDist().cdf(t)
    tail = 0.5 * incomplete_beta(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t > 0 else tail


def t_quantile(p, df):
    """The p-quantile (p > 0.5) of Student's t with df degrees of freedom, by bisection."""
    if math.isinf(df):
        return statistics.NormalDist().inv_cdf(p)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2


@functools.lru_cache(maxsize=4096)  # a bisection over the t distribution: the settle counts ask it many times
def critical(df):
    """How many standard errors make an effect, for an error with df degrees of freedom: Student's t for a
    two-sided 5%, and never below Z."""
    return max(Z, t_quantile(0.975, df))


def noise_rule():
    """The book's noise rule in words, for each page's "This build's run" (its t values computed here)."""
    t = {k: critical(seeds_df(k)) for k in (2, 3, 5)}
    return ("A ± after a number is one standard error (binomial on the test images, plus the spread over seeds when "
            "there are several), and a difference is called an effect only when it exceeds its standard error times "
            f"Student's t for its seeds ({Z:g} when the error is the test images' alone, {t[2]:.1f} with two seeds, "
            f"{t[3]:.1f} with three, {t[5]:.1f} with five); in a paper-scale table marked mean ± sd, the ± is the "
            "spread over seeds instead. A difference of two accuracies on the same test images "
            "takes its error image by image (paired) where the record keeps each image's answer. One seed speaks "
            "for one trained model, not for the training procedure.")


def seeds_df(k):
    """Degrees of freedom of an error that includes the spread over k seeds: k - 1, for the whole error.

    Welch and Satterthwaite would give more (the test images' part is known), but their formula reads the
    degrees of freedom off the estimated spread, and two seeds that happen to agree make it look infinite:
    simulated at 10,000 test images with a true spread of 2 points, that rule called a true null an effect in
    12.5% of runs of 2 seeds. With k - 1 the rate stays under 5% for any mix of the two parts
    (tests/test_stats.py); the price is power where the test images' error dominates and seeds are few."""
    return k - 1 if k > 1 else math.inf


def seeds_text(n):
    """'1 seed', '3 seeds': how the pages count seeds."""
    return f"{n} seed{'s' if n != 1 else ''}"


def listed(names):
    """'a', 'a and b', 'a, b and c': how the pages list things in a sentence."""
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def binomial_se(p, n):
    """Standard error of an accuracy p measured on n test images. Two successes and two failures are
    added (Agresti and Coull), so that 100% on n images still carries an error of about 1/n."""
    if not n:
        return 0.0
    p = (p * n + 2) / (n + 4)
    return math.sqrt(p * (1 - p) / (n + 4))


@dataclass(frozen=True)
class Estimate:
    value: float  # the mean over seeds
    se: float  # its standard error (sampling of the test images and spread over seeds)
    null: float  # the value that means "no effect": zero for a difference, chance for an accuracy
    n_seeds: int
    seed_sd: float | None  # the spread over seeds; None with one seed
    df: float = math.inf  # degrees of freedom of se (seeds_df)

    @property
    def one_model(self):
        """One seed: a statement about one trained model, not about the training procedure."""
        return self.n_seeds < 2

    @property
    def critical(self):
        return critical(self.df)

    @property
    def is_effect(self):
        """Beyond its error times the critical value (for one seed: this one model, on its test images). Read
        off the t distribution function, which is cheaper than its quantile."""
        gap = abs(self.value - self.null)
        if self.se == 0:
            return gap > 0
        ratio = gap / self.se
        return ratio > Z and t_cdf(ratio, self.df) > 0.975

    @property
    def critical_line(self):
        """The critical value in words, as a multiple of the standard error: "twice" or "2.8 times"."""
        if self.critical == Z:
            return "twice"
        # Student's t for many seeds lies just above 2: two decimals keep it from reading as the test images' 2
        return f"{self.critical:.2f} times" if self.critical < 2.05 else f"{self.critical:.1f} times"

    @property
    def settle_factor(self):
        """How many times the test images and seeds it would take to find a difference this size 80% of the
        time (a standard error shrinks as one over the square root of the data, and with more seeds the critical
        line falls towards 2): at the factor that only reaches the critical line, a rerun would pass it half the
        time."""
        gap = abs(self.value - self.null)
        if gap == 0:
            return math.inf

        def finds(factor):  # with `factor` times the seeds, the critical line falls too
            df = seeds_df(math.ceil(self.n_seeds * factor)) if self.n_seeds > 1 else self.df
            return power_line(self.se / math.sqrt(factor), critical(df)) < gap

        lo, hi = 1.0, 1.0
        while not finds(hi):
            if hi > 1e12:
                return math.inf
            lo, hi = hi, hi * 2
        for _ in range(60):  # bisection: finds() only turns true as the factor grows
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if finds(mid) else (mid, hi)
        return hi

    def text(self, num="{:+.2f}", unit=" points", scale=100):
        """The value and its standard error, scaled (100 for accuracies): '+0.70 ± 0.41 points' (a unit
        that starts with a space ends the phrase), '91.38% ± 0.35%' or '21.7/32 ± 0.2/32' (a symbol follows
        each number)."""
        value, se = num.format(self.value * scale), num.format(self.se * scale).lstrip("+")
        return f"{value} ± {se}{unit}" if unit.startswith(" ") else f"{value}{unit} ± {se}{unit}"

    def words(self, num="{:+.2f}", unit=" points", scale=100, null_name="zero", more=None, all_images=False,
              df_source=None, settle=True, one="this one trained model"):
        """The value ± its standard error and the verdict by the noise rule, as a clause; `more` names what
        it would take more of to settle a difference that cannot be told apart (test images, and seeds). With
        `all_images` the numbers were scored on the whole test set, so only seeds can be added: the clause says
        how many would do (`seeds_to_tell`), or that the test images' own error is too large for seeds alone.
        With `df_source` (what gives the error its degrees of freedom) a line above twice the error is spelt out:
        a difference many errors wide can still be noise when the degrees of freedom are few. With settle=False
        (a control built to sit at its null) the clause says only that it cannot be told apart. `one` names what a
        single seed's number is about (one trained model, or one pair of them for a difference between two)."""
        size = self.text(num, unit, scale)
        # why the line is wider than twice: an error estimated from few seeds is itself uncertain
        line = (f" (its line is {self.critical_line} its standard error, as an error estimated from so few seeds is "
                f"itself uncertain: Student's t for the {self.df:.1f} degrees of freedom {df_source})"
                if df_source and self.critical > Z else "")
        if self.one_model:
            value = num.format(self.value * scale) + ("" if unit.startswith(" ") else unit)
            unit_words = unit if unit.startswith(" ") else ""
            # the page's noise rule says once that one seed speaks for one model, not for the procedure
            if self.se == 0:  # nothing sampled: an exact number for this model, no error to show
                return f"{value}{unit_words}, exact, for {one}"
            side = "beyond" if self.is_effect else "within"
            return f"{size} for {one} ({side} {Z:g} standard errors of {null_name} on its test images)"
        if self.is_effect:
            return f"{size}, more than {self.critical_line} its standard error from {null_name}{line}"
        said = f"{size}, which cannot be told apart from {null_name} at this scale{line}"
        return said + self.settle_words(num, unit, scale, more, all_images) if settle else said

    def settle_words(self, num, unit, scale, more, all_images):
        """What more data would tell a difference that cannot be told apart (`words`): seeds alone when the test
        set is used whole, else a factor on the test images and seeds."""
        # the difference the clause is about, named, so it is not read as the paper's
        gap_unit = " points" if unit == "%" else unit  # an accuracy's distance from chance is in points
        this_size = f"a difference this size ({num.format(abs(self.value - self.null) * scale).lstrip('+')}{gap_unit})"
        if all_images:  # only seeds can be added
            seeds = seeds_to_tell(self, self.value - self.null)
            return (f"; the test set is already used whole, and about {seeds} seeds in all would tell {this_size} "
                    "apart 80% of the time" if seeds else
                    "; the test set is already used whole, and its own error is too large for more seeds alone to "
                    f"tell {this_size} apart")
        factor = self.settle_factor
        more = more or ("test images and seeds" if self.n_seeds > 1 else "test images")
        return ("" if factor <= 1 else
                f"; about {math.ceil(factor)} times the {more} would tell {this_size} apart 80% of the time"
                if factor <= PRACTICAL_FACTOR else
                f"; it is so small beside its error that no practical amount of {more} would tell it apart")


def estimate(values, sampling_se=0.0, null=0.0):
    """The mean of per-seed `values` and its standard error: `sampling_se` (the test images' part, the
    same for every seed) and the spread over seeds."""
    values = [float(v) for v in values]
    k = len(values)
    sd = statistics.stdev(values) if k > 1 else None
    se = math.sqrt(sampling_se ** 2 + (sd ** 2 / k if sd is not None else 0.0))
    return Estimate(statistics.fmean(values), se, null, k, sd, seeds_df(k))


def combined(weighted):
    """sum of w * estimate over [(w, Estimate)], e.g. the mean of one group of cells minus another's. Its
    error adds the parts; its degrees of freedom come from Welch and Satterthwaite, so a sum of a few two-seed
    estimates is judged with the few degrees of freedom it has."""
    parts = [(w * w * e.se ** 2, e.df) for w, e in weighted]
    var = sum(v for v, _ in parts)
    spread = sum(v * v / df for v, df in parts if math.isfinite(df) and df > 0)
    df = var * var / spread if spread > 0 else math.inf
    # seeds per part: the fewest among the parts with a spread over seeds (a part of one seed, a cell where the
    # other seed's net never learned, has none); one only where every part is one trained model
    spread_seeds = [e.n_seeds for _, e in weighted if e.n_seeds > 1]
    return Estimate(sum(w * e.value for w, e in weighted), math.sqrt(var), 0.0,
                    min(spread_seeds) if spread_seeds else 1, None, df)


def accuracy(rows, key, n_test, chance=0.1):
    """One accuracy over seeds (rows: per-seed dicts), judged against chance."""
    values = [r[key] for r in rows]
    return estimate(values, binomial_se(statistics.fmean(values), n_test), null=chance)


def gap_se(a, b, n):
    """Standard error of accuracy a minus accuracy b, both measured on the same n test images, from the sum of
    both binomial variances: larger than the paired error (paired_gap_se) whenever the two are right on the same
    images more often than chance, as the clean and the attacked answers of any model that learned are."""
    return math.hypot(binomial_se(a, n), binomial_se(b, n))


def accuracy_gap(rows, key_a, key_b, n_test):
    """Accuracy a minus accuracy b, seed by seed, judged against zero."""
    a, b = (statistics.fmean(r[k] for r in rows) for k in (key_a, key_b))
    return estimate([r[key_a] - r[key_b] for r in rows], gap_se(a, b, n_test))


def stored(rows, key, null=0.0):
    """A per-seed value whose sampling error the experiment stored beside it as KEY_se."""
    ses = [r[f"{key}_se"] for r in rows if f"{key}_se" in r]
    return estimate([r[key] for r in rows], statistics.fmean(ses) if ses else 0.0, null=null)


def matches(est, paper, extra_se=0.0):
    """Whether the paper's number lies within the critical line of the comparison. The paper reports one run,
    so its number carries one seed's spread too (ours, when we have several seeds; the comparison's degrees of
    freedom are those of that spread); `extra_se` adds what else is uncertain in it (a value read off a
    figure)."""
    se = math.sqrt(est.se ** 2 + (est.seed_sd or 0.0) ** 2 + extra_se ** 2)
    return abs(est.value - paper) <= critical(est.df) * se


# beyond this many times the data, a "would tell" count is no advice anyone can take
PRACTICAL_FACTOR = 1000
# 0.84: a true difference this many standard errors beyond the critical line is found 80% of the time
POWER_Z = statistics.NormalDist().inv_cdf(0.8)


def power_line(se, critical_value):
    """The smallest true difference found 80% of the time by a test with this standard error and critical
    value."""
    return (critical_value + POWER_Z) * se


def seeds_to_tell(est, size, most=1000):
    """How many seeds (of the same spread, scored on the same test images) would find a difference of `size`
    80% of the time; None when even `most` would not, because the test images' own error is too large for it."""
    sampling_var = max(est.se ** 2 - (est.seed_sd or 0.0) ** 2 / est.n_seeds, 0.0)
    if power_line(math.sqrt(sampling_var), Z) >= abs(size):  # not even infinitely many seeds would
        return None
    for k in range(2, most + 1):
        se = math.sqrt(sampling_var + (est.seed_sd or 0.0) ** 2 / k)
        if power_line(se, critical(seeds_df(k))) < abs(size):
            return k
    return None


def paired_gap_se(right_a, right_b):
    """Standard error of accuracy a minus accuracy b from two models' right-or-wrong on the same test images
    (boolean arrays): the spread of the per-image differences over sqrt(n). Images both get right or both get
    wrong add nothing, so it is smaller than the unpaired error whenever the models agree more than chance."""
    return paired_combination_se([(1, right_a), (-1, right_b)])


def paired_combination_se(weighted):
    """Standard error of a weighted sum of accuracies, sum of w * accuracy, each from right-or-wrong on the same
    test images ([(w, boolean array)]): the spread of the per-image sums over sqrt(n). A difference of two gaps
    (one model's attacked minus clean, less another's) is the weights 1, -1, -1, 1."""
    sums = None
    for weight, right in weighted:  # a column at a time: as fast as the two-model difference it generalizes
        right = right.tolist() if hasattr(right, "tolist") else list(right)  # a tensor's elements are slow to iterate
        sums = ([weight * int(v) for v in right] if sums is None else
                [total + weight * int(v) for total, v in zip(sums, right)])
    n = len(sums)
    mean = sum(sums) / n
    return math.sqrt(max(sum(v * v for v in sums) / n - mean * mean, 0.0) / max(n - 1, 1))
