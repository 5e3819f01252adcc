"""Batch stylization on Apache Beam: `python -m arbitrary_style.batch` (see `__main__`).

Needs the `beam` extra (`pip install .[beam]`); `pipeline` holds what runs on the workers.
"""
