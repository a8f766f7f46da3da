"""audiodiff/sampling/guidance.py: the guidance wrapper states the wrapped network's parameters honestly, so the
loop's default device is the network's, with no attribute pasted onto a closure."""

import torch

from audiodiff import GaussianDiffusion, NoiseSchedule
from audiodiff.sampling import ClassifierFreeGuidance, classifier_free_guidance, model_device


class Net(torch.nn.Module):
    num_classes = 2

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))

    def forward(self, x, t, labels=None):
        return x * self.w


def test_wrapper_holds_the_network_and_reports_its_parameters():
    net = Net()
    guided = classifier_free_guidance(net, torch.tensor([0, 1]), 2.0)
    assert isinstance(guided, ClassifierFreeGuidance)
    assert "parameters" not in vars(guided)                    # a real method, not an attribute set on it
    assert [p is q for p, q in zip(guided.parameters(), net.parameters())] == [True]
    assert guided.model is net


def test_loop_samples_on_the_wrapped_networks_device():
    net = Net().to("meta")                                     # a device other than cpu, without a GPU
    guided = classifier_free_guidance(net, torch.tensor([0, 1]), 2.0)
    assert model_device(guided) == torch.device("meta")
    d = GaussianDiffusion(NoiseSchedule.linear(10, 1e-3, 0.2))
    assert d.sample(guided, (2, 1, 4), sampler="ddim", steps=3).device.type == "meta"


def test_a_plain_function_model_has_no_parameters_and_samples_on_cpu_or_the_given_device():
    def model(x, t, labels=None):
        return torch.zeros_like(x)

    model.num_classes = 3
    guided = classifier_free_guidance(model, torch.tensor([2]), 1.5)
    assert list(guided.parameters()) == [] and model_device(guided) == torch.device("cpu")
    d = GaussianDiffusion(NoiseSchedule.linear(10, 1e-3, 0.2))
    assert d.sample(guided, (1, 1, 4), sampler="ddpm", steps=2, device="meta").device.type == "meta"
