"""Built-in data sets. Each registers through the ``uadbench.datasets`` entry-point group."""
