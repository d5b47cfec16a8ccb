"""Languages and bilingual texts: the types, message lookup and negotiation.

Each package keeps its own messages beside it (providers/messages.py,
processes/messages.py, server/i18n.py); this module only knows how to pick one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

Language = Literal["zh-CN", "en"]
LANGUAGES: tuple[Language, ...] = ("zh-CN", "en")

# A text shown to users: one string for every language, or one per language.
I18nText = str | dict[Language, str]
# Messages by id, each in every language; placeholders use str.format names.
Messages = Mapping[str, Mapping[Language, str]]


def text_for(text: I18nText, lang: str) -> str:
    """Pick the text of one language, falling back to any available one."""
    if isinstance(text, str):
        return text
    return text.get(lang) or text.get("zh-CN") or next(iter(text.values()), "")  # type: ignore[call-overload]


def translate_from(messages: Messages, message_id: str, lang: str, **params: Any) -> str:
    """The message in ``lang`` (falling back to zh-CN), with its placeholders filled."""
    entry = messages[message_id]
    text = entry.get(lang) or entry["zh-CN"]  # type: ignore[call-overload]
    return text.format(**params) if params else text


def normalise_language(tag: str) -> Language | None:
    """Map a language tag (zh, zh-CN, zh-Hans, en-US...) onto a supported language."""
    primary = tag.strip().replace("_", "-").lower()
    if primary.startswith("zh"):
        return "zh-CN"
    if primary.split("-")[0] == "en":
        return "en"
    return None


def from_accept_language(header: str, default: Language) -> Language:
    """The best supported language of an Accept-Language header."""
    best: tuple[float, Language] | None = None
    for part in header.split(","):
        tag, _, params = part.partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        lang = normalise_language(tag)
        if lang is not None and q > 0 and (best is None or q > best[0]):
            best = (q, lang)
    return best[1] if best else default
