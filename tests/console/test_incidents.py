"""An unforeseen error in the console shows a short message and an incident id, never a
traceback; the id is in the log with the traceback (issue 16.4)."""

import re

from streamlit.testing.v1 import AppTest


def _broken_page():
    from hde_core.console.incidents import install_incident_handler

    install_incident_handler()
    raise RuntimeError("database exploded")


def test_an_internal_error_shows_an_incident_id_that_is_in_the_log(console_incidents):
    at = AppTest.from_function(_broken_page)
    at.run()
    assert not at.exception  # no traceback on the page
    (shown,) = [e.value for e in at.error]
    assert "database exploded" not in shown
    incident = re.search(r"номер инцидента (\w+)", shown).group(1)
    logged = [r for r in console_incidents if incident in r.getMessage()]
    assert logged and "database exploded" in str(logged[0].exc_info[1])
    console_incidents.clear()  # provoked on purpose
