"""Models: ``Sequential`` stacks and subclassed ``Model``s, their summary, saving and the zoo."""

from .model import Model
from .saving import load, load_model, load_weights, model_from_config, save, save_model, save_weights
from .sequential import Sequential
from .summary import format_summary

__all__ = ["Model", "Sequential", "format_summary", "load", "load_model", "load_weights", "model_from_config",
           "save", "save_model", "save_weights"]
