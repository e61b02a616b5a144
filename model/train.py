"""`tokenmill train`: train the compact GPT on the token shards of a run.

The loop of nanoGPT's train.py (Karpathy), as small pure helpers: `get_lr` (linear warmup, then
cosine decay to min_lr; Loshchilov and Hutter 2017), `estimate_loss` (validation loss and bits
per byte on fixed blocks), `save_checkpoint`/`load_checkpoint` (model, optimizer, step, data
position, RNG state and config, written atomically), and `train`, which wires them. AdamW with
decoupled weight decay, global gradient-norm clipping, gradient accumulation. CPU is a
first-class path; on CUDA, bf16 autocast, fused AdamW, TF32 matmuls and torch.compile switch on.
A stopped run continues with `--resume` exactly where it stopped: same data order, same dropout
masks, same losses (tested on CPU). Every logged step is a line of OUT/train_log.jsonl.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from tokenmill.model.config import ConfigError, TrainConfig, TrainRunConfig, load_train_config, to_dict
from tokenmill.model.data import (BlockSampler, TokenSplit, bits_per_byte, eval_blocks, get_batch, load_manifest,
                                  load_split)
from tokenmill.model.gpt import GPT
from tokenmill.transforms.token_shards import MANIFEST_NAME

log = logging.getLogger("tokenmill.train")

CHECKPOINT = "ckpt.pt"
LOG_FILE = "train_log.jsonl"
TOKENIZER = "tokenizer.model"

# Dense bf16 peak FLOP/s per GPU for the MFU figure (vendor datasheets); matched on the device name.
PEAK_BF16_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12,
                   "A10": 125e12, "4090": 165e12, "3090": 71e12, "V100": 125e12, "T4": 65e12}


def get_lr(step: int, cfg: TrainConfig) -> float:
    """Learning rate for optimizer step `step` (0-based): warmup, cosine to min_lr, then min_lr."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    decay_steps = cfg.lr_decay_steps or cfg.max_steps
    if step >= decay_steps:
        return cfg.min_lr
    progress = (step - cfg.warmup_steps) / max(1, decay_steps - cfg.warmup_steps)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


@torch.no_grad()
def estimate_loss(model: torch.nn.Module, split: TokenSplit, blocks: np.ndarray, batch_size: int, block_size: int,
                  device: torch.device, autocast) -> dict:
    """Mean loss over the given blocks (nats per token) and bits per byte; leaves the model in train mode."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(blocks), batch_size):
        x, y = get_batch(split.stream, blocks[start:start + batch_size], block_size)
        with autocast():
            _, loss = model(x.to(device), y.to(device))
        total += loss.item() * len(x)
        count += len(x)
    model.train()
    loss = total / max(count, 1)
    return {"val_loss": loss, "val_bpb": bits_per_byte(loss, split.tokens_per_byte)}


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, state: dict) -> None:
    """torch.save to a temporary name, then rename: a crash never leaves a half-written checkpoint."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict:
    if not path.exists():
        raise ConfigError(f"--resume: no checkpoint at {path}")
    # weights_only=False: the checkpoint carries numpy and Python RNG states besides tensors.
    return torch.load(path, map_location="cpu", weights_only=False)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast_context(cfg: TrainConfig, device: torch.device):
    """A factory of autocast contexts: bf16 on CUDA by default, full float32 on CPU by default."""
    dtype = cfg.dtype
    if dtype == "auto":
        dtype = "bfloat16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "float32"
    if dtype == "float32":
        return contextlib.nullcontext
    torch_dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    return lambda: torch.autocast(device_type=device.type, dtype=torch_dtype)


def peak_flops(cfg: TrainConfig, device: torch.device) -> float | None:
    if cfg.peak_flops:
        return cfg.peak_flops
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((flops for key, flops in PEAK_BF16_FLOPS.items() if key in name), None)


