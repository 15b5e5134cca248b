"""The explorer's tests draw offscreen: no display is needed, and none is opened where there is one.

Set here, once, before any test module of this folder imports Qt and before pytest-qt makes the
QApplication (which reads the variable)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
