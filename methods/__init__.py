"""Built-in method plugins. Each registers through the ``uadbench.methods`` entry-point group,
exactly as a method in another package would."""
