"""cadfinder: shape search for mechanical CAD parts."""

__version__ = "0.1.0"
