"""Constants and config parsing: the base every other package stands on."""
