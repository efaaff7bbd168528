"""Hiding the password in a server URL before it reaches a message, a log or the console."""

from __future__ import annotations

from urllib.parse import urlsplit


def mask_url(url: str) -> str:
    """The URL with its password hidden (``smtp://u:••••@h:25``); an unreadable URL is not echoed."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":••••@")
        return parts._replace(netloc=netloc).geturl()
    return url
