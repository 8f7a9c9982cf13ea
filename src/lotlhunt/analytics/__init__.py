"""After detection: explanations, Sigma correlations, rule coverage, behaviour and incidents.

Behaviour analytics and incidents read events through one engine method
(``events_frame``) and work on the Arrow tables it returns, so they run on any engine that
offers it (:mod:`.run`).
"""
