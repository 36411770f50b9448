"""Seeing what ran: live training metrics (:mod:`.metrics`), MCAP recordings of episodes
(:mod:`.mcap_recorder`) and one offline HTML report per run folder (:mod:`.report`).

Importing this package is light (no torch, mcap or matplotlib); each module imports its
heavy dependencies when used.
"""