class TrainLog:
    """OUT/train_log.jsonl; on resume, lines after the checkpoint's step are dropped before appending."""

    def __init__(self, path: Path, resume_step: int | None):
        self.path = path
        lines = path.read_text(encoding="utf-8").splitlines() if resume_step is not None and path.exists() else []
        kept = [line for line in lines if line.strip() and json.loads(line)["step"] <= resume_step]
        path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")

    def write(self, record: dict) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def parse_args(argv: list[str]) -> argparse.Namespace:
    class Parser(argparse.ArgumentParser):
        def error(self, message: str):
            raise ConfigError(f"tokenmill train: {message}")

    p = Parser(prog="tokenmill train", description="Train the compact GPT on a run's token shards.")
    p.add_argument("--data", required=True, metavar="DIR",
                   help="the tokens/ directory of a run (holds manifest.json), or the run's output directory")
    p.add_argument("--output", required=True, metavar="DIR", help="checkpoints and train_log.jsonl go here")
    p.add_argument("--config", default=None, metavar="NAME_OR_FILE",
                   help="trainer preset (tiny, small) or YAML file; default tiny; not with --resume")
    p.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE",
                   help="override a config key, e.g. --set train.max_steps=500 (repeatable)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUTPUT/ckpt.pt with its config (plus --set overrides)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = Path(args.output)
    checkpoint = None
    if args.resume:
        if args.config:
            raise ConfigError("--resume takes the config from the checkpoint; use --set to change it, not --config")
        checkpoint = load_checkpoint(out / CHECKPOINT)
        cfg = load_train_config(base=checkpoint["config"], overrides=args.overrides)
    else:
        cfg = load_train_config(args.config or "tiny", args.overrides)
    data = Path(args.data)
    if not (data / MANIFEST_NAME).exists() and (data / "tokens" / MANIFEST_NAME).exists():
        data = data / "tokens"   # the run's output directory was given
    try:
        summary = train(cfg, data, out, checkpoint)
    except (FileNotFoundError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"tokenmill train: {err}") from None
    print(json.dumps(summary), file=sys.stderr)
    return 0


def train(cfg: TrainRunConfig, data_dir: Path, out: Path, checkpoint: dict | None = None) -> dict:
    """Trains to cfg.train.max_steps (from the checkpoint's step when given); returns the last record."""
    tc = cfg.train
    manifest = load_manifest(data_dir)
    if checkpoint is not None and checkpoint["tokenizer_sha256"] != manifest.tokenizer_sha256:
        raise ConfigError(f"--resume: {data_dir} was tokenized with another tokenizer than the checkpoint's")
    train_split, val_split = load_split(data_dir, manifest, "train"), load_split(data_dir, manifest, "val")
    device = pick_device(tc.device)
    if tc.cpu_threads:
        torch.set_num_threads(tc.cpu_threads)
    torch.manual_seed(tc.seed)
    model = GPT(cfg.model, manifest.vocab_size).to(device)
    optimizer = model.optimizer(tc.lr, tc.weight_decay, (tc.beta1, tc.beta2), fused=device.type == "cuda")
    sampler = BlockSampler(train_split.blocks(cfg.model.block_size), tc.batch_size, tc.seed)
    step = 0
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        step = checkpoint["step"]
        if checkpoint["data_blocks"] != sampler.n_blocks:
            raise ConfigError(f"--resume: {data_dir} has {sampler.n_blocks} training blocks, the checkpoint's data "
                              f"had {checkpoint['data_blocks']}; resuming on other data would not continue its order")
        sampler = BlockSampler(sampler.n_blocks, tc.batch_size, tc.seed, checkpoint["data_position"])
        set_rng_state(checkpoint["rng"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.resolved.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False), encoding="utf-8")
    _copy_tokenizer(data_dir / manifest.tokenizer_path, out / TOKENIZER)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    compiled = torch.compile(model) if tc.compile is True or (tc.compile == "auto" and device.type == "cuda") else model
    loop = _Loop(cfg, model, compiled, optimizer, sampler, train_split, val_split, device, out, manifest)
    log.info("train: %s params, %d train / %d val tokens, %d blocks of %d, device %s",
             f"{model.num_params():,}", len(train_split.stream), len(val_split.stream), sampler.n_blocks,
             cfg.model.block_size, device)
    return loop.run(step, TrainLog(out / LOG_FILE, step if checkpoint is not None else None))


