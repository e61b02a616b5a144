"""Trainer throughput: `tokenmill train` against a minimal plain-PyTorch loop of the same size.

Both train the same shape (the `tiny` preset unless --config says otherwise: layers, width,
heads, context, batch) on the same tokens, in the same process, interleaved --repeats times:
- reference: torch.nn.TransformerEncoder (pre-norm, GELU, no bias, causal mask), token and
  position embeddings, a tied head, AdamW, random blocks: the least code that trains this model;
- tokenmill: `tokenmill.model.train.main` on the shards' manifest (epoch sampler, LR schedule,
  gradient clipping, logging, checkpoints), its tokens/s read from train_log.jsonl, which
  excludes evaluation and checkpoint time.
The first --warmup steps of each are not timed. The shards come from a real `tokenmill run` on
the WARCs in --data DIR/warc/ (or a run's tokens/ given as --tokens). On CUDA both use bf16 autocast; tokenmill also
compiles and uses fused AdamW (its defaults there), the reference does not.

    .venv/bin/python bench/bench_train.py --data DIR | --tokens RUN/tokens [--steps 40] [--repeats 2] [--config tiny] [--threads 0]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from common import add_data_argument, data_dir, print_table  # noqa: E402

from tokenmill.model.config import load_train_config  # noqa: E402
from tokenmill.model.data import load_manifest, load_split  # noqa: E402
from tokenmill.model.train import main as train_main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class ReferenceGPT(nn.Module):
    """The same shape as tokenmill's GPT, from stock torch.nn layers."""

    def __init__(self, vocab: int, n_layer: int, n_head: int, n_embd: int, block_size: int):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, n_embd), nn.Embedding(block_size, n_embd)
        layer = nn.TransformerEncoderLayer(n_embd, n_head, 4 * n_embd, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True, bias=False)
        self.blocks = nn.TransformerEncoder(layer, n_layer, enable_nested_tensor=False)
        self.ln_f = nn.LayerNorm(n_embd, bias=False)
        self.head = nn.Linear(n_embd, vocab, bias=False)
        self.head.weight = self.wte.weight
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(block_size), persistent=False)

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
        x = self.ln_f(self.blocks(x, mask=self.mask[:T, :T], is_causal=True))
        return F.cross_entropy(self.head(x).view(-1, self.head.out_features).float(), targets.reshape(-1))


def reference_tokens_per_s(stream: np.ndarray, vocab: int, cfg, steps: int, warmup: int, device: torch.device) -> float:
    m, t = cfg.model, cfg.train
    torch.manual_seed(0)
    model = ReferenceGPT(vocab, m.n_layer, m.n_head, m.n_embd, m.block_size).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=t.lr)
    rng = np.random.default_rng(0)
    autocast = contextlib.nullcontext
    if device.type == "cuda":
        autocast = lambda: torch.autocast("cuda", dtype=torch.bfloat16)  # noqa: E731
    started = None
    for step in range(warmup + steps):
        if step == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
        for _ in range(t.grad_accum):
            starts = rng.integers(0, len(stream) - m.block_size - 1, t.batch_size)
            chunk = np.stack([stream[s:s + m.block_size + 1] for s in starts]).astype(np.int64)
            chunk = torch.from_numpy(chunk).to(device)
            with autocast():
                loss = model(chunk[:, :-1], chunk[:, 1:])
            (loss / t.grad_accum).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    loss.item()
    return steps * t.batch_size * t.grad_accum * m.block_size / (time.perf_counter() - started)


def tokenmill_tokens_per_s(data: Path, out: Path, config: str, steps: int, warmup: int, threads: int,
                           tokens_per_step: int) -> float:
    total = warmup + steps
    never = total * warmup   # a multiple of log_interval beyond the run: no evaluation or checkpoint inside it
    train_main(["--data", str(data), "--output", str(out), "--config", config,
                "--set", f"train.max_steps={total}", "--set", f"train.log_interval={warmup}",
                "--set", f"train.eval_interval={never}", "--set", f"train.ckpt_interval={never}",
                "--set", "train.eval_batches=1", "--set", f"train.cpu_threads={threads}"])
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    # Each record's tokens_per_s covers the steps since the previous record; the first covers warmup.
    timed_steps, seconds, prev = 0, 0.0, warmup
    for record in (r for r in log if r["step"] > warmup):
        n, prev = record["step"] - prev, record["step"]
        timed_steps += n
        seconds += n * tokens_per_step / record["tokens_per_s"]
    return timed_steps * tokens_per_step / seconds


def ensure_data(args, work: Path) -> Path:
    if args.tokens:
        return Path(args.tokens)
    from tokenmill.pipelines.cli import main as cli_main
    out = work / "run"
    warcs = str(data_dir(args, "warc") / "warc" / "*.gz")
    if cli_main(["run", "--input", warcs, "--output", str(out), "--config", "tiny"]):
        raise SystemExit("tokenmill run failed")
    return out / "tokens"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_argument(parser, "warc")
    parser.add_argument("--tokens", default=None, metavar="DIR",
                        help="a run's tokens/ directory (instead of --data: running the tiny recipe on its WARCs now)")
    parser.add_argument("--config", default="tiny")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads for both (0: PyTorch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_train_config(args.config)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tokens_per_step = cfg.train.batch_size * cfg.train.grad_accum * cfg.model.block_size
    best = {"reference (plain PyTorch)": 0.0, "tokenmill train": 0.0}
    with tempfile.TemporaryDirectory(prefix="bench_train_") as work:
        data = ensure_data(args, Path(work))
        manifest = load_manifest(data)
        stream = load_split(data, manifest, "train").stream
        for r in range(args.repeats):
            best["reference (plain PyTorch)"] = max(best["reference (plain PyTorch)"], reference_tokens_per_s(
                stream, manifest.vocab_size, cfg, args.steps, args.warmup, device))
            best["tokenmill train"] = max(best["tokenmill train"], tokenmill_tokens_per_s(
                data, Path(work) / f"tm{r}", args.config, args.steps, args.warmup, args.threads, tokens_per_step))
    ref = best["reference (plain PyTorch)"]
    rows = [{"what": name, "device": str(device), "threads": torch.get_num_threads(),
             "tokens_per_step": tokens_per_step, "timed_steps": args.steps, "tokens_per_s": rate,
             "vs_reference": rate / ref} for name, rate in best.items()]
    m = cfg.model
    print_table(f"Trainer throughput, {args.config} shape ({m.n_layer} layers, {m.n_embd} wide, "
                f"{m.block_size} context, "
                f"vocab {manifest.vocab_size:,}), best of {args.repeats}", rows)
    print("\nbar: tokenmill train vs_reference >= 1.0 (not slower)")


if __name__ == "__main__":
    main()
