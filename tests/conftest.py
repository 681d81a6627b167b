"""Suite-wide settings.

The suite runs on 2-core machines under `pytest -n 2`: torch's default of one thread per core then makes two
workers fight over the cores, and small ops crawl. One thread per worker is both faster and more repeatable.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread():
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
