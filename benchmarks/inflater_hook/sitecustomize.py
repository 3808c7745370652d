"""Loaded by every Python process started with this folder on PYTHONPATH (benchmarks/suite.py --inflater):
the daemon and its workers then inflate with the inflater BENCH_INFLATER names. For measuring
an inflater in the whole daemon before it is adopted; nothing in the package reads the variable."""

import os

if os.environ.get("BENCH_INFLATER") == "isal":
    from isal import isal_zlib

    from gelfingest.core import decompress

    setattr(decompress, "zlib", isal_zlib)  # noqa: B010  (the module's private name)
    setattr(decompress, "_INFLATE_ERROR", isal_zlib.error)  # noqa: B010
