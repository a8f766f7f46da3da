"""The end-to-end tests of tests/sampling/test_guidance.py (training runs, processes, long runs), marked slow by
living in tests/e2e; what they check is told in tests/sampling/test_guidance.py's docstring."""

import pytest
import torch

from audiodiff import DiffWave, GaussianDiffusion, NoiseSchedule
from audiodiff.sampling import classifier_free_guidance
from helpers.audio import write_tone_wavs
from helpers.corpora import make_speechcommands
from helpers.recipes import tiny_recipe_dict


def test_guided_samples_land_in_their_class_more_often():
    torch.manual_seed(0)
    sched = NoiseSchedule.linear(50, 1e-4, 0.2)
    d = GaussianDiffusion(sched, prediction="eps")
    net = DiffWave(2, 16, 2, num_classes=2, embed_dim=32, sinusoid_dim=16)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    for _ in range(300):
        labels = torch.randint(0, 2, (64,), generator=g)
        x0 = (0.6 - 1.2 * labels.float())[:, None, None] + 0.05 * torch.randn(64, 1, 8, generator=g)
        dropped = torch.where(torch.rand(64, generator=g) < 0.2, torch.full_like(labels, 2), labels)
        loss = d.loss(net, x0, generator=g, labels=dropped)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()

    def share_in_class(k, scale):
        labels = torch.full((200,), k)
        model = net if scale is None else classifier_free_guidance(net, labels, scale)
        x = d.sample(model, (200, 1, 8), sampler="ddim", steps=25, generator=torch.Generator().manual_seed(2))
        mean = x.mean(dim=(1, 2))
        return ((mean > 0) if k == 0 else (mean < 0)).float().mean().item()

    for k in (0, 1):
        unguided, guided = share_in_class(k, None), share_in_class(k, 3.0)
        assert guided > unguided, (k, guided, unguided)
        assert guided > 0.9, (k, guided)


def test_trainer_trains_on_dataset_labels_and_the_run_samples_by_label(tmp_path):
    import audiodiff
    from audiodiff.recipe import recipe_from_dict
    from audiodiff.training import Trainer, TrainingError

    make_speechcommands(tmp_path / "sc", rate=8000, n=300)
    raw = tiny_recipe_dict(tmp_path / "sc", model={"type": "diffwave", "residual_layers": 2, "residual_channels": 8,
                                                   "dilation_cycle": 2, "num_classes": 10}, cond_drop=0.5)
    raw["data"].update(dataset="speechcommands", clip_length=256)
    Trainer(recipe_from_dict(raw), tmp_path / "run", show_progress=False).fit()
    pipe = audiodiff.load(tmp_path / "run", device="cpu")
    assert pipe.config["class_names"][:2] == ["zero", "one"]
    a = pipe.sample(2, steps=3, seed=0, labels=[3, 4], guidance=2.0)
    assert a.shape == (2, 256) and torch.isfinite(a).all()
    with pytest.raises(ValueError, match="0..9"):
        pipe.sample(1, steps=3, seed=0, labels=10)

    write_tone_wavs(tmp_path / "tones")
    unlabelled = tiny_recipe_dict(tmp_path / "tones", model=raw["model"])
    with pytest.raises(TrainingError, match="labelled dataset"):
        Trainer(recipe_from_dict(unlabelled), tmp_path / "run2", show_progress=False).fit()
