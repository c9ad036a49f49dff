"""lossbench: a reproducible benchmark of classification losses on one MLP.

The package holds the logic; Snakemake (workflow/) owns the loops over variants and seeds,
and calls the console command ``lossbench`` (see ``lossbench.cli``).
Importing this package does no work and imports nothing heavy.
"""

__version__ = "0.1.0"
