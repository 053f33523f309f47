"""Where proposals run: fresh local worker processes (local.py, the default) or Ray tasks
on a local instance or a cluster (ray_executor.py); selection.py picks one."""
