#!/usr/bin/env bash
# The pictures at the top of README.md, made by the tool itself from the default demo model.
# Run from the repository root after `pip install -e .`:  bash docs/make_readme_media.sh
set -euo pipefail
SEED="${SEED:-2}"
QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}" creps-explorer --seeds "$SEED" --size 1280x800 \
    --precision fp32 --screenshot docs/images/explorer.png
creps video docs/images/zoom.gif --seeds "$SEED" --preset zoom --to 0.42,0.5 --factor 16 \
    --size 224x224 --frames 40 --fps 12 --precision fp32 --force  # the sidecar is removed below, so it is not recognised as ours
rm -f docs/images/zoom.gif.json
