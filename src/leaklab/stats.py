"""Words that respect noise. The book calls a difference an effect only when it exceeds twice its
standard error; otherwise it says the difference cannot be told apart from zero at this scale, and
how much more data would settle it.

A mean over seeds has two sources of error:
- the test images are a sample. For an accuracy this is the binomial sqrt(p (1 - p) / n); for a mean
  loss, the spread of the per-image values over sqrt(n). Every seed is scored on the same images, so
  this part does not shrink with more seeds;
- training is random: the spread over seeds, sd / sqrt(seeds) (unknown with one seed).
A difference of two accuracies adds the binomial parts of both. They are measured on the same images,
which can only make the true error smaller, so the words err on the side of "cannot be told apart".
"""

import math
import statistics
from dataclasses import dataclass

Z = 2.0  # an effect exceeds Z standard errors


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

    @property
    def is_effect(self):
        return abs(self.value - self.null) > Z * self.se

    @property
    def settle_factor(self):
        """How many times the test images and seeds it would take for a difference this size to exceed
        twice its standard error (a standard error shrinks as one over the square root of the data)."""
        gap = abs(self.value - self.null)
        return math.inf if gap == 0 else (Z * self.se / gap) ** 2

    def text(self, num="{:+.2f}", unit=" points", scale=100):
        """The value and its standard error, scaled (100 for accuracies): '+0.70 ± 0.41 points' (a unit
        that starts with a space ends the phrase), '91.38% ± 0.35%' or '21.7/32 ± 0.2/32' (a symbol follows
        each number)."""
        value, se = num.format(self.value * scale), num.format(self.se * scale).lstrip("+")
        return f"{value} ± {se}{unit}" if unit.startswith(" ") else f"{value}{unit} ± {se}{unit}"

    def words(self, num="{:+.2f}", unit=" points", scale=100, null_name="zero", more=None):
        """The value ± its standard error and the verdict by the noise rule, as a clause; `more` names what
        it would take more of to settle a difference that cannot be told apart (test images, and seeds)."""
        size = self.text(num, unit, scale)
        if self.is_effect:
            return f"{size}, more than twice its standard error from {null_name}"
        factor = self.settle_factor
        more = more or ("test images and seeds" if self.n_seeds > 1 else "test images")
        settle = (f"; about {math.ceil(factor)} times the {more} would tell a difference this size apart"
                  if math.isfinite(factor) and factor > 1 else "")
        return f"{size}, which cannot be told apart from {null_name} at this scale{settle}"


def estimate(values, sampling_se=0.0, null=0.0):
    """The mean of per-seed `values` and its standard error: `sampling_se` (the test images' part, the
    same for every seed) and the spread over seeds."""
    values = [float(v) for v in values]
    k = len(values)
    sd = statistics.stdev(values) if k > 1 else None
    se = math.sqrt(sampling_se ** 2 + (sd ** 2 / k if sd is not None else 0.0))
    return Estimate(statistics.fmean(values), se, null, k, sd)


def accuracy(rows, key, n_test, chance=0.1):
    """One accuracy over seeds (rows: per-seed dicts), judged against chance."""
    values = [r[key] for r in rows]
    return estimate(values, binomial_se(statistics.fmean(values), n_test), null=chance)


def gap_se(a, b, n):
    """Standard error of accuracy a minus accuracy b, both measured on the same n test images (the sum of
    both binomial variances: conservative, since a paired error would be smaller)."""
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
    """Whether the paper's number lies within twice the standard error of the comparison. The paper
    reports one run, so its number carries one seed's spread too (ours, when we have several seeds);
    `extra_se` adds what else is uncertain in it (a value read off a figure)."""
    se = math.sqrt(est.se ** 2 + (est.seed_sd or 0.0) ** 2 + extra_se ** 2)
    return abs(est.value - paper) <= Z * se
