"""The [train] table of a recipe: its keys, defaults, ranges and choices, declared by the trainer that reads them.

recipe.py parses `[train]` into `TrainConfig` (and keeps the checks that span tables); the device and precision
choices come from audiodiff/device.py and audiodiff/precision.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..device import DEVICES
from ..options import option
from ..precision import PRECISIONS


@dataclass
class TrainConfig:
    """[train]: the optimiser, batches, checkpoints and monitoring of a run (read by training/trainer.py)."""
    batch_size: int = option(16, lo=1)
    learning_rate: float = option(2e-4, lo=0, lo_open=True, hi=1)
    weight_decay: float = option(0.0, lo=0, hi=1)
    max_steps: int = option(1_000_000, lo=1)
    minutes: float = option(0.0, lo=0, help="wall-clock budget of training in minutes (data preparation not "
                            "counted); stops at whichever of it and max_steps comes first; 0 = none")
    warmup_steps: int = option(0, lo=0)
    ema_decay: float = option(0.999, lo=0, hi=1, hi_open=True,
                               help="EMA decay, reached after a warm-up: min(ema_decay, (1 + n)/(10 + n)) at update n")
    grad_clip: float = option(1.0, lo=0, help="0 disables clipping")
    checkpoint_every: int = option(5000, lo=1)
    log_every: int = option(50, lo=1)
    seed: int = option(0, lo=0)
    device: str = option("auto", choices=DEVICES)
    threads: int = option(0, lo=0, help="CPU threads; 0 = torch's default")
    grad_accum: int = option(1, lo=1, hi=1024, help="micro-batches per optimiser step; batch_size is split into them")
    compile: bool = option(False, help="torch.compile the network")
    precision: str = option("auto", choices=PRECISIONS,
                        help="bf16 autocast for the network; auto = bf16 where the hardware has it (audiodiff/precision.py)")
    lr_schedule: str = option("constant", choices=("constant", "cosine"), help="after the linear warm-up")
    min_lr_ratio: float = option(0.1, lo=0, hi=1, help="cosine: lr at [train] max_steps, as a fraction of learning_rate")
    tensorboard: bool = option(True, help="TensorBoard logs in RUN_DIR/tb")
    preview_every: int = option(5000, lo=0, help="steps between audio / mel previews in TensorBoard; 0 disables")
    preview_n: int = option(4, lo=1, hi=64, help="clips per preview")
    cond_drop: float = option(0.1, lo=0, hi=1, hi_open=True,
                          help="class-conditional models: share of labels dropped (classifier-free guidance)")
    balance_classes: bool = option(False, help="labelled data: draw clips so that every class is as likely as any "
                                               "other in a batch (a rare class's clips repeat more often), instead "
                                               "of in proportion to its clips")
    eval_every: int = option(0, lo=0, help="steps between quality evaluations (FID / IS of EMA samples against "
                                       "eval_classifier; a classifier run: validation accuracy); 0 disables")
    eval_n: int = option(256, lo=2, help="samples generated per quality evaluation")
    eval_classifier: str = option("", help="classifier run directory (recipes/sc09-classifier) for eval_every")
