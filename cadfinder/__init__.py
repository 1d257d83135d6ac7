"""cadfinder: shape search for mechanical CAD parts."""

__version__ = "0.2.0"
