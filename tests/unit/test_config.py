"""Configuration: interpolation, environment overrides, validation messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError, load_settings
from config.loader import interpolate


def test_interpolation() -> None:
    env = {"A": "1"}
    assert interpolate("x: ${A}\ny: ${B:-two}\n", env) == "x: 1\ny: two\n"
    assert (
        interpolate("# ${NOT_SET} in a comment\n", env) == "# ${NOT_SET} in a comment\n"
    )
    with pytest.raises(ConfigError, match="NOT_SET"):
        interpolate("x: ${NOT_SET}", env)


def test_demo_config_is_valid() -> None:
    settings = load_settings()
    assert list(settings.collections) == [
        "dltb",
        "xzq",
        "stbhhx",
        "yjjbnt",
        "czkfbj",
        "imagery",
        "change-polygons",
    ]
    assert settings.generate_demo
    assert settings.collections["imagery"].source.type == "cog"


def test_cog_source_needs_one_form() -> None:
    from pydantic import ValidationError

    from config.sources import CogSource

    for bad in (
        {},
        {"href": "a.tif", "before": "b.tif", "after": "c.tif"},
        {"before": "b.tif"},
        {"href": []},
    ):
        with pytest.raises(ValidationError):
            CogSource(**bad)  # type: ignore[arg-type]
    assert CogSource(href=["a.tif", "b.tif"]).hrefs == ["a.tif", "b.tif"]


def test_example_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONEMAP_DATA_DIR", "/srv/x")
    settings = load_settings(Path("config/example.yaml"))
    assert settings.data_dir == Path("/srv/x")
    assert settings.collections["dltb"].source.id_field == "BSM"


def test_environment_overrides_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONEMAP_SERVER__PORT", "9123")
    settings = load_settings()
    assert settings.server.port == 9123
    assert settings.server.host == "127.0.0.1"  # the rest of the YAML section stays


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        ("server: {port: 70000}", "server.port"),
        ("server: {default_limit: 50, max_limit: 10}", "server"),
        ("collections: {a: {title: A}}", "collections.a.source"),
        (
            "collections: {a: {title: A, source: {path: x.gpkg, layer: 'bad name'}}}",
            "collections.a.source.layer",
        ),
        (
            "collections: {a: {title: A, source: {path: x.gpkg, layer: t}, colour: red}}",
            "collections.a.colour",
        ),
        ("nonsense: 1", "nonsense"),
    ],
)
def test_invalid_config_names_the_key(tmp_path: Path, yaml_text: str, key: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert f"{key}:" in str(err.value)


def test_unreadable_and_malformed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad)
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(bad)


def test_basemaps_are_checked(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from config.settings import Settings
    from providers.catalog import CollectionError
    from server.tiling.legacy import cascaded_basemaps
    from tiles.mapproxy import mapproxy_config

    url = "https://t0.tianditu.gov.cn/img_c/wmts?TILEMATRIX={z}&TILEROW={y}&TILECOL={x}"
    base = {"data_dir": str(tmp_path), "collections": {}}
    with pytest.raises(ValidationError, match=r"lacks \{x\}"):
        Settings(
            **base, basemaps={"t": {"title": "T", "url": url[:-3], "grid": "cgcs2000"}}
        )
    with pytest.raises(ValidationError, match="share the names"):
        Settings(
            data_dir=str(tmp_path),
            collections={"t": {"title": "T", "source": {"type": "cog", "href": "a.tif"}}},
            basemaps={"t": {"title": "T", "url": url, "grid": "cgcs2000"}},
        )
    outside = Settings(
        **base, basemaps={"t": {"title": "T", "url": url, "grid": "cgcs2000"}}
    )
    with pytest.raises(CollectionError, match="not in allowed_sources"):
        cascaded_basemaps(outside, "en")
    allowed = Settings(
        **base,
        allowed_sources=["https://t0.tianditu.gov.cn/"],
        basemaps={
            "t": {
                "title": {"en": "T", "zh-CN": "天"},
                "url": url + "&x=%20",
                "grid": "cgcs2000",
            }
        },
    )
    [basemap] = cascaded_basemaps(allowed, "zh-CN")
    assert basemap.title == "天" and basemap.grid == "cgcs2000"
    config = mapproxy_config([], "http://127.0.0.1:1", tmp_path, "t", [basemap])
    assert config["sources"]["t__source"]["url"].endswith(
        "TILEMATRIX=%(z)s&TILEROW=%(y)s&TILECOL=%(x)s&x=%%20"
    )
    assert config["layers"] == [{"name": "t", "title": "天", "sources": ["t__cgcs2000"]}]
