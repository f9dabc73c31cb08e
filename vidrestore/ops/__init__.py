"""Tensor operations shared by models, pipeline and training."""
