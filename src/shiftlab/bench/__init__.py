"""The benchmark: definitions (TOML), the planner and its cache keys, jobs, executors
(this process, local processes, Dask), the run folder, provenance, and deployable models
(``shiftlab select`` / ``predict``)."""
