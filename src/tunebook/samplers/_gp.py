"""A compact Gaussian process for Bayesian optimisation (numpy + scipy, no torch).

Matérn-5/2 kernel with one lengthscale per input (ARD), a signal variance and a noise
variance, fitted by maximising the log marginal likelihood (with weak log-normal priors that
keep lengthscales away from degenerate values) with analytic gradients and L-BFGS-B. The
inputs live in (or just outside) the unit cube and the targets are standardised, so fixed
bounds serve every study. Small on purpose: Optuna moved from BoTorch to a compact GP of its
own for the same reason, suggestion latency with a few hundred trials.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize

SQRT5 = np.sqrt(5.0)
#: log-space bounds: lengthscale, signal variance, noise variance.
LOG_LS = (np.log(0.01), np.log(20.0))
LOG_SIGNAL = (np.log(0.05), np.log(20.0))
#: The smallest noise variance (of standardised targets) a fit may choose.
NOISE_FLOOR = 1e-6
#: Mean and std of the log lengthscale. A mean growing with the input count d as
#: log(0.5) + log(d) / 2 (Hvarfner et al. 2024, for high dimensions) raised regret at 20 and
#: 40 trials by a fifth on the tuning half of `benchmarks.generalise` (+0.045 ± 0.014).
LS_MEAN, LS_SD = float(np.log(0.5)), 1.0
JITTER = 1e-8


def _scaled_sq_dist(a: np.ndarray, b: np.ndarray, ls: np.ndarray) -> np.ndarray:
    """Squared distances between rows after dividing by the lengthscales, as
    |a|² + |b|² − 2 a·b: one matrix product instead of an (m, n, d) array of differences
    (2,048 candidates x 300 trials x 12 inputs would be 59 MB)."""
    sa, sb = a / ls, b / ls
    sq = (sa * sa).sum(axis=1)[:, None] + (sb * sb).sum(axis=1)[None, :] - 2.0 * sa @ sb.T
    return np.asarray(np.maximum(sq, 0.0))


def matern52(a: np.ndarray, b: np.ndarray, ls: np.ndarray, signal: float) -> np.ndarray:
    """The Matérn-5/2 kernel matrix between the rows of ``a`` and ``b``."""
    r = np.sqrt(np.maximum(_scaled_sq_dist(a, b, ls), 0.0))
    return np.asarray(signal * (1.0 + SQRT5 * r + 5.0 / 3.0 * r * r) * np.exp(-SQRT5 * r))


@dataclass(frozen=True)
class GP:
    """A fitted GP: its training data, hyperparameters and Cholesky factor."""

    x: np.ndarray
    y: np.ndarray
    lengthscales: np.ndarray
    signal: float
    noise: float
    chol: np.ndarray
    alpha: np.ndarray

    def predict(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance (of the latent function) at the rows of ``xs``."""
        k = matern52(xs, self.x, self.lengthscales, self.signal)
        mean = k @ self.alpha
        v = linalg.solve_triangular(self.chol, k.T, lower=True, check_finite=False)
        var = np.maximum(self.signal - np.sum(v * v, axis=0), 1e-12)
        return mean, var

    def conditioned(self, extra_x: np.ndarray, extra_y: np.ndarray,
                    extra_noise: float = 1e-6) -> GP:
        """The same hyperparameters with more observations, of their own (small) noise.

        Pending trials enter as exact "believed" values, so the uncertainty at a point
        another worker is already training collapses and the next suggestion moves away.
        """
        if len(extra_x) == 0:
            return self
        noises = np.concatenate([np.full(len(self.x), self.noise),
                                 np.full(len(extra_x), extra_noise)])
        return build(np.vstack([self.x, extra_x]), np.concatenate([self.y, extra_y]),
                     self.lengthscales, self.signal, self.noise, noises)


