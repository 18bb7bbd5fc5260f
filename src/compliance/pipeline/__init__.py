"""Pipeline: one run wired by injection — ingest, evaluate, reconcile tasks, notify."""
