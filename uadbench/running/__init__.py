"""Running methods: planning and executing a run, its record on disk, executors, sweeps and
the runtime facts (device, versions, seeds) a record keeps."""