def build(x: np.ndarray, y: np.ndarray, ls: np.ndarray, signal: float, noise: float,
          noises: np.ndarray | None = None) -> GP:
    """A GP with given hyperparameters (a Cholesky factorisation, no fitting); ``noises``
    gives each observation its own noise variance (default: ``noise`` for all)."""
    diag = np.full(len(x), noise) if noises is None else noises
    k = matern52(x, x, ls, signal) + np.diag(diag + JITTER)
    chol = linalg.cholesky(k, lower=True, check_finite=False)
    alpha = linalg.cho_solve((chol, True), y, check_finite=False)
    return GP(x, y, ls, signal, noise, chol, alpha)


def _neg_log_posterior(theta: np.ndarray, dist: np.ndarray, y: np.ndarray,
                       ) -> tuple[float, np.ndarray]:
    """Negative log marginal likelihood plus the lengthscale prior, and its gradient.

    ``dist`` holds the squared differences per input, ``(d, n, n)``, computed once per fit.
    """
    d, n = dist.shape[0], dist.shape[1]
    ls, signal, noise = np.exp(theta[:d]), float(np.exp(theta[d])), float(np.exp(theta[d + 1]))
    weight = 1.0 / (ls * ls)
    # einsum's own loops, not BLAS: no (d, n, n) temporary, and no BLAS threads woken for
    # a product this small (on 2 cores OpenBLAS threads made the fit 3x slower)
    sq = np.einsum("k,kij->ij", weight, dist)
    r = np.sqrt(np.maximum(sq, 0.0))
    e = np.exp(-SQRT5 * r)
    k0 = signal * (1.0 + SQRT5 * r + 5.0 / 3.0 * sq) * e
    k = k0 + (noise + JITTER) * np.eye(n)
    try:
        chol = linalg.cholesky(k, lower=True, check_finite=False)
    except linalg.LinAlgError:
        return 1e10, np.zeros_like(theta)
    alpha = linalg.cho_solve((chol, True), y, check_finite=False)
    nll = 0.5 * y @ alpha + np.sum(np.log(np.diag(chol))) + 0.5 * n * np.log(2 * np.pi)
    inner = np.outer(alpha, alpha) - _inverse(chol)
    grad = np.empty_like(theta)
    common = signal * 5.0 / 3.0 * (1.0 + SQRT5 * r) * e
    grad[:d] = -0.5 * weight * np.einsum("ij,kij->k", inner * common, dist)
    grad[d] = -0.5 * np.sum(inner * k0)
    grad[d + 1] = -0.5 * noise * np.trace(inner)
    mu, sd = LS_MEAN, LS_SD
    nll += 0.5 * np.sum(((theta[:d] - mu) / sd) ** 2)
    grad[:d] += (theta[:d] - mu) / sd**2
    return float(nll), grad


def _inverse(chol: np.ndarray) -> np.ndarray:
    """K⁻¹ from K's lower Cholesky factor (LAPACK potri: a third of a solve against I)."""
    inv, info = linalg.lapack.dpotri(chol, lower=1)
    if info:
        raise linalg.LinAlgError(f"potri failed ({info})")
    return np.asarray(np.tril(inv) + np.tril(inv, -1).T)


def fit(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, restarts: int = 1) -> GP:
    """Fit the hyperparameters to standardised targets ``y`` and return the GP."""
    d = x.shape[1]
    log_noise = (np.log(NOISE_FLOOR), 0.0)
    bounds = [LOG_LS] * d + [LOG_SIGNAL, log_noise]
    starts = [np.array([LS_MEAN] * d + [0.0, max(np.log(1e-2), log_noise[0])])]
    starts += [np.array([rng.uniform(*b) for b in bounds]) for _ in range(restarts)]
    dist = (x.T[:, :, None] - x.T[:, None, :]) ** 2
    best: tuple[float, np.ndarray] | None = None
    for start in starts:
        found = optimize.minimize(_neg_log_posterior, start, args=(dist, y), jac=True,
                                  method="L-BFGS-B", bounds=bounds,
                                  options={"maxiter": 80})
        if best is None or found.fun < best[0]:
            best = (float(found.fun), np.asarray(found.x))
    assert best is not None
    theta = best[1]
    return build(x, y, np.exp(theta[:d]), float(np.exp(theta[d])), float(np.exp(theta[d + 1])))
