"""Every message exists in zh-CN and en with the same placeholders."""

from __future__ import annotations

import string

from config.i18n import from_accept_language, normalise_language
from server.i18n import MESSAGES


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_message_in_both_languages() -> None:
    for key, entry in MESSAGES.items():
        assert set(entry) == {"zh-CN", "en"}, key
        assert entry["zh-CN"].strip() and entry["en"].strip(), key
        assert _fields(entry["zh-CN"]) == _fields(entry["en"]), key


def test_language_negotiation() -> None:
    assert normalise_language("zh-Hans-CN") == "zh-CN"
    assert normalise_language("en_GB") == "en"
    assert normalise_language("fr") is None
    assert from_accept_language("fr;q=1, en;q=0.5, zh;q=0.8", "en") == "zh-CN"
    assert from_accept_language("fr", "zh-CN") == "zh-CN"
    assert from_accept_language("en;q=0, zh;q=0.1", "en") == "zh-CN"
    assert from_accept_language("en;q=abc", "zh-CN") == "zh-CN"


def test_every_process_error_has_a_message() -> None:
    import re
    from pathlib import Path

    from server.i18n import MESSAGES

    root = Path(__file__).resolve().parents[2] / "processes"
    used = set()
    for path in root.glob("*.py"):
        used |= set(re.findall(r'ProcessError\(\s*"([a-z_.]+)"', path.read_text()))
    assert used and used <= set(MESSAGES), used - set(MESSAGES)
    sources = {k for k in MESSAGES if k.startswith("source.")}
    assert {"source.outside", "source.vsi", "source.scheme"} <= sources
