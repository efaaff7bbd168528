"""One adapter module per provider over :mod:`hde_core.channels.base`."""
