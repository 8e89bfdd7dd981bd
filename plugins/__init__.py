"""Plugin API and the built-in plugins (compliance keywords, loyalty)."""
