"""Configuration: the YAML model, its loader and the packaged default files."""

from config.i18n import I18nText
from config.loader import ConfigError, load_settings
from config.settings import CollectionConfig, ServerConfig, Settings

__all__ = [
    "CollectionConfig",
    "ConfigError",
    "I18nText",
    "ServerConfig",
    "Settings",
    "load_settings",
]
