"""GaussianDiffusion: ε / v / x0 targets and their inverses, the training loss, min-SNR-γ weights."""

from __future__ import annotations

import math

import pytest
import torch

from audiodiff.diffusion import GaussianDiffusion
from audiodiff.schedule import NoiseSchedule

PREDICTIONS = ("eps", "v", "x0")


def levels(schedule: NoiseSchedule, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, s) = (√ᾱ_t, √(1 − ᾱ_t)) from a python-float cumulative product, float64 [B, 1, 1]."""
    ab, p = [], 1.0
    for b in schedule.betas.tolist():
        p *= 1.0 - b
        ab.append(p)
    a = torch.tensor([math.sqrt(ab[i]) for i in t.tolist()], dtype=torch.float64).view(-1, 1, 1)
    s = torch.tensor([math.sqrt(1 - ab[i]) for i in t.tolist()], dtype=torch.float64).view(-1, 1, 1)
    return a, s


def batch(dtype=torch.float32, b=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(b, 2, 16, generator=g, dtype=dtype) * 0.7 + 0.1
    noise = torch.randn(b, 2, 16, generator=g, dtype=dtype)
    return x0, noise


SCHED = NoiseSchedule.linear(1000)
T_ALL = torch.tensor([0, 1, 10, 300, 700, 999])


# --------------------------------------------------------------------------- targets
@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_target(prediction):
    d = GaussianDiffusion(SCHED, prediction=prediction)
    x0, noise = batch(torch.float64)
    got = d.target(x0, noise, T_ALL)
    a, s = levels(SCHED, T_ALL)
    want = {"eps": noise, "x0": x0, "v": a * noise - s * x0}[prediction]
    assert got.shape == x0.shape
    assert torch.allclose(got, want, rtol=1e-12, atol=1e-14)


def test_v_target_float32_and_per_example_t():
    d = GaussianDiffusion(SCHED, prediction="v")
    x0, noise = batch(torch.float32)
    got = d.target(x0, noise, T_ALL)
    assert got.dtype == torch.float32
    a, s = levels(SCHED, T_ALL)
    assert torch.allclose(got.double(), a * noise.double() - s * x0.double(), atol=1e-6)
    # swapping the steps of two examples changes their targets (t is per example, not shared)
    t_swapped = T_ALL[[1, 0, 2, 3, 5, 4]]
    assert not torch.allclose(d.target(x0, noise, t_swapped)[4], got[4], atol=1e-3)


# --------------------------------------------------------------------------- split_output
@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_split_output_inverts_target_float64(prediction):
    d = GaussianDiffusion(SCHED, prediction=prediction)
    x0, noise = batch(torch.float64)
    x_t = SCHED.q_sample(x0, T_ALL, noise)
    out = d.target(x0, noise, T_ALL)
    ab = SCHED.alphas_cumprod[T_ALL].view(-1, 1, 1)
    x0_hat, eps_hat = d.split_output(out, x_t, ab)
    assert torch.allclose(x0_hat, x0, atol=1e-9)
    assert torch.allclose(eps_hat, noise, atol=1e-9)


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_split_output_inverts_target_float32(prediction):
    d = GaussianDiffusion(SCHED, prediction=prediction)
    t = torch.tensor([0, 5, 100, 250, 400, 500])          # a = √ᾱ_t >= 0.28: float32 keeps ~1e-6
    x0, noise = batch(torch.float32)
    x_t = SCHED.q_sample(x0, t, noise)
    out = d.target(x0, noise, t)
    x0_hat, eps_hat = d.split_output(out, x_t, SCHED.alphas_cumprod[t].view(-1, 1, 1))
    assert x0_hat.dtype == torch.float32 and eps_hat.dtype == torch.float32
    assert torch.allclose(x0_hat, x0, atol=1e-5)
    assert torch.allclose(eps_hat, noise, atol=1e-5)


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_split_output_at_off_grid_level(prediction):
    # samplers pass the true level ᾱ of x_t, which need not be on the training grid (fast sampler)
    d = GaussianDiffusion(SCHED, prediction=prediction)
    x0, noise = batch(torch.float64, b=3)
    ab = 0.3717
    a, s = math.sqrt(ab), math.sqrt(1 - ab)
    x_t = a * x0 + s * noise
    out = {"eps": noise, "x0": x0, "v": a * noise - s * x0}[prediction]
    x0_hat, eps_hat = d.split_output(out, x_t, torch.tensor(ab, dtype=torch.float64))
    assert torch.allclose(x0_hat, x0, atol=1e-12)
    assert torch.allclose(eps_hat, noise, atol=1e-12)


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_split_output_is_consistent(prediction):
    # for ANY model output, (x̂0, ε̂) must reconstruct x_t = a x̂0 + s ε̂
    d = GaussianDiffusion(SCHED, prediction=prediction)
    x_t, out = batch(torch.float64)
    ab = SCHED.alphas_cumprod[T_ALL].view(-1, 1, 1)
    x0_hat, eps_hat = d.split_output(out, x_t, ab)
    assert torch.allclose(ab.sqrt() * x0_hat + (1 - ab).sqrt() * eps_hat, x_t, atol=1e-9)


def test_predict_checks_shape_and_passes_float_t():
    d = GaussianDiffusion(SCHED, prediction="eps")
    x_t = torch.zeros(2, 1, 4)
    seen = {}

    def model(x, t):
        seen["t"] = t
        return torch.zeros_like(x)

    d.predict(model, x_t, torch.tensor([3.25, 3.25], dtype=torch.float64), torch.tensor(0.5, dtype=torch.float64))
    assert seen["t"].dtype == torch.float32 and torch.allclose(seen["t"], torch.tensor([3.25, 3.25]))
    with pytest.raises(ValueError):
        d.predict(lambda x, t: torch.zeros(2, 1, 3), x_t, torch.tensor([1.0, 1.0]), torch.tensor(0.5))


# --------------------------------------------------------------------------- loss
def exact_model(schedule: NoiseSchedule, prediction: str, x0: torch.Tensor):
    """A 'network' that knows x0 and recovers the exact target from x_t alone (via t)."""
    def model(x_t, t):
        assert t.is_floating_point()
        a, s = levels(schedule, t.round().long())
        eps = (x_t.double() - a * x0.double()) / s
        out = {"eps": eps, "x0": x0.double(), "v": a * eps - s * x0.double()}[prediction]
        return out.to(x_t.dtype)
    return model


@pytest.mark.parametrize("loss_type", ["mse", "l1"])
@pytest.mark.parametrize("gamma", [None, 5.0])
@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_loss_zero_for_exact_model(prediction, gamma, loss_type):
    d = GaussianDiffusion(SCHED, prediction=prediction, loss_type=loss_type, min_snr_gamma=gamma)
    x0, noise = batch()
    model = exact_model(SCHED, prediction, x0)
    tol = 1e-8 if loss_type == "mse" else 1e-4
    assert d.loss(model, x0, t=T_ALL, noise=noise).item() < tol
    per_example, t = d.loss_terms(model, x0, t=T_ALL, noise=noise)
    assert torch.equal(t, T_ALL)
    assert per_example.shape == (x0.shape[0],)
    assert per_example.abs().max().item() < tol
    # a model off by a constant 0.1 pays 0.01 (MSE) or 0.1 (L1) per element, times its example's weight
    off = lambda x_t, tt: model(x_t, tt) + 0.1  # noqa: E731
    per_unit = 0.01 if loss_type == "mse" else 0.1
    expected = (per_unit * d.loss_weight(T_ALL)).mean().item()
    assert d.loss(off, x0, t=T_ALL, noise=noise).item() == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_loss_value_for_zero_model(prediction):
    # with a model that outputs 0 the per-example loss is the mean of target² (MSE) or |target| (L1)
    x0, noise = batch()
    zero = lambda x_t, t: torch.zeros_like(x_t)  # noqa: E731
    a, s = levels(SCHED, T_ALL)
    target = {"eps": noise.double(), "x0": x0.double(), "v": a * noise.double() - s * x0.double()}[prediction]
    mse = GaussianDiffusion(SCHED, prediction=prediction, loss_type="mse")
    l1 = GaussianDiffusion(SCHED, prediction=prediction, loss_type="l1")
    per_mse, _ = mse.loss_terms(zero, x0, t=T_ALL, noise=noise)
    per_l1, _ = l1.loss_terms(zero, x0, t=T_ALL, noise=noise)
    assert torch.allclose(per_mse.double(), (target ** 2).flatten(1).mean(1), rtol=1e-5)
    assert torch.allclose(per_l1.double(), target.abs().flatten(1).mean(1), rtol=1e-5)
    assert mse.loss(zero, x0, t=T_ALL, noise=noise).item() == pytest.approx(per_mse.mean().item(), rel=1e-6)


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_loss_terms_apply_min_snr_weights(prediction):
    x0, noise = batch()
    zero = lambda x_t, t: torch.zeros_like(x_t)  # noqa: E731
    plain = GaussianDiffusion(SCHED, prediction=prediction)
    weighted = GaussianDiffusion(SCHED, prediction=prediction, min_snr_gamma=5.0)
    p, _ = plain.loss_terms(zero, x0, t=T_ALL, noise=noise)
    w, _ = weighted.loss_terms(zero, x0, t=T_ALL, noise=noise)
    assert torch.allclose(w, p * weighted.loss_weight(T_ALL), rtol=1e-6)


def test_loss_terms_draws_t_and_noise_from_generator():
    d = GaussianDiffusion(NoiseSchedule.linear(50), prediction="eps")
    x0, _ = batch(b=64)
    zero = lambda x_t, t: torch.zeros_like(x_t)  # noqa: E731
    l1, t1 = d.loss_terms(zero, x0, generator=torch.Generator().manual_seed(3))
    l2, t2 = d.loss_terms(zero, x0, generator=torch.Generator().manual_seed(3))
    l3, t3 = d.loss_terms(zero, x0, generator=torch.Generator().manual_seed(4))
    assert torch.equal(t1, t2) and torch.equal(l1, l2)
    assert not torch.equal(t1, t3)
    assert t1.dtype == torch.long and t1.min() >= 0 and t1.max() <= 49
    assert len(set(t1.tolist())) > 10


def test_loss_passes_conditioning_keywords():
    d = GaussianDiffusion(SCHED, prediction="eps")
    x0, noise = batch()
    got = {}

    def model(x_t, t, mel=None):
        got["mel"] = mel
        return torch.zeros_like(x_t)

    d.loss(model, x0, t=T_ALL, noise=noise, mel="M")
    assert got["mel"] == "M"


# --------------------------------------------------------------------------- min-SNR-γ
@pytest.mark.parametrize("gamma", [0.5, 5.0, 1e4])
@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_min_snr_weights(prediction, gamma):
    sch = NoiseSchedule.cosine(200)
    t = torch.tensor([0, 3, 20, 60, 100, 150, 199])
    d = GaussianDiffusion(sch, prediction=prediction, min_snr_gamma=gamma)
    a, s = levels(sch, t)
    snr = (a ** 2 / s ** 2).flatten()
    clipped = torch.minimum(snr, torch.full_like(snr, gamma))
    want = {"eps": clipped / snr, "x0": clipped, "v": clipped / (snr + 1)}[prediction]
    got = d.loss_weight(t)
    assert got.dtype == torch.float32 and got.shape == t.shape
    assert torch.allclose(got.double(), want, rtol=1e-5, atol=0)
    if prediction == "eps":
        assert torch.all(got <= 1 + 1e-6)       # ε-weights only ever down-weight low-noise steps


def test_no_gamma_means_unit_weights():
    d = GaussianDiffusion(SCHED, prediction="v")
    assert torch.equal(d.loss_weight(T_ALL), torch.ones(6))


# --------------------------------------------------------------------------- validation / config
@pytest.mark.parametrize("kwargs", [{"prediction": "epsilon"}, {"prediction": "score"}, {"loss_type": "l2"},
                                    {"loss_type": "huber"}, {"min_snr_gamma": 0.0}, {"min_snr_gamma": -1.0}])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        GaussianDiffusion(SCHED, **kwargs)


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_config_round_trip(prediction):
    d = GaussianDiffusion(NoiseSchedule.cosine(64), prediction=prediction, loss_type="l1", min_snr_gamma=5.0)
    back = GaussianDiffusion.from_config(d.to_config())
    assert back.prediction == prediction and back.loss_type == "l1" and back.min_snr_gamma == 5.0
    assert torch.equal(back.schedule.betas, d.schedule.betas)
