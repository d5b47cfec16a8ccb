"""The security configuration reloads without a restart; a bad one is refused whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from config.loader import load_settings
from server.app import create_app
from server.security.api_keys import ApiKeys
from server.security.reload import reload_security
from tests.conftest import make_settings


def _write(path: Path, data: dict[str, Any], viewer: dict[str, Any]) -> None:
    data["security"] = {"roles": {"viewer": viewer}}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_roles_reload_and_a_bad_change_keeps_the_old_grants(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_settings(store).model_dump(mode="json")
    config = tmp_path / "onemap.yaml"
    _write(config, data, {"level": "public"})
    monkeypatch.setenv("ONEMAP_CONFIG_FILE", str(config))
    secret, _ = ApiKeys(store.parent).create("reload test", ["viewer"], None)
    key = {"X-API-Key": secret}
    with TestClient(create_app(load_settings())) as client:
        assert client.get("/collections/secret", headers=key).status_code == 404
        _write(config, data, {"level": "secret"})
        assert client.portal.call(reload_security, client.app) is True  # type: ignore[union-attr]
        assert client.get("/collections/secret", headers=key).status_code == 200
        bad = {"level": "internal", "rules": {"secret": {"filter": "NOPE = 1"}}}
        _write(config, data, bad)
        assert client.portal.call(reload_security, client.app) is False  # type: ignore[union-attr]
        assert client.get("/collections/secret", headers=key).status_code == 200
        config.write_text("security: [not, a, mapping", encoding="utf-8")
        assert client.portal.call(reload_security, client.app) is False  # type: ignore[union-attr]
        assert client.get("/collections/secret", headers=key).status_code == 200
