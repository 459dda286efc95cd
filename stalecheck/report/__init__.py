"""Renderers: results in, text/JSON out. Nothing here explores or prints by itself."""
