"""A notice flashed by an action survives the rerun that follows and shows once."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _script() -> None:
    import streamlit as st

    from hde_core.console.notices import flash, flash_error, show
    from hde_core.errors import HdeError

    class Invalid(HdeError):
        def message(self, lang: str | None = None) -> str:
            return "the settings are not valid"

        def lines(self, lang: str | None = None) -> list[str]:
            return ["port: a number", "host: required"]

    def act() -> None:
        flash("demo", "success", "saved", "", "3 rows")
        flash("demo", "warning", "row 7 skipped")
        flash_error("demo", Invalid(), "en")

    st.button("go", key="go", on_click=act)
    if st.session_state.pop("rerun_once", False):
        st.rerun()
    show("demo")


def test_a_notice_survives_a_rerun_and_shows_once() -> None:
    at = AppTest.from_function(_script).run()
    assert not at.success and not at.warning and not at.error

    at.session_state["rerun_once"] = True
    at.button(key="go").click().run()
    assert [s.value for s in at.success] == ["saved\n\n3 rows"]
    assert [w.value for w in at.warning] == ["row 7 skipped"]
    assert [e.value for e in at.error] == [
        "the settings are not valid\n\n- port: a number\n\n- host: required"
    ]

    at.run()
    assert not at.success and not at.warning and not at.error
