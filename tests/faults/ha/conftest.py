"""The Home Assistant fixtures of the integration tests, for the fault cases."""

from __future__ import annotations

from tests.integration.ha.conftest import (
    auto_enable_custom_integrations,
    config_entry,
    entity_registry_enabled_by_default,
    flat,
)

__all__ = [
    "auto_enable_custom_integrations",
    "config_entry",
    "entity_registry_enabled_by_default",
    "flat",
]
