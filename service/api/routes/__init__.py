"""Routers: losses (/loss, /gradient), catalog (/losses), health (/healthz, /readyz, /version)."""
