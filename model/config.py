"""The trainer's typed config: the model's shape and the training loop's settings.

Resolution as for `tokenmill run`: dataclass defaults, then a preset (`tiny`, `small`) or a YAML
file, then `--set a.b=c` overrides. On `--resume` the checkpoint's config is the base instead, so
a resumed run trains the same model on the same data order (only overrides change it). The
vocabulary size is not configured here: it comes from the shards' manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tokenmill.transforms.typed_config import ConfigError, apply_override, build, load_yaml_file, to_dict

PRESETS_DIR = Path(__file__).parent / "presets"


@dataclass(frozen=True)
class ModelConfig:
    n_layer: int = 6
    """Transformer blocks."""
    n_head: int = 6
    """Attention heads per block; n_embd must be a multiple of it."""
    n_embd: int = 384
    """Width of the residual stream."""
    block_size: int = 256
    """Context length in tokens (learned positions up to this length)."""
    dropout: float = 0.0
    """Dropout on attention weights, residual branches and embeddings (nanoGPT: 0.0 to pretrain)."""
    bias: bool = False
    """Biases in Linear and LayerNorm layers (GPT-2: true; nanoGPT found false a bit better and faster)."""

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        if min(self.n_layer, self.n_head, self.block_size) < 1:
            raise ValueError("n_layer, n_head and block_size must be at least 1")


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 32
    """Blocks per micro-batch."""
    grad_accum: int = 1
    """Micro-batches per optimizer step (tokens per step = batch_size * grad_accum * block_size)."""
    max_steps: int = 2000
    """Optimizer steps to train to."""
    lr: float = 1e-3
    """Peak learning rate after warmup."""
    min_lr: float = 1e-4
    """Learning rate at the end of the cosine decay (Chinchilla: about lr / 10)."""
    warmup_steps: int = 100
    """Steps of linear warmup from 0 to lr."""
    lr_decay_steps: int = 0
    """Step at which the cosine reaches min_lr; 0 means max_steps."""
    weight_decay: float = 0.1
    """AdamW decoupled weight decay, on matrices only (not on norms, biases)."""
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    """Clip the global gradient norm to this; 0 turns clipping off."""
    eval_interval: int = 100
    """Evaluate validation loss every this many steps, at step 0 and at the last step."""
    eval_batches: int = 20
    """Micro-batches of validation blocks per evaluation (always the same blocks)."""
    log_interval: int = 10
    """Write a train_log.jsonl line every this many steps."""
    ckpt_interval: int = 500
    """Save a checkpoint every this many steps (and at the last step)."""
    seed: int = 1337
    """Seed of the model's initialisation, the data order and dropout."""
    device: str = "auto"
    """auto (cuda when available, else cpu), cpu, cuda, cuda:1, mps ..."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Autocast dtype: auto is bfloat16 on CUDA GPUs that support it, else float32."""
    compile: Literal["auto", True, False] = "auto"
    """torch.compile the model (true/false); auto compiles on CUDA only (on CPU the compile time outweighs the gain)."""
    cpu_threads: int = 0
    """Threads for CPU math; 0 keeps PyTorch's default (one per core). On a machine shared with other
    jobs, 1 can be several times faster: OpenMP threads that wait on each other cost more than they give."""
    peak_flops: float = 0.0
    """Peak FLOP/s of one device for the MFU figure; 0 looks it up from the GPU's name."""

    def __post_init__(self) -> None:
        if min(self.batch_size, self.grad_accum, self.max_steps, self.eval_interval, self.log_interval,
               self.ckpt_interval, self.eval_batches) < 1:
            raise ValueError("batch_size, grad_accum, max_steps and the intervals must be at least 1")
        if self.eval_interval % self.log_interval or self.ckpt_interval % self.log_interval:
            raise ValueError("eval_interval and ckpt_interval must be multiples of log_interval")


@dataclass(frozen=True)
class TrainRunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_train_config(name_or_path: str | None = "tiny", overrides: list[str] | tuple[str, ...] = (),
                      base: dict | None = None) -> TrainRunConfig:
    """A preset name or YAML path (or, with `base`, a checkpoint's saved config) plus overrides."""
    if base is not None:
        data = base
    else:
        path = Path(name_or_path)
        if not path.suffix and (PRESETS_DIR / f"{name_or_path}.yaml").exists():
            path = PRESETS_DIR / f"{name_or_path}.yaml"
        elif not path.exists():
            raise ConfigError(f"--config: '{name_or_path}' is neither a trainer preset "
                              f"({', '.join(preset_names())}) nor an existing YAML file")
        data = load_yaml_file(path)
    for assignment in overrides:
        data = apply_override(data, assignment)
    return build(TrainRunConfig, data)


__all__ = ["ConfigError", "ModelConfig", "TrainConfig", "TrainRunConfig", "load_train_config", "to_dict"]
