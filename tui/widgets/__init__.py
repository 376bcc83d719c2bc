"""Reusable widgets: paged table + filter bar, confirm and prompt dialogs, status bar."""
