"""The secretary's planning of a meeting (issue 15): the roster file edited from a page, calendar
invitations imported (.ics) and sent (e-mail with .ics, H7), and the notice period (H6).

Pure parts (``notice``, ``icsimport``, ``invitation``, ``messages``) beside the I/O ones
(``rosterfile`` writes the roster TOML in place, ``mailer`` talks SMTP).
"""
