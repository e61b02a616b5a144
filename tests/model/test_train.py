"""The training loop: learning-rate schedule, the log, exact resume, checkpoints, sampling, CLI errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from tokenmill.model.config import TrainConfig
from tokenmill.model.train import get_lr, load_checkpoint, main as train_main
from tokenmill.pipelines.cli import main as cli_main

# A model small enough that a step takes milliseconds; dropout on, so resume must restore the RNG.
SMALL = ["--set", "model.n_layer=2", "--set", "model.n_head=2", "--set", "model.n_embd=32",
         "--set", "model.block_size=32", "--set", "model.dropout=0.1", "--set", "train.batch_size=4",
         "--set", "train.grad_accum=2", "--set", "train.log_interval=1", "--set", "train.eval_interval=2",
         "--set", "train.ckpt_interval=2", "--set", "train.eval_batches=2", "--set", "train.warmup_steps=2",
         "--set", "train.lr_decay_steps=8", "--set", "train.cpu_threads=1"]


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("step, expected", [
    (0, 1e-3 * 1 / 10), (9, 1e-3), (10, 1e-3), (55, 1e-4 + 0.5 * (1e-3 - 1e-4)), (100, 1e-4), (150, 1e-4)])
def test_lr_warms_up_then_follows_a_cosine_to_min_lr(step, expected):
    cfg = TrainConfig(lr=1e-3, min_lr=1e-4, warmup_steps=10, max_steps=100)
    assert get_lr(step, cfg) == pytest.approx(expected)


def test_resume_gives_the_same_losses_as_training_straight_through(token_dir, tmp_path):
    data = ["--data", str(token_dir)]
    train_main(data + SMALL + ["--output", str(tmp_path / "straight"), "--set", "train.max_steps=8"])
    train_main(data + SMALL + ["--output", str(tmp_path / "stopped"), "--set", "train.max_steps=4"])
    train_main(data + ["--output", str(tmp_path / "stopped"), "--resume", "--set", "train.max_steps=8"])
    straight, resumed = _log(tmp_path / "straight"), _log(tmp_path / "stopped")
    assert [r["step"] for r in straight] == [r["step"] for r in resumed] == list(range(9))
    for a, b in zip(straight, resumed):
        assert (a.get("loss"), a.get("val_loss"), a.get("lr")) == (b.get("loss"), b.get("val_loss"), b.get("lr"))
    ckpt_a = load_checkpoint(tmp_path / "straight" / "ckpt.pt")
    ckpt_b = load_checkpoint(tmp_path / "stopped" / "ckpt.pt")
    assert ckpt_a["step"] == ckpt_b["step"] == 8 and ckpt_a["data_position"] == ckpt_b["data_position"]
    assert all(torch.equal(ckpt_a["model"][k], ckpt_b["model"][k]) for k in ckpt_a["model"])


def test_log_and_checkpoint_carry_what_the_design_asks(token_dir, tmp_path):
    # --data may also name the run's output directory, the parent of tokens/.
    train_main(["--data", str(token_dir.parent), "--output", str(tmp_path)] + SMALL + ["--set", "train.max_steps=2"])
    log = _log(tmp_path)
    assert log[0]["step"] == 0 and abs(log[0]["val_loss"] - math.log(512)) < 0.1   # the untrained start
    assert {"step", "loss", "lr", "tokens_per_s", "val_loss", "val_bpb", "epoch", "cursor"} <= set(log[-1])
    assert "mfu" not in log[-1]                                                      # CPU: no peak to divide by
    ckpt = load_checkpoint(tmp_path / "ckpt.pt")
    assert {"model", "optimizer", "step", "data_position", "rng", "config"} <= set(ckpt)
    assert ckpt["config"]["model"]["n_embd"] == 32 and ckpt["data_position"] == {"epoch": 0, "cursor": 16}
    assert (tmp_path / "tokenizer.model").exists() and "n_embd: 32" in (tmp_path / "config.resolved.yaml").read_text()


def test_sample_generates_text_from_a_checkpoint(token_dir, tmp_path, capsys):
    train_main(["--data", str(token_dir), "--output", str(tmp_path)] + SMALL + ["--set", "train.max_steps=2"])
    capsys.readouterr()
    assert cli_main(["sample", "--model", str(tmp_path), "--prompt", "Article 1", "--max-new-tokens", "10",
                     "--num-samples", "2"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("Article 1") == 2 and "---------------" in printed


@pytest.mark.parametrize("argv, message", [
    (["train", "--data", "{data}", "--output", "{out}", "--resume"], "no checkpoint"),
    (["train", "--data", "{out}", "--output", "{out}"], "no manifest"),
    (["train", "--data", "{data}", "--output", "{out}", "--set", "model.n_head=5"], "multiple of n_head"),
    (["train", "--data", "{data}", "--output", "{out}", "--config", "huge"], "neither a trainer preset"),
    (["train", "--output", "{out}"], "--data"),
])
def test_mistakes_are_one_line_and_exit_2(token_dir, tmp_path, capsys, argv, message):
    argv = [a.format(data=token_dir, out=tmp_path) for a in argv]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("tokenmill: error:")
