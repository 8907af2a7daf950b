"""From raw files to prepared arrays: the readers of each release, split files, data
fingerprints, the prepared-image cache, and what ``uadbench datasets`` reports."""
