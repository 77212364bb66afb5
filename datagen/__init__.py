"""datagen: instruction-data synthesis — generate, filter, version, train."""

__version__ = "0.1.0"
