"""Quality heuristics: Gopher quality and repetition, C4 cleaning, FineWeb line rules.

Each rule family is a pure function over text in its own module (gopher.py, c4.py, fineweb.py),
with its thresholds in a frozen config; text.py holds the language-aware word splitting they
share. stage.py chains them in FineWeb's order into the `quality` stage.
"""

from tokenmill.transforms.quality.stage import QualityConfig, QualityStep, assess_quality

__all__ = ["QualityConfig", "QualityStep", "assess_quality"]
