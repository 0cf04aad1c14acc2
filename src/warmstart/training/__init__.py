"""Training: optimizer, learning-rate schedule, run budget and the logbook that records metrics."""
