"""Applications on top of the library: the quickstart and training every stage into a
checkpoints directory."""
