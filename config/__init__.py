"""Configuration: the YAML model, its loader and the packaged default files."""

from config.loader import ConfigError, load_settings
from config.models import CollectionConfig, I18nText, ServerConfig, Settings

__all__ = [
    "CollectionConfig",
    "ConfigError",
    "I18nText",
    "ServerConfig",
    "Settings",
    "load_settings",
]
