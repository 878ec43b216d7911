"""A small web application on pgqueue: FastAPI + SQLAlchemy enqueue, workers run.

- ``models``: the application's own tables (SQLAlchemy 2) and its engine;
- ``tasks``: the pgqueue App and the tasks a worker runs;
- ``web``: the FastAPI app (``uvicorn examples.webapp.web:api``);
- ``__main__``: ``python -m examples.webapp`` (``make example``) starts the embedded
  database, the web app, a worker and the dashboard, and stops them all on Ctrl-C.
"""
