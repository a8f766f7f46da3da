"""ε-networks: parameter count of the paper's model, shapes for awkward lengths, initialisation, registry."""

from __future__ import annotations

import pytest
import torch

from audiodiff.nets import NETWORKS, DiffWave, UNet1D, build_network, network_options


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def tiny_diffwave(**kw) -> DiffWave:
    return DiffWave(**{"residual_layers": 3, "residual_channels": 8, "dilation_cycle": 2, "embed_dim": 16,
                       "sinusoid_dim": 16, **kw})


def tiny_unet(**kw) -> UNet1D:
    return UNet1D(**{"base_channels": 8, "channel_mults": (1, 2, 2), "down_factors": (2, 4),
                     "blocks_per_level": 1, "attention_heads": 2, **kw})


def randomise_(m: torch.nn.Module) -> torch.nn.Module:
    """Give every parameter (zero-initialised ones included) random values so outputs are non-trivial."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
    return m


# ----------------------------------------------------------------- DiffWave
def test_diffwave_sc09_parameter_count_matches_lmnt():
    # lmnt-com/diffwave, unconditional SC09 model: 36 layers, 256 channels, dilation cycle 12
    assert n_params(DiffWave(36, 256, 12)) == 24_034_305


def test_diffwave_default_is_lmnt_base_size():
    # lmnt-com/diffwave's base params (30 layers, 64 channels, cycle 10) without the mel conditioner
    m = DiffWave()
    assert len(m.layers) == 30 and m.input_projection.out_channels == 64


@pytest.mark.parametrize("length", [1, 777, 1000])
def test_diffwave_output_shape_any_length_fractional_t(length):
    m = randomise_(tiny_diffwave()).eval()
    x = torch.randn(2, 1, length)
    t = torch.tensor([0.5, 13.37])
    with torch.no_grad():
        y = m(x, t)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()
    assert y.abs().max() > 0


def test_diffwave_fractional_t_changes_output():
    m = randomise_(tiny_diffwave()).eval()
    x = torch.randn(1, 1, 100)
    with torch.no_grad():
        a, b, c = (m(x, torch.tensor([v])) for v in (3.0, 3.5, 4.0))
    assert not torch.allclose(a, b) and not torch.allclose(b, c)


def test_diffwave_output_projection_zero_at_init():
    torch.manual_seed(0)
    m = tiny_diffwave()
    assert torch.count_nonzero(m.output_projection.weight) == 0
    assert torch.count_nonzero(m.output_projection.bias) == 0
    with torch.no_grad():
        y = m(torch.randn(3, 1, 321), torch.tensor([0.0, 5.0, 19.0]))
    assert torch.equal(y, torch.zeros_like(y))


@pytest.mark.parametrize("layers,cycle", [(7, 3), (36, 12), (5, 1)])
def test_diffwave_dilations_cycle(layers, cycle):
    m = DiffWave(layers, 4, cycle, embed_dim=8, sinusoid_dim=8)
    dil = [layer.dilated_conv.dilation[0] for layer in m.layers]
    assert dil == [2 ** (i % cycle) for i in range(layers)]
    # 'same' padding for kernel 3 keeps the length
    assert all(layer.dilated_conv.padding[0] == d for layer, d in zip(m.layers, dil))


def test_diffwave_batch_items_independent():
    m = randomise_(tiny_diffwave()).eval()
    x = torch.randn(2, 1, 50)
    t = torch.tensor([1.0, 7.0])
    with torch.no_grad():
        both = m(x, t)
        first = m(x[:1], t[:1])
    torch.testing.assert_close(both[:1], first, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------- UNet1D
@pytest.mark.parametrize("length", [1, 2, 63, 1000, 1023, 4097])
@pytest.mark.parametrize("stem_factor", [1, 2])
def test_unet_any_length(length, stem_factor):
    m = randomise_(tiny_unet(stem_factor=stem_factor)).eval()
    x = torch.randn(2, 1, length)
    with torch.no_grad():
        y = m(x, torch.tensor([0.0, 9.5]))
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


def test_unet_multichannel_input_and_attention():
    m = randomise_(tiny_unet(in_channels=80, attention_levels=(1,), stem_factor=2)).eval()
    x = torch.randn(2, 80, 101)
    with torch.no_grad():
        y = m(x, torch.tensor([3.0, 4.0]))
    assert y.shape == (2, 80, 101)
    assert torch.isfinite(y).all()


def test_unet_output_zero_at_init():
    torch.manual_seed(0)
    m = tiny_unet()
    with torch.no_grad():
        y = m(torch.randn(2, 1, 130), torch.tensor([1.0, 2.0]))
    assert torch.equal(y, torch.zeros_like(y))


def test_unet_deterministic_and_input_dependent():
    # the output at the kept positions depends on the input (not only on padding), and is deterministic
    m = randomise_(tiny_unet()).eval()
    x = torch.randn(1, 1, 63)
    with torch.no_grad():
        y1 = m(x, torch.tensor([2.0]))
        y2 = m(x, torch.tensor([2.0]))
        y3 = m(x * 0.5, torch.tensor([2.0]))
    assert torch.equal(y1, y2)
    assert not torch.allclose(y1, y3)


@pytest.mark.parametrize("mults,factors", [((1, 2, 4), (4,)), ((1, 2), (2, 2)), ((1,), (2,))])
def test_unet_bad_down_factors_length(mults, factors):
    with pytest.raises(ValueError, match="down_factors"):
        UNet1D(channel_mults=mults, down_factors=factors)


def test_unet_bad_down_factor_value_and_heads():
    with pytest.raises(ValueError):
        UNet1D(base_channels=8, channel_mults=(1, 2), down_factors=(0,))
    with pytest.raises(ValueError):
        UNet1D(base_channels=8, channel_mults=(1, 2), down_factors=(2,), stem_factor=0)
    with pytest.raises(ValueError, match="heads"):
        UNet1D(base_channels=6, channel_mults=(1,), down_factors=(), attention_heads=4)


# ----------------------------------------------------------------- registry
def test_build_network_builds_each_type():
    dw = build_network({"type": "diffwave", "residual_layers": 2, "residual_channels": 4, "embed_dim": 8,
                        "sinusoid_dim": 8})
    assert isinstance(dw, DiffWave) and len(dw.layers) == 2
    un = build_network({"type": "unet1d", "base_channels": 8, "channel_mults": [1, 2], "down_factors": [2]})
    assert isinstance(un, UNet1D) and un.multiple == 2
    # type defaults to diffwave
    assert isinstance(build_network({"residual_layers": 1, "residual_channels": 2, "embed_dim": 4,
                                     "sinusoid_dim": 4}), DiffWave)


def test_build_network_does_not_mutate_config():
    cfg = {"type": "diffwave", "residual_layers": 1, "residual_channels": 2, "embed_dim": 4, "sinusoid_dim": 4}
    before = dict(cfg)
    build_network(cfg)
    assert cfg == before


def test_build_network_rejects_unknown_type():
    with pytest.raises(ValueError, match="wavenet"):
        build_network({"type": "wavenet"})


def test_build_network_rejects_unknown_keys():
    with pytest.raises(ValueError, match="residual_chanels"):
        build_network({"type": "diffwave", "residual_chanels": 8})
    with pytest.raises(ValueError, match="residual_layers"):
        build_network({"type": "unet1d", "residual_layers": 2})


def test_network_options_lists_constructor_keywords():
    assert set(NETWORKS) == {"diffwave", "unet1d", "unet2d", "spectral_mask", "spectral_prior", "mel_inverter",
                             "classifier"}
    opts = network_options("diffwave")
    assert opts["residual_layers"] == 30 and opts["dilation_cycle"] == 10 and "self" not in opts
    assert network_options("unet1d")["down_factors"] == (4, 4)
    assert network_options("unet2d")["channel_mults"] == (1, 2, 2, 2)


@pytest.mark.parametrize("n_mels, layout", [(0, "time_major"), (8, "time_major"), (0, "time_major_matmul"),
                                           (8, "time_major_matmul")])
def test_diffwave_time_major_path_computes_the_channels_first_result(n_mels, layout):
    """The bf16-on-CPU layouts ([B, L, C]; dilated convolutions as channels-last convolutions or as matrix
    products) are the same function on the same weights: forced on in fp32 (DiffWave.layout) they match the Conv1d
    path, gradients included."""
    torch.manual_seed(0)
    net = DiffWave(residual_layers=4, residual_channels=8, dilation_cycle=2, embed_dim=16, sinusoid_dim=8,
                   n_mels=n_mels, hop_length=16)
    torch.nn.init.normal_(net.output_projection.weight, std=0.1)
    x, t = torch.randn(2, 1, 64), torch.tensor([3.0, 40.5])
    cond = {"mel": torch.randn(2, n_mels, 4)} if n_mels else {}

    def run(time_major: bool) -> tuple[torch.Tensor, torch.Tensor]:
        net.layout = layout if time_major else "channels_first"
        net.zero_grad()
        out = net(x, t, **cond)
        out.square().sum().backward()
        return out.detach(), net.layers[1].dilated_conv.weight.grad.clone()

    (a, grad_a), (b, grad_b) = run(False), run(True)
    assert b.shape == a.shape == (2, 1, 64)
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad_b, grad_a, rtol=1e-4, atol=1e-6)


def test_diffwave_takes_the_time_major_path_exactly_in_cpu_bf16():
    from audiodiff.nets.layers import bf16_on_cpu

    x = torch.randn(1, 1, 8)
    assert not bf16_on_cpu(x)
    assert bf16_on_cpu(x.bfloat16())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert bf16_on_cpu(x)
    with torch.autocast("cpu", dtype=torch.float16):
        assert not bf16_on_cpu(x)
    net = DiffWave(residual_layers=2, residual_channels=8, dilation_cycle=2, embed_dim=16, sinusoid_dim=8)
    torch.nn.init.normal_(net.output_projection.weight, std=0.1)
    x, t = torch.randn(2, 1, 32), torch.tensor([1.0, 7.0])
    with torch.no_grad():
        ref = net(x, t)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = net(x, t)
    assert out.shape == ref.shape
    torch.testing.assert_close(out.float(), ref, rtol=0.05, atol=0.02 * ref.abs().max().item())


@pytest.mark.parametrize("batch, length, dilation", [(1, 17, 1), (3, 40, 4), (2, 5, 8)])
def test_dilated_matmul_is_the_dilated_convolution(batch, length, dilation):
    """Three matrix products on row views of the padded, flattened batch give Conv1d's output and gradients, clip
    edges included (no tap reads the neighbouring clip), also when the dilation exceeds the clip."""
    from audiodiff.nets.diffwave import dilated_matmul

    torch.manual_seed(0)
    conv = torch.nn.Conv1d(6, 10, 3, padding=dilation, dilation=dilation).double()
    x = torch.randn(batch, 6, length, dtype=torch.double, requires_grad=True)
    ref = conv(x)
    grad_out = torch.randn_like(ref)
    want = torch.autograd.grad(ref, (x, conv.weight, conv.bias), grad_out)
    out = dilated_matmul(conv, x.transpose(1, 2)).transpose(1, 2)
    got = torch.autograd.grad(out, (x, conv.weight, conv.bias), grad_out)
    torch.testing.assert_close(out, ref)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)


def test_auto_layout_trains_long_clips_with_matmuls_and_samples_with_convolutions_in_cpu_bf16():
    from audiodiff.nets.diffwave import MATMUL_MIN_VALUES, resolve_layout

    long, short = torch.randn(1, 1, MATMUL_MIN_VALUES // 64), torch.randn(1, 1, MATMUL_MIN_VALUES // 64 - 1)
    assert resolve_layout("auto", long, 64) == "channels_first"             # fp32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert resolve_layout("auto", long, 64) == "time_major_matmul"
        assert resolve_layout("auto", short, 64) == "time_major"
        assert resolve_layout("auto", short, 256) == "time_major_matmul"     # the stack, not the input, counts
        with torch.no_grad():
            assert resolve_layout("auto", long, 64) == "time_major"
        with torch.inference_mode():
            assert resolve_layout("auto", long, 64) == "time_major"
        assert resolve_layout("channels_first", long, 64) == "channels_first"
    with torch.no_grad():
        assert resolve_layout("time_major_matmul", short, 64) == "time_major_matmul"


def test_gated_unit_is_sigmoid_times_tanh_in_bf16_with_and_without_autograd():
    from audiodiff.nets.diffwave import gated_unit

    gate, filt = torch.randn(2, 50, 8).bfloat16(), (3 * torch.randn(2, 50, 8)).bfloat16()
    ref = torch.sigmoid(gate.float()) * torch.tanh(filt.float())
    with torch.no_grad():
        out = gated_unit(gate, filt)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref, rtol=0.02, atol=0.01)
    filt.requires_grad_(True)
    out = gated_unit(gate, filt)
    out.float().sum().backward()
    torch.testing.assert_close(filt.grad.float(), torch.sigmoid(gate.float()) * (1 - torch.tanh(filt.float()) ** 2),
                               rtol=0.05, atol=0.02)


def test_diffwave_layout_forces_either_path_and_refuses_unknown_names():
    """`layout` overrides the automatic choice both ways (the Conv1d modules run only on the channels-first
    path) and names its choices when given something else."""
    net = DiffWave(residual_layers=2, residual_channels=8, dilation_cycle=2, embed_dim=16, sinusoid_dim=8)
    calls = []
    net.layers[0].dilated_conv.register_forward_hook(lambda *_: calls.append(1))
    x, t = torch.randn(2, 1, 32), torch.tensor([1.0, 7.0])
    for layout, autocast, conv1d_runs in [("auto", False, True), ("auto", True, False),
                                          ("channels_first", True, True), ("time_major", False, False),
                                          ("time_major_matmul", False, False)]:
        net.layout = layout
        calls.clear()
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            net(x, t)
        assert bool(calls) == conv1d_runs, (layout, autocast)
    with pytest.raises(ValueError, match="auto, time_major, time_major_matmul, channels_first"):
        net.layout = "nhwc"


@pytest.mark.parametrize("net_type", ["diffwave", "unet1d", "unet2d"])
def test_label_embedding_starts_smaller_than_the_step_embedding(net_type):
    """At init a class label must not drown the step it is added to (N(0, 1) rows did, 15× at 512 dims)."""
    torch.manual_seed(0)
    net = NETWORKS[net_type](num_classes=10)
    steps = net.step_embedding(torch.linspace(0, 199, 16)).norm(dim=1)
    labels = net.label_embedding(torch.arange(11), 11, torch.device("cpu")).norm(dim=1)
    assert labels.max() < steps.min(), (labels.max().item(), steps.min().item())
