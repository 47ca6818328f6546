"""The ``enroll`` dialect (seed 001): ``POST /compat/enroll/v1/journeys/{id}/enroll``.

Contacts by e-mail address and lists by their list address go in; the number enrolled
and the addresses left out, by reason, come back. See ``docs/dialects/enroll.md``.
"""
