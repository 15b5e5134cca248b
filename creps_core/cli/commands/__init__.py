"""One module per `creps` subcommand."""
