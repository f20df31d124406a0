"""Helpers the tests share: data factories, independent checks, servers. Fixtures built from them, shared by
many tests, are in tests/conftest.py."""
