"""The window monitor: open windows closing first with their countdown (closing within 2 h
highlighted), held messages waiting for a reply, filters and export (R12)."""

import csv
import io

from tests.console.conftest import run_page
from tests.console.seed import seeded  # noqa: F401 - fixture

PAGE = "pages/6_windows.py"


def test_open_windows_closing_first_with_countdown_and_held_messages(console_app, seeded):  # noqa: F811
    at = run_page(PAGE, role="agent", lang="en")
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Open windows": "2", "Closing within 2 h": "1", "Held messages": "1"}
    windows = at.dataframe[0].value
    assert list(windows["Client"]) == ["Анна Петрова", "Игорь Смирнов"]  # closing first
    assert windows["Time left"].iloc[0] in ("0 h 44 min", "0 h 45 min")
    assert windows["Time left"].iloc[1].startswith("21 h ")
    assert round(windows["Of 24 h"].iloc[0], 2) == 0.03
    urgent = at.error[0].value
    assert urgent.startswith("Closing soon: write to these clients now")
    assert "— Анна Петрова (wa-business, 79120000001)" in urgent
    held = at.dataframe[1].value
    assert list(held["Client"]) == ["Мария Иванова"]
    assert list(held["Template"]) == ["delivered"] and list(held["Window"]) == ["closed"]


def test_highlight_and_filters(console_app, seeded):  # noqa: F811
    at = run_page(PAGE, role="viewer", lang="en")
    styled = at.dataframe[0].proto.arrow_data.styler.styles
    assert "#ffe3e3" in styled  # the row of the window closing within 2 hours
    at.checkbox(key="wm_soon").check().run()
    assert list(at.dataframe[0].value["Client"]) == ["Анна Петрова"]
    at.checkbox(key="wm_soon").uncheck().run()
    at.multiselect(key="wm_channels").select("telegram").run()
    assert list(at.dataframe[0].value["Client"]) == ["Игорь Смирнов"]
    assert "No message is held." in [s.value for s in at.success]
    at.multiselect(key="wm_channels").unselect("telegram").run()
    at.text_input(key="wm_search").input("анна").run()
    assert list(at.dataframe[0].value["Client"]) == ["Анна Петрова"]


def test_export_open_windows(console_app, seeded):  # noqa: F811
    at = run_page(PAGE, role="viewer", lang="en")
    at.button(key="wm_export_windows").click().run()
    name, data = at.session_state["wm_file"]
    assert name == "open-windows.csv"
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == [
        "Channel",
        "Client",
        "Address",
        "Wrote last",
        "Closes",
        "Minutes left",
        "Held",
    ]
    assert [r[1] for r in rows[1:]] == ["Анна Петрова", "Игорь Смирнов"]
    assert 40 <= int(rows[1][5]) <= 45
    at.button(key="wm_export_held").click().run()
    name, data = at.session_state["wm_file"]
    assert name == "held-messages.csv" and "Мария Иванова" in data.decode("utf-8-sig")


def test_no_messenger_channel(console_app):
    at = run_page(PAGE, role="agent", lang="en")
    assert "There are no messenger channels" in at.info[0].value


def test_a_page_number_beyond_the_filtered_list_comes_back_to_the_last_page(console_app, seeded):  # noqa: F811
    at = run_page(PAGE, role="viewer", lang="en", wm_page=7)
    assert not at.exception
    assert at.number_input(key="wm_page").value == 1
    assert list(at.dataframe[0].value["Client"]) == ["Анна Петрова", "Игорь Смирнов"]
