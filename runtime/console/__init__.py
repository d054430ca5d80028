"""The Operations Console's own entry: a second listener whose requests act as the console's admin."""
