"""The platform's one typed configuration model and its loader."""

from settings.loader import ConfigError, load_settings, settings_from_files, validate_settings
from settings.platform import PlatformSettings

__all__ = ["ConfigError", "PlatformSettings", "load_settings", "settings_from_files", "validate_settings"]
