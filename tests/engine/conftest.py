"""Fixtures for the engine tests: every semantic test runs against both backends."""

from __future__ import annotations

import pytest

from compliance.engine import EngineBackend, get_backend


@pytest.fixture(params=["python", "durable"])
def backend(request: pytest.FixtureRequest) -> EngineBackend:
    return get_backend(request.param)
