"""Evaluation of learned encoders: probes (linear, kNN) and baselines."""
