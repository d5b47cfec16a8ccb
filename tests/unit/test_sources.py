"""The allowed sources: no path traversal, no SSRF through hrefs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from config.loader import load_settings
from providers.sources import AllowedSources, SourceNotAllowed


@pytest.fixture
def roots(tmp_path: Path) -> AllowedSources:
    (tmp_path / "data" / "imagery").mkdir(parents=True)
    (tmp_path / "data" / "imagery" / "a.tif").write_bytes(b"x")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "b.tif").write_bytes(b"x")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "c.tif").write_bytes(b"x")
    os.symlink(tmp_path / "outside", tmp_path / "data" / "link")
    return AllowedSources.of(
        tmp_path / "data",
        [str(tmp_path / "other"), "https://img.example.cn/cogs/", "s3://bucket/imagery"],
    )


def test_paths_inside_the_roots(roots: AllowedSources, tmp_path: Path) -> None:
    assert roots.resolve("imagery/a.tif") == str(tmp_path / "data" / "imagery" / "a.tif")
    assert roots.resolve(str(tmp_path / "other" / "b.tif")).endswith("b.tif")
    assert roots.resolve("https://img.example.cn/cogs/x.tif").startswith("https://")
    assert roots.resolve("HTTPS://IMG.example.cn/cogs/x.tif")
    assert roots.resolve("s3://bucket/imagery/2024/x.tif")


@pytest.mark.parametrize(
    "href,code",
    [
        ("../outside/c.tif", "outside"),
        ("imagery/../../outside/c.tif", "outside"),
        ("link/c.tif", "outside"),  # a symbolic link out of the data dir
        ("/etc/passwd", "outside"),
        ("/vsicurl/https://img.example.cn/cogs/x.tif", "vsi"),
        ("/VSIZIP/data.zip/x.tif", "vsi"),
        ("file:///etc/passwd", "scheme"),
        ("gopher://127.0.0.1:70/", "scheme"),
        ("ftp://img.example.cn/cogs/x.tif", "scheme"),
        ("https://img.example.cn.evil.org/cogs/x.tif", "outside"),
        ("https://img.example.cn/other/x.tif", "outside"),
        ("https://user:pw@img.example.cn/cogs/x.tif", "credentials"),
        ("https://img.example.cn/cogs/../private/x.tif", "dotdot"),
        ("https://img.example.cn/cogs/%2e%2e/private/x.tif", "dotdot"),
        ("http://127.0.0.1/cogs/x.tif", "outside"),
        ("http://169.254.169.254/latest/meta-data/", "outside"),
        ("s3://other-bucket/x.tif", "outside"),
        ("", "invalid"),
        ("imagery/a.tif\x00.png", "invalid"),
        ("x" * 3000, "invalid"),
    ],
)
def test_refused(roots: AllowedSources, href: str, code: str) -> None:
    with pytest.raises(SourceNotAllowed) as caught:
        roots.resolve(href)
    assert caught.value.code == code


def test_environment_list(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ONEMAP_ALLOWED_SOURCES", f"{tmp_path}, https://a.example.cn/x/")
    settings = load_settings(data_dir=str(tmp_path))
    assert settings.allowed_sources == [str(tmp_path), "https://a.example.cn/x/"]
