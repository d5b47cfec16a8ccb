"""Where imagery and process inputs may come from: the allowed sources.

An href is a local path or an http(s):// or s3:// URL. It is accepted only inside a
configured root — a directory (the data dir always is one) or a URL prefix — so a
request can never make the server read an arbitrary file or reach an internal address
(no path traversal, no SSRF). GDAL virtual paths (/vsi…) and other schemes are refused
outright: rasterio maps the allowed URL schemes to GDAL's readers itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from providers.errors import QueryError

_URL_SCHEMES = ("http", "https", "s3")


class SourceNotAllowed(QueryError):
    """The href lies outside every allowed source (or is not an href at all).

    ``code`` names the reason (messages ``source.<code>``).
    """

    prefix = "source"

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class AllowedSources:
    """Directories and URL prefixes that hrefs must lie in."""

    directories: tuple[Path, ...]
    url_prefixes: tuple[str, ...]

    @classmethod
    def of(cls, data_dir: Path, entries: list[str]) -> AllowedSources:
        """From the data dir plus the configured entries (directories or URL prefixes)."""
        dirs = [data_dir.resolve()]
        urls = []
        for entry in entries:
            if urlsplit(entry).scheme in _URL_SCHEMES:
                urls.append(_normal_prefix(entry))
            else:
                dirs.append(Path(entry).expanduser().resolve())
        return cls(tuple(dirs), tuple(urls))

    def resolve(self, href: str) -> str:
        """The path or URL GDAL should open; raise SourceNotAllowed."""
        if not href or len(href) > 2048 or any(ord(c) < 32 for c in href):
            raise SourceNotAllowed("invalid")
        if href.lower().startswith("/vsi"):
            raise SourceNotAllowed("vsi")
        scheme = urlsplit(href).scheme.lower()
        if scheme in _URL_SCHEMES:
            return self._url(href)
        if "://" in href or scheme == "file":
            raise SourceNotAllowed("scheme")
        return str(self._path(href))

    def _url(self, href: str) -> str:
        parts = urlsplit(href)
        if parts.username or parts.password or "@" in parts.netloc:
            raise SourceNotAllowed("credentials")
        if ".." in parts.path.split("/") or "%2e" in parts.path.lower():
            raise SourceNotAllowed("dotdot")
        normal = _normal_prefix(href)
        if not any(normal.startswith(prefix) for prefix in self.url_prefixes):
            raise SourceNotAllowed("outside")
        return href

    def _path(self, href: str) -> Path:
        path = Path(href).expanduser()
        if not path.is_absolute():
            path = self.directories[0] / path
        # realpath: '..' and symbolic links are followed before the check
        real = Path(os.path.realpath(path))
        if not any(real.is_relative_to(root) for root in self.directories):
            raise SourceNotAllowed("outside")
        return real


def _normal_prefix(url: str) -> str:
    """Scheme and host lower-cased, so that prefix checks are not fooled by case."""
    parts = urlsplit(url)
    # an empty path becomes "/": prefix https://a.cn must not match https://a.cn.evil.org
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path or '/'}"
