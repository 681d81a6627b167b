"""Torch modules. Nothing here parses config: constructors take typed arguments."""
