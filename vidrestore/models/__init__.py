"""Architectures, the registry of model specs, weight loading, and `load`."""

from vidrestore.models.loaded import LoadedModel, load, wrap
from vidrestore.models.registry import DEFAULT_SR_MODEL, MODELS, ModelSpec, get_spec
from vidrestore.models.weights import build_model

__all__ = ["DEFAULT_SR_MODEL", "MODELS", "LoadedModel", "ModelSpec", "build_model", "get_spec", "load", "wrap"]
