"""Architectures, the registry of model specs, and weight loading."""

from vidrestore.models.registry import DEFAULT_SR_MODEL, MODELS, ModelSpec, get_spec
from vidrestore.models.weights import build_model

__all__ = ["DEFAULT_SR_MODEL", "MODELS", "ModelSpec", "build_model", "get_spec"]
