"""The Sprinklr dialect (seed 004): ``POST /compat/sprinklr/api/marketing-journey/trigger``
and ``.../triggerWithNewProfile``, answering 204. See ``docs/dialects/sprinklr.md``."""
