"""Subclassed models: seed 001's TestModel, branches, a shared layer, nesting and the tape's errors."""

import numpy as np
import pytest
from _model_grad import check_model_grads
from helpers import assert_close, numerical_grad

from numcnn import Model, Sequential
from numcnn.layers import (
    Activation,
    Add,
    BatchNormalization,
    Concatenate,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    MaxPooling2D,
    Rescaling,
)


class Seed001TestModel(Model):
    """Seed 001 as written: overrides ``__call__`` (not ``call``) and appends to a list after assigning it."""

    def __init__(self):
        super(Seed001TestModel, self).__init__()
        self.conv_layers = []
        for n_neuron in [10, 20, 30]:
            self.conv_layers.append(Conv2D(filters=n_neuron, kernel_size=3, activation="relu"))
        self.shapes = []

    def __call__(self, x):
        for conv_layer in self.conv_layers:
            x = conv_layer(x)
            W, B = conv_layer.get_weights()
            self.shapes.append((W.shape, B.shape, x.shape))
        return x


class Seed001Attributes(Model):
    def __init__(self):
        super().__init__(seed=0)
        self.conv1 = Conv2D(10, 3, activation="relu")
        self.conv2 = Conv2D(20, 3, activation="relu")
        self.conv3 = Conv2D(30, 3, activation="relu")

    def __call__(self, x):
        return self.conv3(self.conv2(self.conv1(x)))


class Branchy(Model):
    """A residual Add, a Concatenate and one layer used twice."""

    def __init__(self, seed=0):
        super().__init__(seed=seed)
        self.conv_in = Conv2D(3, 3, padding="same", activation="tanh", bias_initializer="random_normal")
        self.shared = Conv2D(3, 3, padding="same", activation="tanh", bias_initializer="random_normal")
        self.add = Add()
        self.concat = Concatenate()
        self.pool = GlobalAveragePooling2D()
        self.head = Dense(2, bias_initializer="random_normal")

    def call(self, x):
        h = self.conv_in(x)
        a = self.shared(h)
        b = self.shared(a)  # the same layer again: its gradients must add up
        r = self.add([h, b])
        return self.head(self.pool(self.concat([r, a])))


# -- seed 001 -----------------------------------------------------------------------------------

def test_seed001_model_overriding_dunder_call(rng):
    model = Seed001TestModel()
    x = rng.standard_normal((32, 28, 28, 3)).astype(np.float32)
    y = model(x)
    assert y.shape == (32, 22, 22, 30)
    assert model.shapes == [((3, 3, 3, 10), (10,), (32, 26, 26, 10)), ((3, 3, 10, 20), (20,), (32, 24, 24, 20)),
                            ((3, 3, 20, 30), (30,), (32, 22, 22, 30))]
    assert [tuple(w.shape for w in layer.get_weights()) for layer in model.layers] == [
        ((3, 3, 3, 10), (10,)), ((3, 3, 10, 20), (20,)), ((3, 3, 20, 30), (30,))]
    assert [v.shape for v in model.trainable_variables] == [(3, 3, 3, 10), (10,), (3, 3, 10, 20), (20,),
                                                            (3, 3, 20, 30), (30,)]
    assert [layer.name for layer in model.layers] == ["conv2d", "conv2d_1", "conv2d_2"]


def test_seed001_model_with_dunder_call_still_records_the_tape(rng):
    model = Seed001TestModel()
    x = rng.standard_normal((1, 7, 7, 3))
    y = model(x)
    model.backward(np.ones_like(y))
    assert list(model.grads) == list(model.params) == [
        "conv2d/kernel", "conv2d/bias", "conv2d_1/kernel", "conv2d_1/bias", "conv2d_2/kernel", "conv2d_2/bias"]


def test_seed001_attribute_model_matches_the_sequential(rng):
    model = Seed001Attributes()
    x = rng.standard_normal((2, 28, 28, 3)).astype(np.float32)
    y = model(x)
    seq = Sequential([Conv2D(10, 3, activation="relu"), Conv2D(20, 3, activation="relu"),
                      Conv2D(30, 3, activation="relu")])
    seq(x)
    seq.set_weights(model.get_weights())
    np.testing.assert_array_equal(seq(x), y)
    assert model.count_params() == 7530


# -- branches, merges, a shared layer --------------------------------------------------------------

def test_branchy_model_gradients_including_the_shared_layer(rng):
    model = Branchy()
    x = rng.standard_normal((2, 4, 4, 2))
    dx, grads = check_model_grads(model, x, rng)
    assert dx.shape == x.shape
    assert list(grads) == ["conv2d/kernel", "conv2d/bias", "conv2d_1/kernel",
                           "conv2d_1/bias", "dense/kernel", "dense/bias"]


