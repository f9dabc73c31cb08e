"""Training and evaluation of vidrestore's models."""
