"""Command-line tools shipped with spead2."""
