"""`alongside demo`: a whole programme, four months of it, on a fresh home, in about a minute.

It builds a demo programme (four organisations including the Romanian safe-return team,
their navigators and team leads, a programme lead; every address `@example.org`), opens
30 pseudonymous cases across the four shipped journeys and lives through `days` simulated
days. Each day:

- 08:00 London, on weekdays: the digests;
- 09:00 London: the `tick` flow;
- 13:00 London: people act: new referrals are opened, events recorded (arrests, charges,
  trials listed, one trial moved, a verdict), one case is closed, and navigators complete
  (or now and then waive) the tasks that are due, some more promptly than others.

Every simulated day's tick is a real run of the `tick` flow through Prefect, exactly as
`alongside run` runs it (through the ephemeral API unless PREFECT_API_URL names a server),
so the Prefect UI shows 120 tick runs, each with its artifacts. The weekday digests run the
`digest` flow's steps directly: through Prefect they would add a second ~0.25 s flow run
for most days, and the demo has to finish in well under two minutes on a small machine.
Messages go to the file transport: real `.eml` files in the outbox.

The story is fixed and the randomness seeded, so two runs with the same `--start` and
`--seed` produce the same programme. By default the simulation ends yesterday, so the
home is current: `alongside run` on it simply carries on.

The pieces: `programme` (the organisations, staff and story), `simulation` (the home and
the simulated days), `summary` (what the demo did, and where to look).
"""
