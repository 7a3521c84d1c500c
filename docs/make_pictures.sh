#!/usr/bin/env bash
# Regenerates the pictures in docs/images/ that the README and docs/study-notes.md show (about 30 s):
#   bash docs/make_pictures.sh            (from the repository root, with numcnn installed)
set -euo pipefail
NUMCNN=${NUMCNN:-numcnn}
out=docs/images
run=$(mktemp -d)/digits
"$NUMCNN" train --out "$run" --progress quiet
"$NUMCNN" show "$run" --what curves --out "$out/curves.png"
"$NUMCNN" show "$run" --what filters --out "$out/filters.png"
"$NUMCNN" show "$run" --what feature-maps --index 0 --out "$out/feature-maps.png"
python3 - "$out/seed000-7x7.png" <<'PY'
import sys
import numpy as np
from PIL import Image
Image.fromarray((np.arange(49).reshape(7, 7) * 5).astype(np.uint8)).save(sys.argv[1])
PY
"$NUMCNN" filter "$out/seed000-7x7.png" --kernel blur --padding valid --out "$run.blur.png" --show-steps "$out/sliding-window.png"
rm "$out/seed000-7x7.png"
python3 -c "import numpy as np; from numcnn.viz import plot_im2col; plot_im2col(np.arange(49).reshape(7, 7), 5, 5, '$out/im2col.png')"
