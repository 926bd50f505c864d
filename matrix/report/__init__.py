"""Reports: `compat.json` is the source of truth; Markdown is rendered from it."""
