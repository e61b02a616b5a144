"""The GPT: shapes, initial loss, weight tying, causality, generation."""

from __future__ import annotations

import math

import pytest
import torch

from tokenmill.model.config import ModelConfig
from tokenmill.model.gpt import GPT

CFG = ModelConfig(n_layer=2, n_head=2, n_embd=32, block_size=16)


def test_forward_shapes_and_initial_loss_near_uniform():
    torch.manual_seed(0)
    model = GPT(CFG, vocab_size=300)
    idx, targets = torch.randint(0, 300, (4, 16)), torch.randint(0, 300, (4, 16))
    logits, loss = model(idx, targets)
    assert logits.shape == (4, 16, 300)
    # GPT-2 init gives near-uniform predictions: loss within 0.05 nats of ln(V) on unrelated targets.
    assert abs(loss.item() - math.log(300)) < 0.05
    logits, loss = model(idx)
    assert logits.shape == (4, 1, 300) and loss is None


def test_output_head_is_tied_to_the_token_embedding():
    model = GPT(CFG, vocab_size=300)
    assert model.lm_head.weight.data_ptr() == model.wte.weight.data_ptr()
    assert model.num_params(non_embedding=False) == sum(p.numel() for p in model.parameters())


def test_attention_is_causal():
    torch.manual_seed(0)
    model = GPT(CFG, vocab_size=50).eval()
    idx = torch.randint(0, 50, (1, 16))
    changed = idx.clone()
    changed[0, 10:] = (changed[0, 10:] + 1) % 50
    a, _ = model(idx, idx)
    b, _ = model(changed, changed)
    assert torch.allclose(a[0, :10], b[0, :10], atol=1e-6)
    assert not torch.allclose(a[0, 10:], b[0, 10:], atol=1e-3)


def test_too_long_input_is_refused_and_generate_crops_the_context():
    model = GPT(CFG, vocab_size=50).eval()
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, 17, dtype=torch.long))
    out = model.generate(torch.zeros(2, 3, dtype=torch.long), 20, top_k=5,
                         generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 23) and int(out.max()) < 50


def test_weight_decay_only_on_matrices():
    model = GPT(CFG, vocab_size=50)
    decay, no_decay = model.optimizer(1e-3, 0.1, (0.9, 0.95), fused=False).param_groups
    assert all(p.dim() == 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
