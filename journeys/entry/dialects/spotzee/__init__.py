"""Spotzee's journey API under ``/compat/spotzee/`` (seed 003): list journeys, trigger
entrances for many users at once, each with data of its own. See docs/dialects/spotzee.md.
"""
