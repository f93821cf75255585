"""Benchmark of the gateway's POST /v1/generations next to a bare Flask endpoint."""
