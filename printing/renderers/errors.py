class RenderError(Exception):
    """A slip cannot be rendered for this output (QR too large, unknown profile)."""
