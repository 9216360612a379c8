"""OSC transport (being written)."""


def setup_osc(app):
    pass
