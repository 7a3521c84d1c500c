"""Every import path the README of the first release showed still works, as a re-export of the module that
now holds the name (the package was reorganised into one-way layers)."""

import importlib

import pytest

OLD_PATHS = {
    "numcnn": ["Model", "Sequential", "save", "load", "set_num_threads", "get_num_threads", "functional", "layers",
               "models", "initializers", "__version__"],
    "numcnn.io": ["load_model", "save_model", "save_weights", "load_weights", "load", "save", "from_torch", "to_torch",
                  "from_keras", "to_keras", "export_onnx", "FileFormatError", "atomic_path", "load_arrays"],
    "numcnn.losses": ["SparseCategoricalCrossentropy", "CategoricalCrossentropy", "MeanSquaredError", "get"],
    "numcnn.optimizers": ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "get"],
    "numcnn.schedules": ["StepDecay", "ExponentialDecay", "CosineDecay"],
    "numcnn.distributed": ["Communicator", "EXIT_ABORTED", "RankFailed", "plan_buckets"],
    "numcnn.training": ["EarlyStopping", "ModelCheckpoint", "CSVLogger", "TerminateOnNaN", "BackupAndRestore",
                        "Callback", "History", "load_checkpoint", "save_checkpoint", "restore_checkpoint",
                        "confusion_matrix"],
    "numcnn.data": ["load_digits", "load_dataset", "RandomShift", "read_idx"],
    "numcnn.models.zoo": ["simple_convnet", "lenet5", "deep_convnet"],
    "numcnn.viz": ["plot_filters", "plot_feature_maps", "plot_im2col", "plot_sliding_window", "plot_history"],
    "numcnn.filters": ["KERNELS", "apply_kernel"],
    "numcnn.functional": ["conv2d", "conv2d_forward", "conv2d_backward", "im2col", "col2im", "max_pool2d_backward",
                          "softmax_cross_entropy_forward", "softmax_cross_entropy_backward", "conv_output_size",
                          "conv2d_reference", "pool2d_reference"],
}


@pytest.mark.parametrize("module", sorted(OLD_PATHS))
def test_old_import_paths_still_work(module):
    loaded = importlib.import_module(module)
    missing = [name for name in OLD_PATHS[module] if not hasattr(loaded, name)]
    assert not missing, f"{module} no longer has {missing}"


def test_the_faces_give_the_objects_of_the_modules_that_hold_them():
    import numcnn
    from numcnn import distributed, losses, optimizers, schedules
    from numcnn.models.saving import load
    from numcnn.training import losses as training_losses
    from numcnn.training import mpi
    from numcnn.training import optimizers as training_optimizers
    from numcnn.training import schedules as training_schedules

    assert losses.SparseCategoricalCrossentropy is training_losses.SparseCategoricalCrossentropy
    assert optimizers.Adam is training_optimizers.Adam and schedules.CosineDecay is training_schedules.CosineDecay
    assert distributed.Communicator is mpi.Communicator and numcnn.load is load
