"""The functional core: everything that decides *what should happen*.

Pure functions and values: journey models and YAML-text parsing, calendars, conditions,
values, the planner, the escalation policy, the reconcile diff, the task lifecycle, alert
grouping and message payloads. No clock (every function takes `now`), no database, no
files, no network. Imports only the standard library, pydantic, PyYAML and `holidays`; the
import contract in `make lint` holds it.
"""
