"""The channel simulator: the default platform when no YouTube credentials are set.

A local channel (SQLite) takes the uploads, a seeded audience model turns each upload's
experiment labels into impressions, CTR, retention and views, and a compressed clock lets weeks
of channel life pass in minutes. Everything it produces carries ``simulated=True``.
"""
