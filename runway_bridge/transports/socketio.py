"""Socket.IO transport (being written)."""


def setup_socketio(app):
    pass
