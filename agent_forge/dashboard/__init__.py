"""The Streamlit dashboard: reads a home's registry, metrics and models; never trains.

`app.py` is what `streamlit run` executes; `views/` render the pages (a folder named `pages/`
would switch Streamlit to its pages-directory mode); `data.py`, `plots.py` and `config_form.py`
are plain functions, testable without Streamlit. Nothing imports this package.
"""
