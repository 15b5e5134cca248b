"""The Qt widgets: the application, the main window (wiring), viewport, panels, dialogs."""
