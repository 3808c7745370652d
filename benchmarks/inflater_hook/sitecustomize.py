"""Loaded by every Python process started with this folder on PYTHONPATH (benchmarks/suite.py --inflater):
the daemon and its workers then inflate with the inflater BENCH_INFLATER names. For measuring
an inflater in the whole daemon before it is adopted; nothing in the package reads the variable."""

import os

if os.environ.get("BENCH_INFLATER") == "zlib-ng":
    from zlib_ng import zlib_ng

    from gelfingest.core import decompress

    setattr(decompress, "zlib", zlib_ng)  # noqa: B010  (the module's private name)
    setattr(decompress, "_INFLATE_ERROR", zlib_ng.error)  # noqa: B010
