"""classification_report against scikit-learn's: the dict and the printed text, absent classes included."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from numcnn.training.metrics import classification_report, confusion_matrix, format_classification_report

metrics = pytest.importorskip("sklearn.metrics")


@given(st.integers(2, 6), st.integers(1, 80), st.integers(0, 2**31 - 1), st.sampled_from([1, 2, 4]))
def test_the_report_is_scikit_learns(classes, n, seed, digits):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    p = np.where(rng.uniform(size=n) < 0.6, y, rng.integers(0, classes, n))
    p[p == classes - 1] = 0  # the last class is never predicted: precision 0 by zero_division
    assume(np.any(p == y))  # with nothing right, scikit-learn prints the supports as floats ("1.0")
    names = [f"class {k}" if k % 2 else "x" * (k + 1) for k in range(classes)]
    ours = classification_report(confusion_matrix(y, p, classes), names)
    theirs = metrics.classification_report(y, p, labels=list(range(classes)), target_names=names, zero_division=0,
                                           output_dict=True)
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        if isinstance(value, dict):
            for field in value:
                assert ours[key][field] == pytest.approx(value[field], abs=1e-12), (key, field)
        else:
            assert ours[key] == pytest.approx(value, abs=1e-12)
    assert format_classification_report(ours, digits) == metrics.classification_report(
        y, p, labels=list(range(classes)), target_names=names, zero_division=0, digits=digits)


def test_known_values():
    matrix = np.array([[3, 1], [0, 0]])  # 4 of class a, 3 right; class b absent and once predicted
    report = classification_report(matrix, ["a", "b"])
    assert report["a"] == {"precision": 1.0, "recall": 0.75, "f1-score": pytest.approx(6 / 7), "support": 4}
    assert report["b"] == {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0}
    assert report["accuracy"] == 0.75
    assert report["macro avg"]["recall"] == 0.375 and report["weighted avg"]["recall"] == 0.75
