"""The engine: claims due runs, walks each through its steps under a lease, and ends
runs; its Celery tasks and the runs API read what it wrote."""
