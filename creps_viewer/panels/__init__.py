"""Dock panels: thin Qt views bound both ways to :class:`creps_viewer.state.ExplorerState`."""
