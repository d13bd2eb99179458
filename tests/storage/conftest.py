"""Storage test fixtures: a fresh s3:// prefix per test (the server is ``s3_server`` from
tests/conftest.py; PIPETRACK_HOME is the root conftest's autouse ``pipetrack_home``)."""
from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def s3_url(s3_server: dict) -> str:
    """A fresh, empty s3:// prefix in the test bucket."""
    return f"s3://{s3_server['bucket']}/{uuid.uuid4().hex[:10]}"
