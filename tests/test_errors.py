"""Errors carry their wire meaning, and survive a trip through another bridge."""


def test_errors_from_another_bridges_status():
    from runway_bridge import errors

    assert type(errors.from_status(400, "x", field="image")) is errors.BadInput
    assert errors.from_status(400, "x", field="image").field == "image"
    assert type(errors.from_status(500, "x")) is errors.InferenceError
    assert type(errors.from_status(500, "x", server_error=errors.SetupError)) is errors.SetupError
    assert type(errors.from_status(503, "x")) is errors.BackendUnavailable
    odd = errors.from_status(418, "teapot")
    assert type(odd) is errors.BridgeError and odd.status == 418
