"""Use cases. Each takes the :class:`hde_core.bootstrap.App` and runs in a unit of work."""
