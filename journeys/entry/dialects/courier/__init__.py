"""Courier's journeys API (seed 002), served under ``/compat/courier/``.

A client of Courier's journeys (its own SDK, ``trycourier``, among them) changes its
base URL and API key and nothing else: ``POST /journeys/{id}/invoke`` starts a run for
one user (``user_id``, a ``profile`` merged over the stored customer for this run, the
``data`` the journey's templates read), and the calls around it list journeys, list and
read runs and their steps, and cancel runs by id or by the journey's cancellation
token. Errors keep the product's ``error`` and add Courier's ``type`` and ``message``.
"""
