"""The dispatcher's HTTP client: the adapters' ``httpx`` calls carried by ``aiohttp``.

Why: with a hundred sends in flight, ``httpx``'s own request machinery (URL merging,
auth and redirect flows, cookie extraction) and its connection pool spend more CPU than
everything else in the worker (encode/httpx#3215); ``aiohttp``'s pool does not.

- :class:`DispatchClient` is an ``httpx.AsyncClient``: the adapters keep speaking
  ``httpx`` (``request``/``post``/``get``, ``httpx.Response``, the timeout and transport
  exceptions they map to ``transient``). A plain call — JSON or no body, headers, query
  parameters, the client's timeout — goes straight to ``aiohttp`` with the bytes and
  headers ``httpx`` would send; anything else (files, forms, cookies, auth, streaming,
  per-call timeouts) takes ``httpx``'s own path.
- :class:`AiohttpTransport` carries that own path over the same ``aiohttp`` pool.
- Both take the send's turn at its channel's pace (:class:`~hde_core.dispatch.pacing.Gate`)
  where the request is written: its body waits for it (a request without a body waits
  before it starts).
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import aiohttp
import httpx

from hde_core.dispatch.pacing import GATE, Gate


class _PacedBody(aiohttp.payload.BytesPayload):
    """A request body written only once the send's turn at its channel's pace has come
    (:class:`~hde_core.dispatch.pacing.Gate`). ``aiohttp`` sends the buffered headers with
    the body's first bytes, so the whole request leaves the moment the turn is taken —
    after the connection is open, with nothing left between the turn and the socket."""

    def __init__(self, value: bytes, gate: Gate) -> None:
        super().__init__(value)
        self._gate = gate

    async def write_with_length(self, writer: Any, content_length: int | None) -> None:
        await self._gate.wait()
        await super().write_with_length(writer, content_length)

    async def write(self, writer: Any) -> None:
        await self._gate.wait()
        await super().write(writer)


class _Pool:
    """One ``aiohttp`` session, opened on first use (inside the running loop)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit, ttl_dns_cache=300),
                auto_decompress=False,  # httpx decodes by Content-Encoding itself
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(
        self,
        request: httpx.Request,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        timeouts: Mapping[str, float | None],
    ) -> httpx.Response:
        """One exchange; aiohttp's errors become the httpx exceptions adapters expect."""
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=timeouts.get("connect"), sock_read=timeouts.get("read")
        )
        gate = GATE.get()
        data: Any = body
        if gate is not None and not gate.passed:
            if body:
                data = _PacedBody(body, gate)
            else:
                await gate.wait()
        try:
            async with self.session().request(
                method,
                url,
                headers=headers,
                data=data,
                allow_redirects=False,
                timeout=timeout,
            ) as response:
                content = await response.read()
                status = response.status
                received = list(response.headers.items())
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "no answer in time", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.NetworkError(f"{type(exc).__name__}: {exc}", request=request) from exc
        return httpx.Response(status, headers=received, content=content, request=request)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """``httpx``'s own request path, with the bytes carried by ``aiohttp``."""

    def __init__(self, pool: _Pool) -> None:
        self._pool = pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        headers = [(k, v) for k, v in request.headers.multi_items() if k != "host"]
        return await self._pool.send(
            request,
            request.method,
            str(request.url),
            headers,
            request.content or None,
            request.extensions.get("timeout", {}),
        )

    async def aclose(self) -> None:
        await self._pool.close()


@lru_cache(maxsize=256)
def _url(url: str) -> httpx.URL:
    """Parsed once: a channel calls the same few endpoints for every message."""
    return httpx.URL(url)


class DispatchClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` whose plain calls skip ``httpx``'s request machinery."""

    def __init__(self, *, limit: int = 100, **kwargs: Any) -> None:
        self._pool = _Pool(limit)
        # both paths share one pool; closing the client closes the transport, and the pool
        kwargs["transport"] = AiohttpTransport(self._pool)
        super().__init__(**kwargs)
        timeout = self.timeout
        self._timeouts = {"connect": timeout.connect, "read": timeout.read}

    async def request(  # type: ignore[override]
        self,
        method: str,
        url: httpx.URL | str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        **other: Any,
    ) -> httpx.Response:
        special = any(v is not None and v is not httpx.USE_CLIENT_DEFAULT for v in other.values())
        if not isinstance(url, str) or str(self.base_url) or self.cookies or special:
            return await super().request(
                method, url, json=json, params=params, headers=headers, **other
            )
        target = _url(url)
        if params:
            target = target.copy_merge_params(params)
        body = None
        sent = self.headers.multi_items()
        if json is not None:
            # exactly httpx's encoding (httpx._content.encode_json)
            body = jsonlib.dumps(
                json, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            ).encode("utf-8")
            sent.append(("Content-Type", "application/json"))
        if headers:
            given = {k.lower() for k in headers}
            sent = [(k, v) for k, v in sent if k.lower() not in given]
            sent += list(headers.items())
        # what responses and errors point back to: the method and the URL (building the
        # full request object again would cost as much as the rest of the call)
        request = httpx.Request(method, target)
        return await self._pool.send(
            request,
            method,
            str(target) if params else url,
            sent,
            body,
            self._timeouts,
        )
