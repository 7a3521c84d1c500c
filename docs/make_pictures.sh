#!/usr/bin/env bash
# Regenerates the pictures in docs/images/ that the README and docs/study-notes.md show (about 30 s):
#   bash docs/make_pictures.sh            (from the repository root, with numcnn installed;
#                                          NUMCNN=.venv/bin/numcnn PYTHON=.venv/bin/python for the venv)
set -euo pipefail
NUMCNN=${NUMCNN:-numcnn}
PYTHON=${PYTHON:-python3}
out=docs/images
run=$(mktemp -d)/digits
"$NUMCNN" train --out "$run" --progress quiet
"$NUMCNN" show "$run" --what curves --out "$out/curves.png"
"$NUMCNN" show "$run" --what filters --out "$out/filters.png"
"$NUMCNN" show "$run" --what feature-maps --index 0 --out "$out/feature-maps.png"
# note 000's numbers 0..48 as they are (`numcnn filter --show-steps` on a PNG would show them / 255)
"$PYTHON" -c "import numpy as np; from numcnn.filters import get_kernel; from numcnn.viz import plot_sliding_window; \
plot_sliding_window(np.arange(49).reshape(7, 7), get_kernel('blur'), '$out/sliding-window.png', \
title=\"note 000: the 3x3 blur sliding over the 7x7 image of the numbers 0..48\")"
"$PYTHON" -c "import numpy as np; from numcnn.viz import plot_im2col; plot_im2col(np.arange(49).reshape(7, 7), 5, 5, '$out/im2col.png')"
