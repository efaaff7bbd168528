"""The outbox dispatcher: claim, rate limit, send, retry, recover."""