def test_shared_layer_gradient_is_the_sum_over_both_uses(rng):
    model = Branchy()
    x = rng.standard_normal((2, 4, 4, 2))
    y = model(x)
    g = rng.standard_normal(y.shape)
    model.backward(g)
    total = model.grads["conv2d_1/kernel"].copy()
    # each use alone: freeze the kernel in one use by differentiating through a copy layer
    shared = model.shared
    kernel = shared.params["kernel"]

    def loss_with_kernels(k_first, k_second):
        h = model.conv_in(x)
        shared.params["kernel"] = k_first
        a = shared(h)
        shared.params["kernel"] = k_second
        b = shared(a)
        shared.params["kernel"] = kernel
        r = model.add([h, b])
        return float(np.sum(model.head(model.pool(model.concat([r, a]))) * g))

    first = numerical_grad(lambda k: loss_with_kernels(k, kernel), kernel)
    second = numerical_grad(lambda k: loss_with_kernels(kernel, k), kernel)
    assert_close(total, first + second, rtol=1e-5)
    assert not np.allclose(total, first, rtol=1e-2) and not np.allclose(total, second, rtol=1e-2)


def test_second_step_overwrites_the_gradients(rng):
    model = Branchy()
    x1, x2 = rng.standard_normal((2, 2, 4, 4, 2))
    g = rng.standard_normal((2, 2))
    model(x1)
    model.backward(g)
    first = {k: v.copy() for k, v in model.grads.items()}
    model(x1)
    model.backward(g)
    for key, value in model.grads.items():
        assert_close(value, first[key], rtol=1e-12)  # not doubled
    model(x2)
    model.backward(g)
    fresh = Branchy()
    fresh(x2)
    fresh.set_weights(model.get_weights())
    fresh(x2)
    fresh.backward(g)
    for key, value in model.grads.items():
        assert_close(value, fresh.grads[key], rtol=1e-12)


def test_array_fed_to_two_layers_gets_the_sum(rng):
    class TwoHeads(Model):
        def __init__(self):
            super().__init__(seed=1)
            self.body = Dense(3, activation="tanh")
            self.left, self.right = Dense(2), Dense(2)
            self.add = Add()

        def call(self, x):
            h = self.body(x)
            return self.add([self.left(h), self.right(h)])

    check_model_grads(TwoHeads(), rng.standard_normal((3, 4)), rng)


def test_multiple_inputs_and_outputs(rng):
    class TwoInTwoOut(Model):
        def __init__(self):
            super().__init__(seed=2)
            self.a, self.b = Dense(2), Dense(2)
            self.concat = Concatenate()

        def call(self, inputs):
            u, v = inputs
            return [self.concat([self.a(u), self.b(v)]), self.a(v)]

    model = TwoInTwoOut()
    u, v = rng.standard_normal((2, 3, 4))
    y1, y2 = model([u, v])
    g1, g2 = rng.standard_normal(y1.shape), rng.standard_normal(y2.shape)
    du, dv = model.backward([g1, g2])

    def loss(uu, vv):
        z1, z2 = model([uu, vv])
        return float(np.sum(z1 * g1) + np.sum(z2 * g2))

    assert_close(du, numerical_grad(lambda p: loss(p, v), u), rtol=1e-5)
    assert_close(dv, numerical_grad(lambda p: loss(u, p), v), rtol=1e-5)


# -- nesting -----------------------------------------------------------------------------------------

class Outer(Model):
    def __init__(self):
        super().__init__(seed=3)
        self.features = Sequential([Conv2D(2, 3, activation="tanh"), MaxPooling2D(2), BatchNormalization()])
        self.flatten = Flatten()
        self.head = Dense(2)

    def call(self, x, training=False):
        return self.head(self.flatten(self.features(x, training=training)))


@pytest.mark.parametrize("training", [False, True])
def test_sequential_inside_a_subclassed_model_gradients(training, rng):
    model = Outer()
    dx, grads = check_model_grads(model, rng.standard_normal((3, 6, 6, 1)), rng, training=training)
    assert list(grads) == ["sequential/conv2d/kernel", "sequential/conv2d/bias", "sequential/batch_normalization/gamma",
                           "sequential/batch_normalization/beta", "dense/kernel", "dense/bias"]
    assert list(model.state) == ["sequential/batch_normalization/moving_mean",
                                 "sequential/batch_normalization/moving_variance"]


def test_nested_model_seeds_are_handed_down(rng):
    x = rng.standard_normal((2, 6, 6, 1)).astype(np.float32)
    a, b = Outer(), Outer()
    a(x), b(x)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert [w.shape for w in a.get_weights()][:2] == [(3, 3, 1, 2), (2,)]


def test_training_flag_is_inherited_by_layers_called_without_it(rng):
    class Dropper(Model):
        def __init__(self):
            super().__init__(seed=4)
            self.drop = Dropout(0.5)

        def call(self, x):
            return self.drop(x)  # no training= here

    model = Dropper()
    x = np.ones((10, 10))
    np.testing.assert_array_equal(model(x), x)
    y = model(x, training=True)
    assert set(np.unique(y)) == {0.0, 2.0}


