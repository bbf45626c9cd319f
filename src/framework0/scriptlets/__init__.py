"""scriptlets."""
