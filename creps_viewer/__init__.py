"""CREPS Explorer desktop app (PySide6).

Layout (docs/architecture.md): :mod:`state` holds the one model (no widgets), the
:mod:`render_worker` turns immutable snapshots of it into frames on a thread, and
the viewport and panels are thin Qt views that read and write the state.
"""
