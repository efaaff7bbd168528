"""The console server: Streamlit's pages (``app.py``, ``pages/``) plus the console's own
routes (the session cookie, ``hde_core/console/routes.py``) on one port.

``streamlit run console.py`` (what ``make run`` does) finds the ``st.App`` below and serves
both. AppTest and ``streamlit run app.py`` still work: without the routes a sign-in lasts
as long as the browser tab's Streamlit session.
"""

import streamlit as st

from hde_core.console import get_app
from hde_core.console.routes import session_routes

app = st.App("app.py", routes=session_routes(get_app))
