"""The Textual console: a login, then one screen per cmail module (see tui/modules.py)."""
