"""Faces of the core: the ``hde`` command line, the dispatcher, the webhook receiver, the demo."""
