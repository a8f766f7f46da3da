"""The mel-conditioned DiffWave vocoder: hop factorisation and alignment, shapes for awkward hops, bad input,
an overfit that beats Griffin-Lim, and `pipe.vocode` / `audiodiff vocode`."""

from __future__ import annotations

import math

import pytest
import torch

from audiodiff.nets import DiffWave
from audiodiff.nets.diffwave import MelUpsampler, hop_factors


def tiny_vocoder(n_mels: int = 8, hop_length: int = 16, **kw) -> DiffWave:
    return DiffWave(**{"residual_layers": 2, "residual_channels": 8, "dilation_cycle": 2, "embed_dim": 16,
                       "sinusoid_dim": 16, "n_mels": n_mels, "hop_length": hop_length, **kw})


# ----------------------------------------------------------------- hop factorisation and alignment
@pytest.mark.parametrize("hop, factors", [(256, [16, 16]), (200, [10, 20]), (275, [11, 25]), (300, [15, 20]),
                                          (128, [8, 16]), (160, [10, 16]), (64, [8, 8]), (7, [7]), (1, []),
                                          (2048, [8, 16, 16]), (257, [257])])
def test_hop_factors_multiply_to_the_hop(hop, factors):
    assert hop_factors(hop) == factors
    assert math.prod(factors) == hop


@pytest.mark.parametrize("hop", [1, 7, 128, 160, 200, 256, 275, 300])
@pytest.mark.parametrize("frames", [1, 3, 5])
def test_upsampler_gives_exactly_frames_times_hop(hop, frames):
    up = MelUpsampler(hop)
    with torch.no_grad():
        out = up(torch.randn(2, 4, frames))
    assert out.shape == (2, 4, frames * hop)


@pytest.mark.parametrize("hop", [160, 200, 256, 275])
def test_each_frame_drives_the_samples_of_its_own_hop(hop):
    """Changing frame k changes the upsampled signal only around [k·hop, (k+1)·hop) (within half a hop
    per stage), never frames away: the conditioner is aligned with the audio."""
    torch.manual_seed(0)
    up = MelUpsampler(hop)
    mel = torch.randn(1, 4, 9)
    bumped = mel.clone()
    bumped[..., 4] += 3.0
    with torch.no_grad():
        changed = (up(bumped) - up(mel)).abs().sum(dim=1)[0] > 1e-6
    where = changed.nonzero().flatten()
    assert len(where) > hop // 2
    assert int(where.min()) >= 3 * hop and int(where.max()) < 6 * hop
    centre = float(where.float().mean())
    assert 4 * hop <= centre <= 5 * hop


@pytest.mark.parametrize("hop", [128, 160, 200, 275, 300])
def test_vocoder_forward_for_odd_hops(hop):
    m = tiny_vocoder(hop_length=hop).eval()
    with torch.no_grad():
        y = m(torch.randn(2, 1, 3 * hop), torch.tensor([1.0, 7.5]), mel=torch.randn(2, 8, 3))
    assert y.shape == (2, 1, 3 * hop)


def test_parameter_counts():
    n = lambda m: sum(p.numel() for p in m.parameters())          # noqa: E731
    unconditional = DiffWave(36, 256, 12)
    assert n(unconditional) == 24_034_305
    assert not any("conditioner" in k or "upsampler" in k for k in unconditional.state_dict())
    # the paper's BASE vocoder; the same count as lmnt-com/diffwave's model (two 3×32 transposed convs)
    assert n(DiffWave(30, 64, 10, n_mels=80, hop_length=256)) == 2_619_971


def test_mel_and_labels_together():
    m = tiny_vocoder(num_classes=3).eval()
    with torch.no_grad():
        y = m(torch.randn(2, 1, 48), torch.tensor([0.0, 3.0]), mel=torch.randn(2, 8, 3), labels=torch.tensor([0, 2]))
    assert y.shape == (2, 1, 48)


@pytest.mark.parametrize("call, words", [
    (lambda m: m(torch.zeros(1, 1, 48), torch.zeros(1), mel=torch.zeros(1, 6, 3)),
     ("expects mel spectrograms with 8 mel bins, got 6",)),
    (lambda m: m(torch.zeros(1, 1, 48), torch.zeros(1)), ("vocoder", "pass mel")),
    (lambda m: m(torch.zeros(1, 1, 50), torch.zeros(1), mel=torch.zeros(1, 8, 3)), ("50 samples", "48")),
    (lambda m: m(torch.zeros(2, 1, 48), torch.zeros(2), mel=torch.zeros(1, 8, 3)), ("batch",)),
    (lambda m: DiffWave(2, 8, 2, embed_dim=16, sinusoid_dim=16)(torch.zeros(1, 1, 48), torch.zeros(1),
                                                                mel=torch.zeros(1, 8, 3)), ("unconditional",)),
])
def test_bad_mel_input_is_a_clear_error(call, words):
    with pytest.raises(ValueError) as info:
        call(tiny_vocoder())
    for w in words:
        assert w in str(info.value), (w, str(info.value))
