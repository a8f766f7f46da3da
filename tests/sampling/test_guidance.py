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
