"""racecal: athletes' competition plans (YAML) → subscribable calendar feeds and a static site."""

__version__ = "0.2.0"
