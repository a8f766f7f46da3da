"""Reverse chains on one schedule object and one model call: the sampler registry and the loop that reads it.

- registry.py: one record per sampler (SAMPLERS, name → Sampler): plan builder, update rule, options, abilities
- plans.py:    Plan and the plan builders (every step, re-spaced, λ-uniform, spacings, DiffWave's fast schedule)
- steps.py:    update rules (ancestral, DDIM, DPM-Solver++ 2M), each owning its state
- call.py:     SamplerCall, one chain's sampler settings resolved once (the record, steps, plan and step options)
- loop.py:     `sample(diffusion, model, shape, call, ...)` (RePaint's jumps, constraints) and `make_plan`
- sample_options.py: SampleOptions, the run's [sample] settings (recipe, config.json, Pipeline defaults), which
               `resolve` to a SamplerCall
- guidance.py: classifier-free guidance as a model wrapper, at every step or inside a σ interval
- spacing.py:  where a plan's steps go (trailing, leading, Karras, λ-clipped log-SNR, custom levels)
"""

from .spacing import max_steps_from
from .guidance import ClassifierFreeGuidance, check_guidance_interval, classifier_free_guidance, guidance_steps
from .call import CLIP_X0, SamplerCall, option_names, split_options
from .loop import Constraint, Denoiser, Model, make_plan, model_device, repaint_order, sample
from .sample_options import CALL_OPTIONS, SampleOptions
from .plans import (DIFFWAVE_FAST_BETAS, DIFFWAVE_FAST_BETAS_T200, Plan, check_fast_betas, fast_betas_plan,
                    fast_plan, half_lambda, logsnr_plan, placed_plan, spaced_plan)
from .registry import SAMPLERS, Sampler, get_sampler, own_spacings, samplers_where
from .steps import VARIANCES, DPMSolverPP2M, Step, ancestral, ddim, ddim_mean, randn

__all__ = ["CALL_OPTIONS", "CLIP_X0", "ClassifierFreeGuidance", "Constraint", "DIFFWAVE_FAST_BETAS",
           "DIFFWAVE_FAST_BETAS_T200", "DPMSolverPP2M", "Denoiser", "Model", "Plan", "SAMPLERS", "SampleOptions",
           "Sampler", "SamplerCall", "Step", "VARIANCES", "ancestral", "check_fast_betas", "check_guidance_interval",
           "classifier_free_guidance", "ddim", "ddim_mean", "fast_betas_plan", "fast_plan", "get_sampler",
           "guidance_steps", "half_lambda", "logsnr_plan", "make_plan", "max_steps_from", "model_device",
           "option_names", "own_spacings", "placed_plan", "randn", "repaint_order", "sample", "samplers_where",
           "spaced_plan", "split_options"]
