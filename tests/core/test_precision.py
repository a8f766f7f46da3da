"""Precision: which hardware gets bf16 under "auto", bf16 sampling through a network cast once (finite, close to
fp32), the [train] key.  A bf16 training run that matches fp32's loss and the CLI flag are checked in
tests/e2e/test_precision_e2e.py."""

from __future__ import annotations

import pytest
import torch

from audiodiff import precision
from audiodiff.diffusion import GaussianDiffusion
from audiodiff.nets import DiffWave, UNet1D
from audiodiff.pipeline import Pipeline
from audiodiff.recipe import RecipeError, recipe_from_dict
from audiodiff.schedule import NoiseSchedule
from helpers.recipes import QUICK_UNET, tiny_recipe_dict


# ----------------------------------------------------------------- the decision
@pytest.mark.parametrize("flags, native", [
    ({"avx2", "fma"}, False), ({"avx512f", "avx512_bf16"}, True), ({"amx_tile", "amx_bf16"}, True), (set(), False)])
def test_cpu_bf16_follows_the_cpuinfo_flags(monkeypatch, flags, native):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))
    assert precision.bf16_native("cpu") is native
    assert precision.resolve_precision("auto", "cpu") == ("bf16" if native else "fp32")
    assert precision.resolve_precision("fp32", "cpu") == "fp32"       # explicit choices are kept
    assert precision.resolve_precision("bf16", "cpu") == "bf16"


def test_cpu_flags_are_read_from_proc_cpuinfo():
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        pytest.skip("no /proc/cpuinfo")
    line = next((ln for ln in text.splitlines() if ln.startswith(("flags", "Features"))), None)
    if line is None:
        pytest.skip("no flags line")
    assert precision.cpu_flags() == frozenset(line.split(":", 1)[1].split())


@pytest.mark.parametrize("capability, native", [((7, 5), False), ((8, 0), True), ((9, 0), True)])
def test_cuda_bf16_needs_compute_capability_8(monkeypatch, capability, native):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert precision.bf16_native("cuda") is native
    assert precision.resolve_precision("auto", torch.device("cuda", 0)) == ("bf16" if native else "fp32")


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16"):
        precision.resolve_precision("fp16", "cpu")


def test_recipe_key_is_checked(wav_folder):
    raw = tiny_recipe_dict(wav_folder, precision="fp16")
    with pytest.raises(RecipeError, match=r"precision.*auto.*fp32.*bf16"):
        recipe_from_dict(raw, source="tiny")
    assert recipe_from_dict(tiny_recipe_dict(wav_folder), source="tiny").train.precision == "auto"


# ----------------------------------------------------------------- sampling
def _pipeline(net, prec: str) -> Pipeline:
    config = {"sample_rate": 8000, "clip_length": 512, "model": {}, "sample": {"sampler": "ddim", "steps": 8}}
    return Pipeline.for_config(net, GaussianDiffusion(NoiseSchedule.linear(50, 1e-4, 0.05)), config, "cpu",
                               precision=prec)


@pytest.mark.parametrize("make", [lambda: DiffWave(4, 16, 2), lambda: UNet1D(**{k: v for k, v in QUICK_UNET.items()
                                                                                 if k != "type"})])
def test_bf16_sampling_casts_the_weights_once_and_stays_close_to_fp32(make):
    torch.manual_seed(0)
    net = make()
    for p in net.parameters():            # zero-initialised outputs would make every sample trivially equal
        torch.nn.init.normal_(p, std=0.2)
    fp32, bf16 = _pipeline(net, "fp32"), _pipeline(net, "bf16")
    assert fp32.sampling_network() is net
    cast = bf16.sampling_network()
    assert cast is bf16.sampling_network()                     # made once, reused by every call
    assert {p.dtype for p in cast.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in net.parameters()} == {torch.float32}    # the model itself is untouched
    x, t = torch.randn(2, 1, 512), torch.tensor([3.5, 45.0])
    with torch.no_grad():
        ref, out = net(x, t), cast(x, t)
    assert out.dtype == torch.float32
    assert (out - ref).norm() / ref.norm() < 0.05
    a, b = fp32.sample(n=2, seed=0), bf16.sample(n=2, seed=0)
    assert torch.isfinite(b).all()
    assert not torch.equal(a, b) and (a - b).norm() / a.norm() < 0.1


