"""Metrics (Prometheus, multiprocess-safe), structured logs and the per-request middleware."""
