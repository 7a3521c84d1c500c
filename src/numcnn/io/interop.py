"""Weights across the border: PyTorch ``state_dict``\\s and Keras 3 models, both ways.

The other framework's model must have the same layers as the numcnn model; weights are
matched layer by layer in order (every layer with weights: Conv2D, Dense,
BatchNormalization), and every shape is checked before anything is written.

Layouts:

* ``Conv2D``: torch ``weight (F, C/groups, kh, kw)`` <-> our ``kernel (kh, kw, C/groups, F)``;
  Keras uses our layout.
* ``Dense``: torch ``weight (out, in)`` is our ``kernel (in, out)`` transposed. A ``Dense``
  that reads a ``Flatten`` of feature maps gets its inputs in (H, W, C) order in numcnn and
  Keras, but in (C, H, W) order in torch (``nn.Flatten`` of NCHW); its rows are permuted.
* ``BatchNormalization``: torch ``weight, bias, running_mean, running_var`` are our
  ``gamma, beta, moving_mean, moving_variance``. Given a module (not a bare state_dict),
  its ``eps`` must equal our ``epsilon`` (torch's default is 1e-5, Keras' and ours 1e-3):
  otherwise the outputs would differ, and the error says so.

Nothing here imports torch or Keras at module level; tensors from either are read with
``numpy()`` / ``np.asarray`` and written back through their own ``load_state_dict`` /
``set_weights``.
"""

from __future__ import annotations

import numpy as np

from ..models import Model
from ..utils.validation import _short

_SHAPE_KEEPING = ("Dropout", "ReLU", "LeakyReLU", "Activation", "Rescaling")


def _layers_with_weights(model) -> list:
    """``[(path, layer), ...]`` of every layer holding arrays, in model order (nested models flattened)."""
    if not isinstance(model, Model):
        raise TypeError(f"The `model` argument must be a numcnn Model or Sequential. Received: {_short(model)}")
    model._ensure_built()  # a Sequential with input_shape= builds on demand
    if not model.built:
        raise ValueError(
            f"Model '{model.name}' has no weights yet: call it on a batch or build((None, H, W, C)) first. "
            "Received: an unbuilt model")
    found = []
    for path, layer in model.flat_layers():
        kind = type(layer).__name__
        if layer.params or layer.state:
            if kind not in ("Conv2D", "Dense", "BatchNormalization"):
                raise ValueError(f"Layer '{path}' ({kind}) has weights that cannot be converted; supported: "
                                 f"Conv2D, Dense, BatchNormalization. Received: {kind}")
            found.append((path, layer))
    return found


def _feeding_layer(model, layer):
    """The layer whose output ``layer`` reads: in a functional graph the one that makes its (first) input,
    otherwise the one before it."""
    if model._graph is not None:
        nodes = [node for node in model._graph.nodes if node.layer is layer]
        return nodes[0].inputs[0].layer if nodes and nodes[0].inputs else None
    order = [candidate for _, candidate in model.flat_layers()]
    i = next(k for k, candidate in enumerate(order) if candidate is layer)
    return order[i - 1] if i > 0 else None


def _flattened_feature_shape(model, dense) -> tuple | None:
    """``(H, W, C)`` if ``dense`` reads a Flatten of feature maps (through shape-keeping layers), else None."""
    source = _feeding_layer(model, dense)
    while source is not None and type(source).__name__ in _SHAPE_KEEPING:
        source = _feeding_layer(model, source)
    if source is None or type(source).__name__ != "Flatten":
        return None
    shape = source.input_shape
    if shape is None or len(shape) != 4:
        return None
    _, a, b, c = shape
    return (a, b, c) if source.data_format == "channels_last" else (b, c, a)


def _to_numpy(value, where: str) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype.kind not in "fiu":
        raise ValueError(f"{where} must hold numbers. Received: dtype {array.dtype}")
    return array


def _torch_groups(state_dict) -> list:
    """``[(module_prefix, {name: array}), ...]`` in state_dict order, without ``num_batches_tracked``."""
    if not hasattr(state_dict, "items"):
        raise TypeError(f"The `source` argument must be a torch nn.Module or a state_dict mapping. "
                        f"Received: {_short(state_dict)}")
    groups: dict = {}
    for key, value in state_dict.items():
        if not isinstance(key, str):
            raise TypeError(f"state_dict keys must be strings. Received: key {_short(key)}")
        prefix, _, name = key.rpartition(".")
        if name != "num_batches_tracked":
            groups.setdefault(prefix, {})[name] = _to_numpy(value, f"state_dict[{key!r}]")
    return list(groups.items())


