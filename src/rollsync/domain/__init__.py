"""Pure domain types shared by importers, matching, planning and the Django layer.

Nothing here imports Django, so the hot path (parse -> match -> plan) runs and
is tested without a database.
"""
