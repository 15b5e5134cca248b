"""The `creps` command line: the parser (main), the one options vocabulary (args), one module per
subcommand (commands), what turns options into work (common) and what is drawn (terminal)."""
