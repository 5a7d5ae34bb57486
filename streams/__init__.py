"""Everything that touches Kafka, Redis, processes and the clock, grouped by role. The arrows point one way:
`app` (the composition root) → `operations` → `outcomes` → `routing` → `model_plane` → `clients`; `local` stands
apart. Every sub-package may import the shared `exceptions` and `metrics`, and others import only the names a
sub-package's `__init__` lists (tests/unit/test_streams_layout.py)."""
