"""Test support: tiny hand-made data, the location of the real datasets, reader fuzzing. Not part
of the installed package."""
