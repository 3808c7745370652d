"""The coverage-guided fuzz target of the pure core (atheris, libFuzzer): any exception but GelfError, and any
output that breaks the properties every batch must have, is a crash. ``fuzz.target`` is the target itself
(``run_input``, which the tests replay the inputs under tests/vectors/fuzz/ through, and which needs no atheris);
``python -m fuzz`` (``__main__``) drives it: ``.venv/bin/python -m fuzz --seconds 600 [--corpus DIR]`` from the
repository root (``make fuzz``; atheris is the ``fuzz`` extra), crashes written to tests/vectors/fuzz/.
"""
