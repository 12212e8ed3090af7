"""Statistics, tables, plots and reports over run stores."""

# bootstrap replicates of every printed interval and p-value (report, demo, CLI): one number, so the report and the
# demo print the same draws for the same runs (kept here, free of numpy/scipy, so the CLI can read it at start-up)
N_BOOT = 2000
