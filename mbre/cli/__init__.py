"""The `mbre` command: the typer app, its shared options, progress bar, tables and error handling."""
