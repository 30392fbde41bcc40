"""Commands run with the collector settled (alongside/startup.py)."""

from __future__ import annotations


def test_a_command_runs_with_what_was_loaded_before_it_frozen_and_leaves_nothing_frozen() -> None:
    # Full collections no longer walk the modules and journeys while a bulk command runs;
    # a process running many commands (these tests) keeps no garbage frozen after one.
    import gc

    from alongside.startup import settled

    assert gc.get_freeze_count() == 0
    before = gc.get_threshold()
    with settled():
        assert gc.get_freeze_count() > 1000
        assert gc.get_threshold()[0] == 10_000 > before[0]
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
