"""``numcnn explain``'s core: what a model computed, unit by unit, for one input, and the gradients of its
loss, every number from numcnn's own forward and backward pass. Plain functions and an
:class:`Explainer` that return NumPy arrays and JSON-able dicts; the web server and the page sit above.

* :mod:`.trace`: every layer's output for one sample, from the tape of one forward pass;
* :mod:`.units`: the numbers behind one unit (a conv window times its kernel, a pooling winner, a Dense
  unit's largest contributions); :mod:`.windows`: the sliding window and the im2col matrices;
* :mod:`.saliency`: d loss / d input and every layer's gradient for a chosen class;
* :mod:`.session`: :class:`Explainer`, a run (or model) and its current input;
* :mod:`.bundle`: the data of the self-contained ``--html`` page; :mod:`.encode`: PNG heatmaps, base64 arrays.
"""

from .bundle import choose_images, write_html_bundle_data
from .encode import decode_array, encode_array, jsonable, to_png_heatmap, to_png_picture
from .saliency import Saliency, saliency
from .session import Explainer
from .trace import LayerRecord, Trace, trace
from .units import conv_unit, dense_unit, pool_unit, unit_detail
from .windows import im2col_page, sliding_window

__all__ = [
    "Explainer", "LayerRecord", "Saliency", "Trace", "choose_images", "conv_unit", "decode_array", "dense_unit",
    "encode_array", "im2col_page", "jsonable", "pool_unit", "saliency", "sliding_window", "to_png_heatmap",
    "to_png_picture", "trace", "unit_detail", "write_html_bundle_data",
]