# -- the tape's broken chain ---------------------------------------------------------------------------

class Broken(Model):
    def __init__(self):
        super().__init__(seed=5)
        self.d1 = Dense(3)
        self.d2 = Dense(2)

    def call(self, x):
        return self.d2(self.d1(x) * 2)  # a NumPy op between layers cuts the chain


def test_numpy_op_between_layers_raises_naming_the_layers(rng):
    model = Broken()
    y = model(rng.standard_normal((2, 4)))
    with pytest.raises(ValueError, match=r"layer\(s\) \['dense_1'\] received arrays that no layer produced") as info:
        model.backward(np.ones_like(y))
    assert "no gradient reached layer(s) ['dense']" in str(info.value)
    assert "Received:" in str(info.value)


class Preprocessed(Model):
    def __init__(self):
        super().__init__(seed=6)
        self.d1 = Dense(3, activation="tanh")
        self.d2 = Dense(2)

    def call(self, x):
        return self.d2(self.d1(x / 255.0 - 0.5))  # NumPy on the input only: nothing with parameters is cut


def test_numpy_op_on_the_model_input_is_fine(rng):
    model = Preprocessed()
    x = rng.uniform(0, 255, (3, 4))
    dx, grads = check_model_grads(model, x, rng)
    assert dx is None  # the input gradient cannot flow through the NumPy step
    assert list(grads) == ["dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"]


def test_rescaling_layer_instead_of_the_numpy_op_keeps_the_chain(rng):
    # the fix the error message suggests: a layer for the scaling step
    class Fixed(Model):
        def __init__(self):
            super().__init__(seed=5)
            self.d1 = Dense(3)
            self.times2 = Rescaling(2.0)
            self.d2 = Dense(2)

        def call(self, x):
            return self.d2(self.times2(self.d1(x)))

    dx, grads = check_model_grads(Fixed(), rng.standard_normal((2, 4)), rng)
    assert list(grads) == ["dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"]


def test_identity_layers_on_a_residual_branch(rng):
    # Dropout at inference and a linear Activation return their input unchanged; the tape must
    # still tell their output from their input
    class Residual(Model):
        def __init__(self):
            super().__init__(seed=8)
            self.body = Dense(3, activation="tanh")
            self.drop = Dropout(0.5)
            self.linear = Activation("linear")
            self.inner = Dense(3, activation="tanh")
            self.add = Add()
            self.head = Dense(2)

        def call(self, x):
            h = self.body(x)
            d = self.linear(self.drop(h))
            return self.head(self.add([h, self.inner(d), d]))

    check_model_grads(Residual(), rng.standard_normal((3, 4)), rng, training=False)


def test_unused_layer_output_does_not_raise(rng):
    class SideBranch(Model):
        def __init__(self):
            super().__init__(seed=7)
            self.main, self.side = Dense(2), Dense(2)

        def call(self, x):
            self.side(x)  # computed but not used
            return self.main(x)

    model = SideBranch()
    y = model(rng.standard_normal((2, 3)))
    model.backward(np.ones_like(y))
    assert "dense/kernel" in model.grads


def test_call_must_return_arrays(rng):
    class ReturnsNumber(Model):
        def __init__(self):
            super().__init__()
            self.d = Dense(1)

        def call(self, x):
            return float(self.d(x).sum())

    with pytest.raises(TypeError, match="must return an array.*Received"):
        ReturnsNumber()(np.zeros((1, 2)))


def test_subclassed_model_build_and_summary_shapes():
    model = Seed001Attributes()
    model.build((None, 28, 28, 3))
    assert model.count_params() == 7530
    lines = []
    model.summary(print_fn=lines.append)
    assert "(None, 22, 22, 30)" in lines[0]


def test_a_layer_the_gradient_does_not_reach_gets_no_stale_gradient_and_no_update():
    """A layer called but not on the way to the output has no gradient this pass (PyTorch's None), never
    an earlier pass's; fit leaves its weights alone."""
    from numcnn.layers import Dense

    class Branchy(Model):
        def __init__(self):
            super().__init__(seed=0)
            self.a, self.b = Dense(2), Dense(2)
            self.use_b = True

        def call(self, x):
            side = self.b(x)
            return self.add_b(side, x) if self.use_b else self.a(x)

        def add_b(self, side, x):
            return self.a(side)

    model = Branchy()
    x = np.ones((4, 2), np.float32)
    model.backward(np.ones_like(model(x)))
    assert sorted(model.grads) == ["dense/bias", "dense/kernel", "dense_1/bias", "dense_1/kernel"]
    model.use_b = False
    model.backward(np.ones_like(model(x)))
    assert sorted(model.grads) == ["dense/bias", "dense/kernel"]
    before = model.b.params["kernel"].copy()
    model.compile("adam", "mse")
    model.fit(x, np.zeros((4, 2), np.float32), verbose=0, epochs=2)
    np.testing.assert_array_equal(model.b.params["kernel"], before)
