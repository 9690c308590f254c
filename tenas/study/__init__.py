"""The parts of a correlation study (``python -m tenas.evaluate``), one job per module: the rank
correlations, the resumable checkpoint, scoring architectures (in parallel), shards, and plots."""
