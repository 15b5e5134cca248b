"""Dialogs of the explorer window."""