def _copy_tokenizer(source: Path, dest: Path) -> None:
    # The sample command finds the tokenizer beside the checkpoint.
    if source.exists():
        shutil.copyfile(source, dest)
    else:
        log.warning("train: no tokenizer at %s; 'tokenmill sample' will need --tokenizer", source)


class _Loop:
    """The training loop's state; `run` is the loop itself."""

    def __init__(self, cfg, model, compiled, optimizer, sampler, train_split, val_split, device, out, manifest):
        self.cfg, self.model, self.compiled, self.optimizer = cfg, model, compiled, optimizer
        self.sampler, self.train_split, self.val_split, self.device = sampler, train_split, val_split, device
        self.out, self.manifest = out, manifest
        self.autocast = autocast_context(cfg.train, device)
        self.val_blocks = eval_blocks(val_split.blocks(cfg.model.block_size), cfg.train.eval_batches *
                                      cfg.train.batch_size, cfg.train.seed)
        self.peak = peak_flops(cfg.train, device)

    def step(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step (grad_accum micro-batches); returns the mean loss and the gradient norm."""
        tc = self.cfg.train
        lr = get_lr(step, tc)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        total = torch.zeros((), device=self.device)
        for _ in range(tc.grad_accum):
            x, y = get_batch(self.train_split.stream, self.sampler.next_blocks(), self.cfg.model.block_size)
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            with self.autocast():
                _, loss = self.compiled(x, y)
            (loss / tc.grad_accum).backward()
            total += loss.detach() / tc.grad_accum
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), tc.grad_clip if tc.grad_clip > 0 else math.inf)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total, norm

    def evaluate(self) -> dict:
        if not len(self.val_blocks):
            return {}
        return estimate_loss(self.compiled, self.val_split, self.val_blocks, self.cfg.train.batch_size,
                             self.cfg.model.block_size, self.device, self.autocast)

    def checkpoint(self, step: int) -> None:
        save_checkpoint(self.out / CHECKPOINT, {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "step": step,
            "data_position": self.sampler.position(), "data_blocks": self.sampler.n_blocks,
            "rng": rng_state(), "config": to_dict(self.cfg),
            "vocab_size": self.manifest.vocab_size, "tokenizer_sha256": self.manifest.tokenizer_sha256,
            "eos_id": self.manifest.eos_id, "bos_id": self.manifest.bos_id})

    def run(self, step: int, train_log: TrainLog) -> dict:
        tc = self.cfg.train
        tokens_per_step = tc.batch_size * tc.grad_accum * self.cfg.model.block_size
        record: dict = {}
        if step == 0 and (first := self.evaluate()):
            record = {"step": 0, **first}
            train_log.write(record)
            log.info("step 0: val %.4f (ln of the vocabulary size: %.4f)", first["val_loss"],
                     math.log(self.manifest.vocab_size))
        if not len(self.val_blocks):
            log.warning("train: the val split has no whole block; no validation loss will be logged")
        if step >= tc.max_steps:
            log.info("train: the checkpoint is at step %d, max_steps is %d: nothing to do", step, tc.max_steps)
        timer, steps_timed = time.perf_counter(), 0
        while step < tc.max_steps:
            loss, norm = self.step(step)
            step, steps_timed = step + 1, steps_timed + 1
            last = step == tc.max_steps
            if step % tc.log_interval == 0 or last:
                loss_value = loss.item()   # synchronises the device, so the timer below is honest
                seconds = time.perf_counter() - timer
                record = {"step": step, "loss": loss_value, "lr": get_lr(step - 1, tc), "grad_norm": norm.item(),
                          "tokens_per_s": steps_timed * tokens_per_step / seconds, **self.sampler.position()}
                if self.peak:
                    record["mfu"] = record["tokens_per_s"] * self.model.flops_per_token() / self.peak
                if step % tc.eval_interval == 0 or last:
                    record.update(self.evaluate())
                train_log.write(record)
                log.info("step %d: loss %.4f%s, %.0f tokens/s", step, loss_value,
                         f", val {record['val_loss']:.4f}" if "val_loss" in record else "", record["tokens_per_s"])
                if step % tc.ckpt_interval == 0 or last:
                    self.checkpoint(step)
                timer, steps_timed = time.perf_counter(), 0   # eval and checkpoint time is not training time
        return record
