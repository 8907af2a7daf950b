"""Built-in data sets, each the reader of one public release, and the code only readers use.

Each data set registers through the ``uadbench.datasets`` entry-point group.
"""
