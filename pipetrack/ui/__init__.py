"""``pipetrack ui``: a local web UI over the task store (needs the ``pipetrack[ui]`` extra).

``api.py`` reads the store into JSON, ``actions.py`` changes tasks through the Task API,
``app.py`` is the HTTP layer (Starlette), ``server.py`` binds and runs it (uvicorn), and
``static/`` is the single-page front end (plain JavaScript and plotly.js, no build step).
"""
