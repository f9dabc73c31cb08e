"""Probe, decode, encode and mux with PyAV; images with Pillow."""
