"""cmail console core: the master database, its rules and its permission checks.

Front ends (tui/, cli/) call the services in core.services; nothing here imports a UI toolkit.
"""
