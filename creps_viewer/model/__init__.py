"""What the explorer shows, without Qt widgets: state, records, workspaces, gesture maths."""
