"""`tokenmill sample`: generate text from a trained checkpoint.

Loads OUT/ckpt.pt (its config rebuilds the model) and the SentencePiece model that `tokenmill
train` copied beside it, encodes the prompt (or starts from bos), and samples with temperature
and top-k, as nanoGPT's sample.py. Each sample ends at eos or after --max-new-tokens.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import torch

from tokenmill.model.config import ConfigError, load_train_config
from tokenmill.model.gpt import GPT
from tokenmill.model.train import CHECKPOINT, TOKENIZER, load_checkpoint, pick_device


def parse_args(argv: list[str]) -> argparse.Namespace:
    class Parser(argparse.ArgumentParser):
        def error(self, message: str):
            raise ConfigError(f"tokenmill sample: {message}")

    p = Parser(prog="tokenmill sample", description="Generate text from a checkpoint of 'tokenmill train'.")
    p.add_argument("--model", required=True, metavar="DIR_OR_CKPT", help="the train --output directory, or a .pt file")
    p.add_argument("--tokenizer", default=None, metavar="FILE",
                   help="SentencePiece model (default: the one beside the checkpoint)")
    p.add_argument("--prompt", default="", help="text to continue (default: start of a document)")
    p.add_argument("--num-samples", type=int, default=1)
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=200)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--device", default="auto")
    return p.parse_args(argv)


def load_model(path: Path, device: torch.device) -> tuple[GPT, dict]:
    """The GPT of a checkpoint, in eval mode on `device`, and the checkpoint itself."""
    checkpoint = load_checkpoint(path)
    cfg = load_train_config(base=checkpoint["config"])
    model = GPT(cfg.model, checkpoint["vocab_size"])
    model.load_state_dict(checkpoint["model"])
    return model.to(device).eval(), checkpoint


def load_tokenizer(path: Path, expected_sha256: str):
    import sentencepiece as spm

    if not path.exists():
        raise ConfigError(f"tokenmill sample: no tokenizer at {path} (pass --tokenizer)")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != expected_sha256:
        raise ConfigError(f"tokenmill sample: {path} is not the tokenizer the checkpoint was trained with")
    return spm.SentencePieceProcessor(model_proto=data)


def generate(model: GPT, sp, prompt: str, args: argparse.Namespace, device: torch.device) -> list[str]:
    start = sp.encode(prompt) if prompt else [sp.bos_id() if sp.bos_id() >= 0 else sp.eos_id()]
    idx = torch.tensor([start] * args.num_samples, dtype=torch.long, device=device)   # (S, T0)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    out = model.generate(idx, args.max_new_tokens, args.temperature, args.top_k, generator, stop_id=sp.eos_id())
    texts = []
    for row in out.tolist():
        new = row[len(start):]
        if sp.eos_id() in new:
            new = new[:new.index(sp.eos_id())]
        texts.append(prompt + sp.decode(new))
    return texts


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    path = Path(args.model)
    ckpt_path = path / CHECKPOINT if path.is_dir() else path
    device = pick_device(args.device)
    model, checkpoint = load_model(ckpt_path, device)
    sp = load_tokenizer(Path(args.tokenizer) if args.tokenizer else ckpt_path.parent / TOKENIZER,
                        checkpoint["tokenizer_sha256"])
    for i, text in enumerate(generate(model, sp, args.prompt, args, device)):
        if i:
            print("\n---------------")
        print(text)
    return 0
