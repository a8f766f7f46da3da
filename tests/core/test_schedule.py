"""NoiseSchedule: β schedules, derived float64 quantities, q(x_t | x0), config round trips, validation."""

from __future__ import annotations

import json
import math

import pytest
import torch

from audiodiff.schedule import NoiseSchedule
from helpers.oracle import cumprod_py


# --------------------------------------------------------------------------- linear
def test_linear_default_is_ho_et_al():
    sch = NoiseSchedule.linear()
    assert sch.num_steps == 1000 and sch.betas.shape == (1000,)
    assert sch.betas.dtype == torch.float64
    assert sch.betas[0].item() == pytest.approx(1e-4, rel=1e-12)
    assert sch.betas[-1].item() == pytest.approx(0.02, rel=1e-12)
    diffs = sch.betas.diff()
    assert torch.allclose(diffs, torch.full_like(diffs, (0.02 - 1e-4) / 999), rtol=1e-9, atol=0)
    assert sch.kind == "linear"


@pytest.mark.parametrize("T,start,end", [(1, 0.01, 0.01), (2, 1e-3, 0.3), (7, 1e-4, 0.05), (50, 0.02, 0.02),
                                         (333, 5e-5, 0.9)])
def test_linear_any_length(T, start, end):
    sch = NoiseSchedule.linear(T, start, end)
    assert sch.num_steps == T and sch.betas.numel() == T
    expected = [start + (end - start) * i / (T - 1) for i in range(T)] if T > 1 else [start]
    assert torch.allclose(sch.betas, torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------------- cosine
@pytest.mark.parametrize("T,s", [(1000, 0.008), (100, 0.008), (37, 0.02)])
def test_cosine_matches_nichol_dhariwal(T, s):
    sch = NoiseSchedule.cosine(T, s=s)
    f = [math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2 for t in range(T + 1)]
    alpha_bar_paper = [f[t] / f[0] for t in range(T + 1)]           # ᾱ(t), t = 0..T, ᾱ(0) = 1
    betas = [min(1 - alpha_bar_paper[t] / alpha_bar_paper[t - 1], 0.999) for t in range(1, T + 1)]
    assert torch.allclose(sch.betas, torch.tensor(betas, dtype=torch.float64), rtol=1e-9, atol=1e-12)
    assert sch.betas.max().item() <= 0.999
    assert sch.betas[-1].item() == pytest.approx(0.999)          # f(T) ≈ 0: the last β is clipped
    # where nothing is clipped, ᾱ of (0-based) step t is the paper's ᾱ(t + 1) = f(t + 1) / f(0)
    unclipped = [t for t in range(T) if betas[t] < 0.999]
    assert len(unclipped) == T - 1
    got = sch.alphas_cumprod[unclipped]
    want = torch.tensor([alpha_bar_paper[t + 1] for t in unclipped], dtype=torch.float64)
    assert torch.allclose(got, want, rtol=1e-9, atol=1e-15)
    assert torch.all(sch.betas.diff()[:-1] > 0)                  # β increases


def test_cosine_max_beta_clips():
    sch = NoiseSchedule.cosine(100, max_beta=0.2)
    assert sch.betas.max().item() == pytest.approx(0.2)
    assert (sch.betas == 0.2).sum().item() >= 2


# --------------------------------------------------------------------------- explicit lists
def test_from_betas_keeps_the_list():
    betas = [0.01, 0.2, 0.05, 0.9]
    sch = NoiseSchedule.from_betas(betas)
    assert sch.num_steps == 4 and sch.kind == "betas"
    assert sch.betas.dtype == torch.float64
    assert sch.betas.tolist() == betas
    assert torch.allclose(sch.alphas_cumprod, torch.tensor(cumprod_py(betas), dtype=torch.float64), rtol=1e-14)


def test_diffwave_short_schedule():
    sch = NoiseSchedule.diffwave_short()
    assert sch.num_steps == 50
    assert sch.betas[0].item() == pytest.approx(1e-4, rel=1e-12)
    assert sch.betas[-1].item() == pytest.approx(0.05, rel=1e-12)
    expected = torch.tensor([1e-4 + (0.05 - 1e-4) * i / 49 for i in range(50)], dtype=torch.float64)
    assert torch.allclose(sch.betas, expected, rtol=1e-12)


# --------------------------------------------------------------------------- derived quantities
@pytest.mark.parametrize("make", [lambda: NoiseSchedule.linear(1000), lambda: NoiseSchedule.cosine(200),
                                  lambda: NoiseSchedule([0.3, 0.1, 0.6])])
def test_derived_quantities_float64(make):
    sch = make()
    betas = sch.betas.tolist()
    ab = cumprod_py(betas)
    for name in ("betas", "alphas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
                 "sqrt_one_minus_alphas_cumprod", "posterior_variance"):
        v = getattr(sch, name)
        assert v.dtype == torch.float64, name
        assert v.shape == (sch.num_steps,), name
    assert torch.allclose(sch.alphas, 1 - sch.betas, rtol=0, atol=0)
    assert torch.allclose(sch.alphas_cumprod, torch.tensor(ab, dtype=torch.float64), rtol=1e-12, atol=0)
    assert torch.allclose(sch.alphas_cumprod_prev, torch.tensor([1.0] + ab[:-1], dtype=torch.float64),
                          rtol=1e-12, atol=0)
    assert torch.allclose(sch.sqrt_alphas_cumprod, torch.tensor([math.sqrt(a) for a in ab], dtype=torch.float64),
                          rtol=1e-12, atol=0)
    assert torch.allclose(sch.sqrt_one_minus_alphas_cumprod,
                          torch.tensor([math.sqrt(1 - a) for a in ab], dtype=torch.float64), rtol=1e-10, atol=0)
    # β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t), with ᾱ_{−1} = 1 so β̃_0 = 0
    prev = [1.0] + ab[:-1]
    post = [b * (1 - p) / (1 - a) for b, p, a in zip(betas, prev, ab)]
    assert sch.posterior_variance[0].item() == 0.0
    assert torch.allclose(sch.posterior_variance, torch.tensor(post, dtype=torch.float64), rtol=1e-10, atol=0)
    assert torch.all(sch.posterior_variance <= sch.betas)


def test_float64_matters_for_long_products():
    # a float32 cumprod over 1000 steps drifts measurably; the schedule must not
    sch = NoiseSchedule.linear(1000)
    ab = cumprod_py(sch.betas.tolist())
    assert abs(sch.alphas_cumprod[-1].item() - ab[-1]) / ab[-1] < 1e-12


def test_snr():
    sch = NoiseSchedule.linear(100, 1e-3, 0.1)
    t = torch.tensor([0, 5, 50, 99])
    ab = cumprod_py(sch.betas.tolist())
    want = torch.tensor([ab[i] / (1 - ab[i]) for i in t.tolist()], dtype=torch.float64)
    got = sch.snr(t)
    assert got.dtype == torch.float64
    assert torch.allclose(got, want, rtol=1e-10)
    assert torch.all(got.diff() < 0)


# --------------------------------------------------------------------------- q(x_t | x0)
def test_q_sample_formula():
    sch = NoiseSchedule.linear(1000)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(5, 2, 7, generator=g)
    noise = torch.randn(5, 2, 7, generator=g)
    t = torch.tensor([0, 1, 250, 998, 999])
    xt = sch.q_sample(x0, t, noise)
    assert xt.shape == x0.shape and xt.dtype == x0.dtype
    ab = cumprod_py(sch.betas.tolist())
    for i, ti in enumerate(t.tolist()):
        want = math.sqrt(ab[ti]) * x0[i].double() + math.sqrt(1 - ab[ti]) * noise[i].double()
        assert torch.allclose(xt[i].double(), want, atol=1e-6), ti


def test_q_sample_float64_input_stays_float64():
    sch = NoiseSchedule.cosine(50)
    x0 = torch.linspace(-1, 1, 12, dtype=torch.float64).reshape(2, 1, 6)
    noise = torch.ones_like(x0)
    t = torch.tensor([3, 40])
    xt = sch.q_sample(x0, t, noise)
    assert xt.dtype == torch.float64
    want = sch.sqrt_alphas_cumprod[t].view(2, 1, 1) * x0 + sch.sqrt_one_minus_alphas_cumprod[t].view(2, 1, 1)
    assert torch.allclose(xt, want, rtol=1e-14, atol=1e-15)


def test_q_sample_empirical_moments():
    sch = NoiseSchedule.linear(1000)
    t_values = [0, 100, 500, 999]
    n = 20000
    x0 = torch.tensor([0.8, -1.5]).view(1, 2, 1).expand(len(t_values) * n // 10, 2, 10).contiguous()
    t = torch.tensor(t_values).repeat_interleave(n // 10)
    with torch.random.fork_rng():
        torch.manual_seed(1234)
        xt = sch.q_sample(x0, t).double()
    for k, tv in enumerate(t_values):
        block = xt[k * n // 10:(k + 1) * n // 10]          # n draws per channel
        ab = sch.alphas_cumprod[tv].item()
        sd2 = 1 - ab
        for c, x0c in enumerate((0.8, -1.5)):
            vals = block[:, c].flatten()
            assert vals.numel() == n
            assert abs(vals.mean().item() - math.sqrt(ab) * x0c) < 5 * math.sqrt(sd2 / n), (tv, c)
            assert abs(vals.var().item() - sd2) < 5 * sd2 * math.sqrt(2 / (n - 1)), (tv, c)


# --------------------------------------------------------------------------- fractional steps
def test_sqrt_alpha_cumprod_at_integer_and_fractional():
    sch = NoiseSchedule.linear(200, 1e-4, 0.02)
    ints = torch.arange(200)
    assert torch.allclose(sch.sqrt_alpha_cumprod_at(ints.to(torch.float64)), sch.sqrt_alphas_cumprod,
                          rtol=0, atol=1e-15)
    assert torch.allclose(sch.sqrt_alpha_cumprod_at(ints.to(torch.float32)), sch.sqrt_alphas_cumprod,
                          rtol=0, atol=1e-15)
    sab = sch.sqrt_alphas_cumprod.tolist()
    for tf in (0.25, 3.5, 17.9, 100.001, 198.75):
        lo = math.floor(tf)
        w = tf - lo
        want = (1 - w) * sab[lo] + w * sab[lo + 1]
        got = sch.sqrt_alpha_cumprod_at(torch.tensor([tf], dtype=torch.float64)).item()
        assert got == pytest.approx(want, rel=0, abs=1e-14), tf
    # piecewise linear: the midpoint of two steps is the average; values fall monotonically
    mids = sch.sqrt_alpha_cumprod_at(ints[:-1].to(torch.float64) + 0.5)
    assert torch.allclose(mids, (sch.sqrt_alphas_cumprod[:-1] + sch.sqrt_alphas_cumprod[1:]) / 2, atol=1e-15)
    fine = sch.sqrt_alpha_cumprod_at(torch.linspace(0, 199, 1000, dtype=torch.float64))
    assert torch.all(fine.diff() < 0)


# --------------------------------------------------------------------------- configs
@pytest.mark.parametrize("make", [lambda: NoiseSchedule.linear(123, 2e-4, 0.03), lambda: NoiseSchedule.linear(),
                                  lambda: NoiseSchedule.cosine(77, s=0.01, max_beta=0.9),
                                  lambda: NoiseSchedule.from_betas([0.1, 0.25, 0.5]),
                                  NoiseSchedule.diffwave_short])
def test_config_round_trip(make):
    sch = make()
    cfg = sch.to_config()
    cfg = json.loads(json.dumps(cfg))          # plain data, storable in a checkpoint / recipe
    back = NoiseSchedule.from_config(cfg)
    assert back.kind == sch.kind
    assert back.num_steps == sch.num_steps
    assert torch.equal(back.betas, sch.betas)
    assert back.to_config() == cfg


def test_from_config_defaults_to_ho_linear():
    sch = NoiseSchedule.from_config({})
    ref = NoiseSchedule.linear()
    assert sch.kind == "linear" and torch.equal(sch.betas, ref.betas)


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize("build", [
    lambda: NoiseSchedule([0.1, 1.0]),
    lambda: NoiseSchedule([0.0, 0.1]),
    lambda: NoiseSchedule([-0.01]),
    lambda: NoiseSchedule([0.1, 1.5]),
    lambda: NoiseSchedule([0.1, float("nan")]),
    lambda: NoiseSchedule([]),
    lambda: NoiseSchedule.from_betas([0.1, 1.0]),
    lambda: NoiseSchedule.linear(0),
    lambda: NoiseSchedule.linear(-5),
    lambda: NoiseSchedule.cosine(0),
    lambda: NoiseSchedule.linear(10, 1e-4, 1.0),
    lambda: NoiseSchedule.linear(10, 1e-4, 1.2),
    lambda: NoiseSchedule.linear(10, 0.0, 0.02),
    lambda: NoiseSchedule.linear(10, 0.05, 0.01),
    lambda: NoiseSchedule.from_config({"schedule": "sigmoid"}),
    lambda: NoiseSchedule.from_config({"schedule": "betas"}),
    lambda: NoiseSchedule.from_config({"schedule": "linear", "num_steps": 0}),
], ids=["beta=1", "beta=0", "beta<0", "beta>1", "nan", "empty", "from_betas beta=1", "T=0", "T<0",
        "cosine T=0", "end=1", "end>1", "start=0", "start>end", "unknown kind", "betas without list", "config T=0"])
def test_bad_input_raises(build):
    with pytest.raises(ValueError):
        build()