def _pair(ours: list, theirs: list, framework: str, names=None) -> list:
    """``[((path, layer), (their name, theirs)), ...]``: by order (numcnn's layers in the order the model
    runs them: a functional model's topological order), or by ``names``, our path -> their name."""
    if names is not None:
        if not isinstance(names, dict):
            raise TypeError(f"The `names` argument must be a dict of numcnn layer names to {framework} names. "
                            f"Received: names={_short(names)}")
        by_name = dict(theirs)
        missing = [path for path, _ in ours if path not in names]
        unknown = [names[path] for path, _ in ours if path in names and names[path] not in by_name]
        if missing or unknown:
            raise ValueError(f"The `names` argument must map every numcnn layer with weights to a {framework} layer "
                             f"with weights: missing {missing[:5]}, not in the {framework} model {unknown[:5]} "
                             f"(it has {list(by_name)[:8]}). Received: names={_short(names)}")
        return [((path, layer), (names[path], by_name[names[path]])) for path, layer in ours]
    if len(ours) != len(theirs):
        raise ValueError(
            f"The numcnn model has {len(ours)} layers with weights ({[p for p, _ in ours]}) but the {framework} "
            f"model has {len(theirs)} ({[name for name, _ in theirs]}): they must have the same layers. "
            f"Received: {len(theirs)} {framework} layers with weights")
    return list(zip(ours, theirs))


def _check_shape(array, shape, where):
    if array.shape != tuple(shape):
        raise ValueError(f"{where} must have shape {tuple(shape)}. Received: shape {array.shape}")


def _torch_names(kind: str) -> dict:
    """Our array names -> the torch module's tensor names, for a layer class name."""
    if kind == "BatchNormalization":
        return {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}
    return {"kernel": "weight", "bias": "bias"}


def _torch_to_ours(model, path, layer, prefix, tensors) -> dict:
    """Our arrays for ``layer`` from the torch module ``prefix``'s tensors (shapes checked)."""
    kind = type(layer).__name__
    where = f"torch '{prefix}' for numcnn layer '{path}' ({kind})"
    arrays = {}
    names = _torch_names(kind)
    expected = {names[k] for k in {**layer.params, **layer.state}}
    if set(tensors) != expected:
        raise ValueError(f"{where}: expected tensors {sorted(expected)}. Received: {sorted(tensors)}")
    for ours_name, target in {**layer.params, **layer.state}.items():
        value = tensors[names[ours_name]]
        if ours_name == "kernel" and kind == "Conv2D":
            kh, kw, cg, f = target.shape
            _check_shape(value, (f, cg, kh, kw), f"{where}: weight")
            value = value.transpose(2, 3, 1, 0)
        elif ours_name == "kernel":
            _check_shape(value, target.shape[::-1], f"{where}: weight")
            value = value.T
            features = _flattened_feature_shape(model, layer)
            if features is not None:  # torch flattened (C, H, W); we flatten (H, W, C)
                h, w, c = features
                value = value.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(target.shape)
        else:
            _check_shape(value, target.shape, f"{where}: {names[ours_name]}")
        arrays[ours_name] = value
    return arrays


def _ours_to_torch(model, layer, tensors_like: dict) -> dict:
    """The torch tensors' values (NumPy) for ``layer``, in the torch module's names."""
    kind = type(layer).__name__
    names = _torch_names(kind)
    out = {}
    for ours_name, value in {**layer.params, **layer.state}.items():
        name = names[ours_name]
        if ours_name == "kernel" and kind == "Conv2D":
            value = value.transpose(3, 2, 0, 1)
        elif ours_name == "kernel":
            features = _flattened_feature_shape(model, layer)
            if features is not None:
                h, w, c = features
                value = value.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(value.shape)
            value = value.T
        out[name] = value
    return out


def _check_epsilon(module_of, prefix, layer, path, framework, attr):
    module = module_of(prefix)
    if module is None or type(layer).__name__ != "BatchNormalization":
        return
    eps = getattr(module, attr, None)
    if eps is not None and not np.isclose(float(eps), layer.epsilon, rtol=1e-6, atol=0):
        raise ValueError(
            f"BatchNormalization '{path}' has epsilon={layer.epsilon} but the {framework} layer '{prefix}' has "
            f"{attr}={float(eps)}: the outputs would differ. Build the numcnn layer with "
            f"BatchNormalization(epsilon={float(eps)}). Received: {attr}={float(eps)}")


