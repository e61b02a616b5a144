#!/usr/bin/env bash
# Unpacks the Ding English-German dictionary (Debian package trans-de-en 1.9, Frank Richter,
# TU Chemnitz, GPL-2+) into the cache, for `scripts/train_toxicity.py --kind fast --german`,
# which adds a word-by-word German translation of every training text (TOXICITY.md). Only the
# training script reads it; the pipeline never does. Prints the dictionary's path.
# Uses the installed /usr/share/trans/de-en when there is one; otherwise `apt-get download`
# (no root needed, Debian's package lists must be present) and `dpkg-deb -x`.
# Environment: TOKENMILL_CACHE (default ~/.cache/tokenmill).
set -euo pipefail
VERSION=1.9-6
if [ -r /usr/share/trans/de-en ]; then
  echo /usr/share/trans/de-en
  exit 0
fi
CACHE="${TOKENMILL_CACHE:-$HOME/.cache/tokenmill}/ding-$VERSION"
DICT="$CACHE/usr/share/trans/de-en"
if [ ! -r "$DICT" ]; then
  mkdir -p "$CACHE"
  (cd "$CACHE" && apt-get download "trans-de-en=$VERSION" >/dev/null && dpkg-deb -x trans-de-en_*.deb . && rm -f trans-de-en_*.deb)
fi
echo "$DICT"
