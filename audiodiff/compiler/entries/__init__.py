"""Registry entries, one module per family of types: each holds its types' builders, counters and lowerings."""