def from_torch(model, source, names=None) -> None:
    """Copy the weights of a PyTorch module (or its ``state_dict()``) into a built numcnn ``model``.

    Args:
        model: a built numcnn model with the same layers.
        source: a ``torch.nn.Module`` or a ``state_dict`` mapping (tensors or NumPy arrays).
        names: ``{numcnn layer path: torch module name}`` to pair layers by name; by default they are
            paired in order (numcnn's in the order the model runs them, torch's in ``state_dict`` order).

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
        ...                           torch.nn.Linear(4 * 6 * 6, 10))          # doctest: +SKIP
        >>> from_torch(numcnn_model, net)                                        # doctest: +SKIP
    """
    modules = dict(source.named_modules()) if hasattr(source, "named_modules") else {}
    state_dict = source.state_dict() if hasattr(source, "state_dict") else source
    pairs = _pair(_layers_with_weights(model), _torch_groups(state_dict), "torch", names)
    new = {}
    for (path, layer), (prefix, tensors) in pairs:
        _check_epsilon(modules.get, prefix, layer, path, "torch", "eps")
        new[path] = _torch_to_ours(model, path, layer, prefix, tensors)
    for (path, layer), _ in pairs:  # nothing is written until every layer converted
        for name, target in {**layer.params, **layer.state}.items():
            target[...] = new[path][name]


def to_torch(model, module, names=None):
    """Copy a built numcnn ``model``'s weights into a PyTorch module with the same layers (paired as
    :func:`from_torch` pairs them, ``names`` included).

    ``num_batches_tracked`` of batch-norm modules is kept as it was. Returns ``module``.
    """
    if not hasattr(module, "load_state_dict"):
        raise TypeError(f"The `module` argument must be a torch nn.Module. Received: {_short(module)}")
    import torch  # only a torch module comes here

    current = module.state_dict()
    modules = dict(module.named_modules())
    pairs = _pair(_layers_with_weights(model), _torch_groups(current), "torch", names)
    new = dict(current)
    for (path, layer), (prefix, tensors) in pairs:
        _check_epsilon(modules.get, prefix, layer, path, "torch", "eps")
        _torch_to_ours(model, path, layer, prefix, tensors)  # checks names and shapes
        for name, value in _ours_to_torch(model, layer, tensors).items():
            key = f"{prefix}.{name}" if prefix else name
            new[key] = torch.from_numpy(np.require(value, requirements="C")).to(current[key].dtype)
    module.load_state_dict(new, strict=True)
    return module


def _keras_layers(keras_model) -> list:
    if not hasattr(keras_model, "layers"):
        raise TypeError(f"The `keras_model` argument must be a Keras model. Received: {_short(keras_model)}")
    found = []
    for layer in keras_model.layers:
        if hasattr(layer, "layers") and layer.weights:
            raise ValueError(f"Nested Keras models are not supported; flatten '{layer.name}' into its parent. "
                             f"Received: {type(layer).__name__}")
        if layer.weights:
            found.append((layer.name, layer))
    return found


def _keras_pairs(model, keras_model, names=None):
    pairs = _pair(_layers_with_weights(model), _keras_layers(keras_model), "Keras", names)
    keras_by_name = {name: theirs for _, (name, theirs) in pairs}
    for (path, layer), (name, theirs) in pairs:
        _check_epsilon(keras_by_name.get, name, layer, path, "Keras", "epsilon")
        ours, other = layer.get_weights(), theirs.get_weights()
        if [w.shape for w in ours] != [np.shape(w) for w in other]:
            raise ValueError(
                f"Keras layer '{name}' for numcnn layer '{path}' ({type(layer).__name__}) must have weights "
                f"with shapes {[w.shape for w in ours]}. Received: {[np.shape(w) for w in other]}")
    return pairs


def from_keras(model, keras_model, names=None) -> None:
    """Copy a Keras 3 model's weights (``get_weights()`` of each layer) into a built numcnn ``model``, the
    layers paired in order or by ``names`` (``{numcnn layer path: Keras layer name}``)."""
    pairs = _keras_pairs(model, keras_model, names)
    for (_, layer), (_, theirs) in pairs:
        layer.set_weights([np.asarray(w) for w in theirs.get_weights()])


def to_keras(model, keras_model, names=None):
    """Copy a built numcnn ``model``'s weights into a Keras 3 model with the same layers (paired in order
    or by ``names``). Returns it."""
    pairs = _keras_pairs(model, keras_model, names)
    for (_, layer), (_, theirs) in pairs:
        theirs.set_weights(layer.get_weights())
    return keras_model
