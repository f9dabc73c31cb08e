"""Frames in batches through processors: the runner, batching and progress."""
