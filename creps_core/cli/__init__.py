"""The `creps` command line: parser, the one options vocabulary, one module per subcommand."""
