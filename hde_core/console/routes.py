"""The console's own HTTP routes, served by Streamlit's server beside the pages (``st.App``,
see ``console.py``): they set and clear the session cookie, which Streamlit cannot do from a
script.

- ``GET /hde/session?code=…&next=/page`` swaps the one-time code the sign-in form got
  (:func:`hde_core.services.sessions.hand_off`) for the session token and sets it as
  ``hde_session`` (HttpOnly, SameSite=Lax, Path=/; Secure behind https), then goes back to
  the page. A used, late or unknown code sets nothing.
- ``GET /hde/signout?next=/`` clears the cookie if its session is over (the console ends
  the session itself before coming here), so a link from elsewhere cannot sign anyone out.

Same host and port as the pages, so the cookie reaches the console's websocket whatever
name the browser used for the host.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hde_core.bootstrap import App
from hde_core.services.sessions import COOKIE, hand_off, resume

SESSION_PATH = "/hde/session"
SIGNOUT_PATH = "/hde/signout"
#: Whether this process serves the routes (``console.py`` built them): if not (AppTest,
#: ``streamlit run app.py``) a sign-in lives in the Streamlit session alone.
_served = False


def served() -> bool:
    return _served


def safe_next(value: str | None) -> str:
    """Only a path on this server: never ``//host`` or ``https://…`` (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _back(request: Request) -> RedirectResponse:
    response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


def session_routes(get_app: Callable[[], App]) -> list[BaseRoute]:
    """The routes, taking the App lazily (the console builds it on first use)."""
    global _served
    _served = True

    def set_session(request: Request) -> Response:
        app = get_app()
        response = _back(request)
        token = hand_off(app, request.query_params.get("code", ""))
        if token is not None:
            response.set_cookie(
                COOKIE,
                token,
                max_age=app.settings.session_max_hours * 3600,
                path="/",
                httponly=True,
                samesite="lax",
                secure=request.url.scheme == "https",
            )
        return response

    def sign_out(request: Request) -> Response:
        response = _back(request)
        token = request.cookies.get(COOKIE)
        if token and resume(get_app(), token).user is None:
            response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
        return response

    return [
        Route(SESSION_PATH, set_session, methods=["GET"]),
        Route(SIGNOUT_PATH, sign_out, methods=["GET"]),
    ]