def test_bf16_vocoder_takes_the_mel_in_bf16_and_upsamples_it_in_float32():
    """The cast copy runs the layers in bf16 but keeps the mel upsampler's own float32 weights (exactly the
    source's), so the upsampled mel is the fp32 network's; the output stays close to fp32's."""
    torch.manual_seed(0)
    net = DiffWave(2, 8, 2, n_mels=4, hop_length=16)
    torch.nn.init.normal_(net.output_projection.weight, std=0.1)
    cast = precision.cast_network(net, "bf16")
    ups, ups_cast = net.mel_upsampler, cast.net.mel_upsampler
    assert all(p.dtype == torch.float32 for p in ups_cast.parameters())
    assert all(torch.equal(a, b) for a, b in zip(ups.parameters(), ups_cast.parameters()))
    assert cast.net.layers[0].dilated_conv.weight.dtype == torch.bfloat16
    x, t, mel = torch.randn(1, 1, 64), torch.tensor([2.0]), torch.randn(1, 4, 4)
    with torch.no_grad():
        out, ref = cast(x, t, mel=mel), net(x, t, mel=mel)
        torch.testing.assert_close(ups_cast(mel), ups(mel))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert ups(mel).dtype == torch.float32                      # autocast does not reach it
    assert out.shape == (1, 1, 64) and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert (out - ref).norm() / ref.norm() < 0.05


def test_autocast_training_keeps_one_copy_of_the_upsampled_mel():
    """The float32 upsampler's output is cast to bf16 once: each layer's conditioner projection casting its own
    copy would keep one per layer for backward (1.5 GB at the GPU batch of 16 × 16,128 for 36 layers)."""
    torch.manual_seed(0)
    layers, n_mels, frames, hop = 6, 4, 4, 16
    net = DiffWave(layers, 8, 2, n_mels=n_mels, hop_length=hop)
    mel_sized: set[int] = set()

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.numel() == n_mels * frames * hop:                 # the mel upsampled to [1, n_mels, L], any layout
            mel_sized.add(t.untyped_storage().data_ptr())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), \
            torch.autocast("cpu", dtype=torch.bfloat16):
        net(torch.randn(1, 1, frames * hop), torch.tensor([3.0]), mel=torch.randn(1, n_mels, frames))
    assert 1 <= len(mel_sized) <= 3, len(mel_sized)     # the upsampler's own and one bf16 copy, not one per layer


def test_compile_option_wraps_the_sampling_network(monkeypatch):
    compiled = []

    def fake_compile(module, **kwargs):
        compiled.append((module, kwargs))
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    net = DiffWave(2, 8, 2)
    pipe = _pipeline(net, "fp32")
    pipe.compile = True
    wav = pipe.sample(n=1, seed=0)
    assert torch.isfinite(wav).all()
    assert compiled == [(net, {"mode": None, "dynamic": False})]     # CPU: inductor's default mode
    pipe.sample(n=1, seed=1)
    assert len(compiled) == 1                                         # compiled once per pipeline


def test_bf16_cast_of_a_one_call_network_takes_the_input_alone():
    """A spectral_mask run (no step: it answers in one call) loaded in bf16, as `audiodiff denoise` and `upsample`
    load it on a CPU with avx512_bf16: the cast copy takes the input alone and answers close to fp32."""
    from audiodiff.nets import SpectralMasker

    torch.manual_seed(0)
    net = SpectralMasker(n_fft=64, hop_length=16, channels=16, hidden=32, layers=2, stacks=1)
    torch.nn.init.normal_(net.decode.weight, std=0.1)
    cast = precision.cast_network(net, "bf16")
    x = torch.randn(2, 1, 700)
    with torch.no_grad():
        out, ref = cast(x), net(x)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert (out - ref).norm() / ref.norm() < 0.05
