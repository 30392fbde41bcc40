"""Orchestration: the Prefect flows over the engine, and the embedded scheduler.

- `sweep`: the `tick` and `digest` flows (batches as Prefect tasks) and their steps;
- `report`: the per-organisation figures behind the tick's artifacts;
- `schedules`, `runner`: `alongside run`, prefect.yaml's schedules on APScheduler;
- `demo`: `alongside demo`'s programme and simulated months;
- `settings`: the Prefect settings the project applies before Prefect is imported;
- `cli`: the two commands (imports nothing heavy at module level).
"""
