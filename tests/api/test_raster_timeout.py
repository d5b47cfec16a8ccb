"""An imagery tile that is not read in time answers 504, and the server goes on."""

from __future__ import annotations

from fastapi.testclient import TestClient

from config.settings import Settings
from server.app import create_app

TILE = "/collections/pair/tiles/WebMercatorQuad/14/7114/13176"


def test_a_slow_read_is_a_504_with_a_message(settings: Settings) -> None:
    tiles = settings.tiles.model_copy(update={"read_timeout_s": 1e-6})
    with TestClient(create_app(settings.model_copy(update={"tiles": tiles}))) as client:
        for lang, text in (("en", "not read within"), ("zh-CN", "秒内读取")):
            r = client.get(TILE, params={"lang": lang})
            assert r.status_code == 504, r.text
            assert text in r.json()["detail"]
        assert client.get("/collections/pair").status_code == 200
    with TestClient(create_app(settings)) as client:
        assert client.get(TILE).status_code == 200
