"""Pure domain rules: no SQLAlchemy, no HTTP. Tested without a database."""
