"""Models: ``Sequential`` stacks and subclassed ``Model``s."""

from .model import Model
from .sequential import Sequential
from .summary import format_summary

__all__ = ["Model", "Sequential", "format_summary"]
