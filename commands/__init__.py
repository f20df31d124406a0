"""Thin click commands over the library functions; one module per command group."""
