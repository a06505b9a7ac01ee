"""Test fixtures for the remote (KServe v2) judge backend: a tiny random-weights judge with the
default judge's I/O, and a helper that runs Seldon MLServer from ``.venv-mlserver``."""
