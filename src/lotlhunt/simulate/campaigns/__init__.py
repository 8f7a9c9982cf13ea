"""Campaigns: one module per actor, each a plan of ``actions`` over hosts and time.

A campaign chooses its hosts, accounts and variants from the seed, opens hands-on-keyboard
windows on a :class:`~lotlhunt.simulate.campaigns.plan.Timeline`, adds the actor's verbs
(``lotlhunt.simulate.actions``) with the step and ATT&CK technique their events are
labelled with, and returns :func:`~lotlhunt.simulate.campaigns.plan.summarise` of it: the
Ops per host, steps, attacked hosts and lateral edges the scenario and truth are written
from. Another actor is another module here built the same way.
"""
