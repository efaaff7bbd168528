"""HDE Outreach core: every rule of the product lives in this package.

The console (``app.py``, ``pages/``), the ``hde`` command line and the webhook
receiver are thin faces over :mod:`hde_core.services`.
"""

__version__ = "0.1.0"
