"""The router: page config, the shared sidebar (filters, connection status, guide) and navigation.

Pages (in app_pages/) hold UI only; every query goes through peg_dashboard.data.
"""

import streamlit as st
from peg_dashboard import connection, data, filters, ui

st.set_page_config(page_title="Stablecoin Peg Monitor", page_icon=":material/monitoring:", layout="wide")

page = st.navigation(
    [
        st.Page("app_pages/peg_deviation.py", title="Peg Deviation", icon=":material/show_chart:", default=True),
        st.Page("app_pages/peg_zscore.py", title="Peg Z-Score", icon=":material/ssid_chart:"),
        st.Page("app_pages/depeg_events.py", title="Depeg Events", icon=":material/trending_down:"),
        st.Page("app_pages/market_vs_oracle.py", title="Market vs Oracle", icon=":material/compare_arrows:"),
        st.Page("app_pages/feed_health.py", title="Feed Health", icon=":material/monitor_heart:"),
    ]
)

status = connection.connection_status()
if not status.ok:
    with st.sidebar:
        ui.connection_panel(status)
    ui.guide()
    st.error(f"**The dashboard cannot read the marts.** {status.error}", icon=":material/cloud_off:")
    st.stop()
ui.data_label_banner(status)

with ui.data_errors():
    feeds = data.feeds()
    bounds = data.day_bounds()
    if not feeds or bounds is None:
        with st.sidebar:
            ui.connection_panel(status)
        ui.guide()
        st.info(
            "The marts hold no data yet. Load some days and build the marts (the daily DAG; locally `make demo`).",
            icon=":material/inbox:",
        )
        st.stop()
    filters.sidebar(feeds, bounds)
    with st.sidebar:
        ui.live_status()
    ui.guide()
    for warning in filters.pop_warnings():
        st.warning(warning, icon=":material/link_off:")
    page.run()
