"""Class labels and classifier-free guidance on a tiny model trained here on two separated classes."""

import pytest
import torch

from audiodiff import DiffWave, UNet1D
from audiodiff.sampling import classifier_free_guidance


@pytest.mark.parametrize("net", [DiffWave(2, 8, 2, num_classes=3, embed_dim=16, sinusoid_dim=8),
                                 UNet1D(1, 8, (1, 2), (2,), blocks_per_level=1, num_classes=3)])
def test_labels_change_the_output_and_none_means_unlabelled(net):
    torch.manual_seed(0)
    for p in net.parameters():  # break the zero-initialised output so labels can show
        torch.nn.init.normal_(p, std=0.2)
    x, t = torch.randn(4, 1, 16), torch.full((4,), 3.0)
    a = net(x, t, labels=torch.tensor([0, 0, 0, 0]))
    b = net(x, t, labels=torch.tensor([1, 1, 1, 1]))
    assert not torch.allclose(a, b)
    assert torch.equal(net(x, t), net(x, t, labels=torch.full((4,), 3)))


def test_unconditional_models_refuse_labels():
    net = DiffWave(2, 8, 2, embed_dim=16, sinusoid_dim=8)
    with pytest.raises(ValueError, match="unconditional"):
        net(torch.zeros(1, 1, 8), torch.zeros(1), labels=torch.zeros(1, dtype=torch.long))
    with pytest.raises(ValueError, match="class-conditional"):
        classifier_free_guidance(net, torch.zeros(1, dtype=torch.long), 2.0)


def test_guidance_combines_conditional_and_unconditional_outputs():
    class Probe(torch.nn.Module):
        num_classes = 2

        def forward(self, x, t, labels=None):
            return x + labels.float()[:, None, None]     # "null" label 2 → +2

    x, t = torch.zeros(3, 1, 4), torch.zeros(3)
    labels = torch.tensor([0, 1, 1])
    out = classifier_free_guidance(Probe(), labels, 3.0)(x, t)
    expected = 2 + 3.0 * (labels.float() - 2)               # u + s·(c − u)
    assert torch.allclose(out[:, 0, 0], expected)
    with pytest.raises(ValueError, match="0..1"):
        classifier_free_guidance(Probe(), torch.tensor([2]), 1.0)


class LabelProbe(torch.nn.Module):
    """c = x + label, u = x + 2 (the null label); records the batch size of every call."""
    num_classes = 2

    def __init__(self):
        super().__init__()
        self.batches = []

    def forward(self, x, t, labels=None):
        self.batches.append(x.shape[0])
        return x + labels.float()[:, None, None]


def test_guidance_applies_inside_its_step_interval_only_and_outside_costs_one_pass():
    probe, labels = LabelProbe(), torch.tensor([0, 1, 1])
    guided = classifier_free_guidance(probe, labels, 3.0, steps=(10.0, 20.0))
    x = torch.zeros(3, 1, 4)
    conditional, full = labels.float(), 2 + 3.0 * (labels.float() - 2)
    for t, expected, passes in ((15.0, full, 6), (10.0, full, 6), (20.0, full, 6), (5.0, conditional, 3),
                                (30.0, conditional, 3)):
        probe.batches.clear()
        out = guided(x, torch.full((3,), t))
        assert torch.allclose(out[:, 0, 0], expected), t
        assert probe.batches == [passes], t         # outside the interval: the conditional pass alone
    mixed = guided(x, torch.tensor([5.0, 15.0, 30.0]))   # per example when a batch mixes levels
    assert torch.allclose(mixed[:, 0, 0], torch.tensor([0.0, full[1], 1.0]))


def test_guidance_steps_put_the_bounds_where_the_noise_level_crosses_them():
    from audiodiff import NoiseSchedule
    from audiodiff.sampling import guidance_steps

    schedule = NoiseSchedule.cosine(1000)
    lo, hi = guidance_steps(schedule, [0.3, 3.0])
    assert 0 < lo < hi < 999
    ab = schedule.sqrt_alpha_cumprod_at(torch.tensor([lo, hi])) ** 2
    sigma = ((1 - ab) / ab).sqrt()
    assert torch.allclose(sigma, torch.tensor([0.3, 3.0], dtype=sigma.dtype), rtol=0.02)
    assert guidance_steps(schedule, []) is None
    wide = guidance_steps(schedule, [0, 1e6])                     # past the schedule's ends: its ends
    assert wide[0] == 0 and wide[1] == 999


@pytest.mark.parametrize("interval, why", [([1.0], "two noise levels"), ([2.0, 1.0], "lo < hi"),
                                           ([-1.0, 1.0], "0 <= lo"), ([0.1, float("nan")], "two noise levels"),
                                           ("ab", "two noise levels"), ([True, 2], "two noise levels")])
def test_a_bad_guidance_interval_is_refused_naming_the_key(interval, why):
    from audiodiff.sampling import check_guidance_interval

    with pytest.raises(ValueError, match="guidance_interval") as info:
        check_guidance_interval(interval)
    assert why in str(info.value)
