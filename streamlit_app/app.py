"""Serve the dashboard and its freshness route: `streamlit run streamlit_app/app.py`.

`st.App` runs the router script (dashboard.py) for every browser session and adds
`GET /api/freshness` beside Streamlit's own `/_stcore/health`. `python streamlit_app/app.py`
starts the same server.
"""

import streamlit as st
from peg_dashboard.freshness import ROUTES

app = st.App("dashboard.py", routes=ROUTES)

if __name__ == "__main__":
    app.run()
