"""The `detoxify` backend: real Detoxify models (original, unbiased, multilingual) from local files.

`Detoxify(...)` downloads its checkpoint from GitHub and the base model's config and tokenizer
from the Hugging Face Hub, neither of which a worker can reach. This backend loads a local
checkpoint file (the released `.ckpt`, a dict with `config` and `state_dict`) and a local Hugging
Face directory holding the base model's `config.json` and tokenizer files, through Detoxify's own
`get_model_and_tokenizer`. Detoxify 0.5.4 still calls `config_class.from_pretrained(model_type)`
with the Hub name even when `huggingface_config_path` is given (unitaryai/detoxify PR #126,
open), so the checkpoint's `model_type` is pointed at the local directory, and the Hub is switched
off for the process (HF_HUB_OFFLINE) before transformers is imported.

Scores are sigmoid outputs per label, as in `Detoxify.predict`. The model loads once per worker,
runs batched under `torch.inference_mode()`, on CUDA in float16 when a GPU is present.
Reference: Hanu and Unitary team, Detoxify (2020), https://github.com/unitaryai/detoxify.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from tokenmill.transforms.toxicity import Scorer, ToxicityConfig

# Detoxify renames the Jigsaw 2018 labels of the `original` model the same way.
_RENAME = {"toxic": "toxicity", "identity_hate": "identity_attack", "severe_toxic": "severe_toxicity"}
EXPECTED_LABELS = {
    "original": {"toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"},
    "unbiased": {"toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack",
                 "sexual_explicit"},
    "multilingual": {"toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack",
                     "sexual_explicit"},
}


def pick_device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("toxicity.device is 'cuda' but torch sees no GPU")
    return requested


class DetoxifyScorer(Scorer):
    """A Detoxify checkpoint scoring batches of texts; labels as Detoxify names them."""

    def __init__(self, cfg: ToxicityConfig):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import torch
            from detoxify.detoxify import get_model_and_tokenizer
        except ImportError as err:
            raise RuntimeError("toxicity.backend 'detoxify' needs the extra: pip install 'tokenmill[detoxify]'"
                               f" ({err})") from None
        checkpoint, hf_dir = Path(cfg.detoxify_checkpoint), Path(cfg.detoxify_hf_dir)
        if not checkpoint.is_file():
            raise FileNotFoundError(f"toxicity.detoxify_checkpoint: no file {checkpoint}")
        if not (hf_dir / "config.json").is_file():
            raise FileNotFoundError(f"toxicity.detoxify_hf_dir: no config.json in {hf_dir}")
        self.device = pick_device(cfg.device)
        # weights_only=False: Detoxify checkpoints carry a plain-dict config beside the tensors; this
        # is the file the operator configured, as Detoxify itself loads it.
        loaded = torch.load(checkpoint, map_location="cpu", weights_only=False)
        if "config" not in loaded or "state_dict" not in loaded:
            raise ValueError(f"{checkpoint}: not a Detoxify checkpoint (needs 'config' and 'state_dict')")
        arch = dict(loaded["config"]["arch"]["args"])
        arch["model_type"] = str(hf_dir)   # keep transformers off the Hub (see module docstring)
        model, tokenizer = get_model_and_tokenizer(**arch, state_dict=loaded["state_dict"],
                                                   huggingface_config_path=str(hf_dir))
        self.labels = tuple(_RENAME.get(c, c) for c in loaded["config"]["dataset"]["args"]["classes"])
        unexpected = set(self.labels) - EXPECTED_LABELS[cfg.detoxify_model]
        if unexpected:
            raise ValueError(f"{checkpoint}: labels {sorted(unexpected)} are not those of Detoxify "
                             f"'{cfg.detoxify_model}'; check toxicity.detoxify_model")
        self.main = "toxicity"
        self.half = cfg.half_precision and self.device == "cuda"
        model = model.to(self.device).eval()
        self.model = model.half() if self.half else model
        self.tokenizer = tokenizer
        self.max_length = cfg.max_length
        self._torch = torch

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        inputs = self.tokenizer(list(texts), return_tensors="pt", truncation=True, padding=True,
                                max_length=self.max_length).to(self.device)
        with torch.inference_mode():
            logits = self.model(**inputs)[0]            # (batch, n_labels)
            scores = torch.sigmoid(logits.float())
        return scores.cpu().numpy()

    def close(self) -> None:
        self.model = None
        if self.device == "cuda":
            self._torch.cuda.empty_cache()
