"""The `alongside` command: the composition root, above every other package.

`app` assembles the command groups (one module each) and is the only place that builds the
settings for a command-line invocation (`context.Invocation`); each command turns its
arguments into one call on the service layer, the sweep, the flows or notifications, and
prints the result as a table for people or JSON for scripts (`--json`).
"""
