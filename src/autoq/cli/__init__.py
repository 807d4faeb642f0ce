"""The ``autoq`` command line: one module per subcommand."""
