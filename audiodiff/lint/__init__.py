"""`audiodiff lint`: config discovery in a repository, `[tool.audiodiff]` settings, lint-only rules and suppression.

Torch-free, like `validate`: everything here runs on the typed spec and the graph, never on modules.
"""
