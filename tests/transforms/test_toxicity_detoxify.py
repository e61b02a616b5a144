"""The Detoxify backend runs for real on tiny randomly initialised checkpoints in Detoxify's format.

Each test writes what an operator would bake into a worker image: a checkpoint file (a dict with
Detoxify's `config` and a `state_dict`) and a Hugging Face directory with the base model's
config and tokenizer. The model is tiny and random, so the scores mean nothing; what is checked
is that the real loading code (detoxify.get_model_and_tokenizer, transformers) reads them with
no network, that scores equal those of the model that was saved, and that the stage uses them.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("detoxify")

from tokenmill.transforms.document import Document, Drop  # noqa: E402
from tokenmill.transforms.toxicity import ToxicityConfig, ToxicityStep  # noqa: E402
from tokenmill.transforms.toxicity_detoxify import DetoxifyScorer  # noqa: E402

JIGSAW_2018 = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
UNBIASED = ["toxicity", "severe_toxicity", "obscene", "identity_attack", "insult", "threat", "sexual_explicit"]
WORDS = "you are an idiot nice day the a hello world i hate love stupid people go away".split()


def _bert_dir(path):
    vocab = path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    tokenizer = transformers.BertTokenizer(str(vocab), do_lower_case=True)
    config = transformers.BertConfig(vocab_size=len(WORDS) + 5, hidden_size=16, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=64,
                                     initializer_range=0.5)
    return tokenizer, config, "BertForSequenceClassification", "BertTokenizer"


def _xlmr_dir(path):
    # A unigram vocabulary in XLM-R's layout (specials first, then "▁word" pieces and letters).
    specials = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("<mask>", 0.0)]
    pieces = [("▁" + w, -2.0) for w in WORDS] + [(c, -5.0) for c in "abcdefghijklmnopqrstuvwxyz▁"]
    tokenizer = transformers.XLMRobertaTokenizer(vocab=specials + pieces)
    config = transformers.XLMRobertaConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1,
                                           num_attention_heads=2, intermediate_size=32, max_position_embeddings=80,
                                           initializer_range=0.5, pad_token_id=tokenizer.pad_token_id)
    return tokenizer, config, "XLMRobertaForSequenceClassification", "XLMRobertaTokenizer"


def make_checkpoint(tmp_path, kind: str):
    """Writes a Detoxify-format checkpoint and HF dir; returns (cfg, the saved model, its tokenizer)."""
    hf_dir = tmp_path / "hf"
    hf_dir.mkdir()
    tokenizer, config, model_name, tokenizer_name = (_bert_dir if kind == "original" else _xlmr_dir)(tmp_path)
    classes = JIGSAW_2018 if kind == "original" else UNBIASED
    config.num_labels = len(classes)
    torch.manual_seed(0)
    model = getattr(transformers, model_name)(config).eval()
    tokenizer.save_pretrained(hf_dir)
    config.save_pretrained(hf_dir)
    hub_name = {"original": "bert-base-uncased", "multilingual": "xlm-roberta-base"}[kind]
    checkpoint = {"config": {"arch": {"args": {"model_type": hub_name, "model_name": model_name,
                                               "tokenizer_name": tokenizer_name, "num_classes": len(classes)}},
                             "dataset": {"args": {"classes": classes}}},
                  "state_dict": model.state_dict()}
    torch.save(checkpoint, tmp_path / "model.ckpt")
    cfg = ToxicityConfig(backend="detoxify", detoxify_model=kind, detoxify_checkpoint=str(tmp_path / "model.ckpt"),
                         detoxify_hf_dir=str(hf_dir), device="cpu", threshold=0.5, batch_size=2)
    return cfg, model, tokenizer


@pytest.mark.parametrize("kind", ["original", "multilingual"])
def test_loads_offline_and_scores_like_the_saved_model(tmp_path, monkeypatch, kind):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg, model, tokenizer = make_checkpoint(tmp_path, kind)
    scorer = DetoxifyScorer(cfg)
    assert scorer.main == "toxicity"
    assert "identity_attack" in scorer.labels and "toxic" not in scorer.labels     # Detoxify's names
    texts = ["you are an idiot", "nice day hello world", "i love people"]
    got = scorer(texts)
    with torch.no_grad():
        batch = tokenizer(texts, return_tensors="pt", padding=True, truncation=True)
        expected = torch.sigmoid(model(**batch)[0]).numpy()
    assert got.shape == (3, len(scorer.labels))
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert np.ptp(got[:, 0]) > 1e-3             # a real forward pass: texts get different scores


def test_stage_step_with_detoxify_backend(tmp_path):
    cfg, _, _ = make_checkpoint(tmp_path, "original")
    step = ToxicityStep(cfg, lambda c: DetoxifyScorer(c))
    docs = [Document(id=str(i), text=t) for i, t in enumerate(["you are an idiot", "nice day\nhello world", ""])]
    outcomes = step(docs)
    assert len(outcomes) == 3
    for outcome in outcomes:
        annotated = outcome.annotated if isinstance(outcome, Drop) else outcome
        assert 0.0 <= annotated.toxicity <= 1.0
        assert set(annotated.toxicity_labels) == {"toxicity", "severe_toxicity", "obscene", "threat", "insult",
                                                  "identity_attack"}
        assert isinstance(outcome, Drop) == (annotated.toxicity > cfg.threshold)
    step.close()


def test_wrong_model_kind_and_missing_files_are_clear_errors(tmp_path):
    cfg, _, _ = make_checkpoint(tmp_path, "multilingual")
    import dataclasses

    with pytest.raises(ValueError, match="sexual_explicit"):
        DetoxifyScorer(dataclasses.replace(cfg, detoxify_model="original"))
    with pytest.raises(FileNotFoundError, match="detoxify_checkpoint"):
        DetoxifyScorer(dataclasses.replace(cfg, detoxify_checkpoint=str(tmp_path / "none.ckpt")))
    with pytest.raises(FileNotFoundError, match="detoxify_hf_dir"):
        DetoxifyScorer(dataclasses.replace(cfg, detoxify_hf_dir=str(tmp_path)))
