"""Tests of :mod:`numcnn.functional` (a package, so its module names never clash with tests/layers)."""
