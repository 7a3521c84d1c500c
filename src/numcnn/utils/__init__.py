"""The bottom of numcnn: argument checks, atomic file writes, safetensors files and the registry
of named objects. These modules import NumPy (and safetensors) only, never another part of numcnn."""
