"""tunebook's compact GP and log EI against BoTorch/GPyTorch as the oracle.

The bayes sampler uses a small numpy GP of its own for speed (docs/architecture.md); here
the same model with the same hyperparameters is built in BoTorch (a SingleTaskGP with a
scaled ARD Matérn-5/2 kernel, no transforms) and both must agree on the posterior, the
marginal likelihood the fit maximises, and the log expected improvement it acquires by.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from botorch.acquisition.analytic import LogExpectedImprovement, _log_ei_helper
from botorch.models import SingleTaskGP
from gpytorch.kernels import MaternKernel, ScaleKernel
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.mlls import ExactMarginalLogLikelihood

from tunebook.samplers import _gp
from tunebook.samplers.bayes import _log_h

LS = np.array([0.3, 0.7, 1.5])
SIGNAL, NOISE = 1.7, 0.02


def _data(seed: int, n: int = 24) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((n, 3))
    y = np.sin(6 * x[:, 0]) + x[:, 1] ** 2 + 0.1 * rng.standard_normal(n)
    return x, (y - y.mean()) / y.std(), rng.random((50, 3))


def _botorch(x: np.ndarray, y: np.ndarray) -> SingleTaskGP:
    kernel = ScaleKernel(MaternKernel(nu=2.5, ard_num_dims=3))
    model = SingleTaskGP(torch.tensor(x), torch.tensor(y)[:, None], covar_module=kernel,
                         likelihood=GaussianLikelihood(), outcome_transform=None)
    kernel.base_kernel.lengthscale = torch.tensor(LS)
    kernel.outputscale = torch.tensor(SIGNAL)
    model.likelihood.noise = torch.tensor(NOISE + _gp.JITTER)
    return model.double().eval()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_posterior_matches_botorch(seed: int) -> None:
    x, y, xs = _data(seed)
    mean, var = _gp.build(x, y, LS, SIGNAL, NOISE).predict(xs)
    with torch.no_grad():
        post = _botorch(x, y).posterior(torch.tensor(xs))
    assert mean == pytest.approx(post.mean.squeeze(-1).numpy(), abs=1e-6)
    assert var == pytest.approx(post.variance.squeeze(-1).numpy(), abs=1e-6)


def test_the_marginal_likelihood_matches_gpytorch() -> None:
    x, y, _ = _data(3)
    theta = np.concatenate([np.log(LS), [math.log(SIGNAL), math.log(NOISE)]])
    dist = (x.T[:, :, None] - x.T[:, None, :]) ** 2
    mine, _grad = _gp._neg_log_posterior(theta, dist, y)
    mu, sd = _gp.LS_MEAN, _gp.LS_SD
    mine -= 0.5 * float(np.sum(((theta[:3] - mu) / sd) ** 2))  # the prior is ours alone
    model = _botorch(x, y)
    model.train()
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with torch.no_grad():
        theirs = -float(mll(model(torch.tensor(x)), torch.tensor(y))) * len(y)
    assert mine == pytest.approx(theirs, rel=1e-8, abs=1e-8)


def test_the_gradient_of_the_fit_matches_finite_differences() -> None:
    x, y, _ = _data(4)
    theta = np.concatenate([np.log(LS), [math.log(SIGNAL), math.log(NOISE)]])
    dist = (x.T[:, :, None] - x.T[:, None, :]) ** 2
    _, grad = _gp._neg_log_posterior(theta, dist, y)
    for i in range(len(theta)):
        step = np.zeros_like(theta)
        step[i] = 1e-6
        up, _ = _gp._neg_log_posterior(theta + step, dist, y)
        down, _ = _gp._neg_log_posterior(theta - step, dist, y)
        assert grad[i] == pytest.approx((up - down) / 2e-6, rel=1e-4, abs=1e-6)


def test_log_expected_improvement_matches_botorch() -> None:
    x, y, xs = _data(5)
    gp = _gp.build(x, y, LS, SIGNAL, NOISE)
    incumbent = float(y.min())
    mean, var = gp.predict(xs)
    sd = np.sqrt(var)
    mine = np.log(sd) + _log_h((incumbent - mean) / sd)
    acq = LogExpectedImprovement(_botorch(x, y), best_f=incumbent, maximize=False)
    with torch.no_grad():
        theirs = acq(torch.tensor(xs)[:, None, :]).numpy()
    assert mine == pytest.approx(theirs, rel=1e-7, abs=1e-6)


def test_the_log_ei_helper_holds_deep_in_the_tail() -> None:
    z = np.array([-1e6, -300.0, -40.0, -20.0, -8.0, -6.5, -1.0001, -0.9999, -0.5, 0.0, 3.0,
                  30.0])
    theirs = _log_ei_helper(torch.tensor(z)).numpy()
    assert _log_h(z) == pytest.approx(theirs, rel=1e-9, abs=1e-9)
