"""pytest setup: the repository root (for the C parity program) as a fixture."""
import os

import pytest


@pytest.fixture
def repo_root():
    return os.environ.get("NABLA_ROOT") or os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
