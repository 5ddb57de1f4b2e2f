"""The HTTP layer, against a local server (pytest-httpserver) that answers as real APIs do."""

from __future__ import annotations

import pytest
from werkzeug import Response

from scalpel_plan.errors import ProviderError
from scalpel_plan.http import Http
from scalpel_plan.secrets import SecretsManager
from scalpel_plan.spec.model import SecretDecl

_open: list[Http] = []


def client(**kwargs) -> Http:
    waits: list[float] = []
    http = Http("the index", sleep=waits.append, **kwargs)
    http.waits = waits  # type: ignore[attr-defined]
    _open.append(http)
    return http


@pytest.fixture(autouse=True)
def _close_clients():
    """Close every client a test made: an open connection pool warns when collected later."""
    yield
    while _open:
        _open.pop().close()


def answers(*responses: Response):
    queue = list(responses)
    return lambda request: queue.pop(0)


def test_429_is_retried_after_the_time_it_asks(httpserver):
    httpserver.expect_request("/x").respond_with_handler(answers(
        Response("slow down", status=429, headers={"Retry-After": "3"}), Response("ok")))
    http = client()
    assert http.request("POST", httpserver.url_for("/x")).text == "ok"
    assert http.waits == [3.0]


def test_5xx_is_retried_with_backoff_when_the_request_is_idempotent(httpserver):
    httpserver.expect_request("/x").respond_with_handler(answers(
        Response("down", status=503), Response("down", status=500), Response("ok")))
    http = client(backoff=1.0)
    assert http.request("GET", httpserver.url_for("/x")).text == "ok"
    assert len(http.waits) == 2 and 0.5 <= http.waits[0] <= 1.5 and 1.0 <= http.waits[1] <= 3.0


def test_a_non_idempotent_request_is_not_repeated_when_it_may_have_happened(httpserver):
    httpserver.expect_request("/upload").respond_with_handler(answers(
        Response("oops", status=500), Response("ok")))
    with pytest.raises(ProviderError, match="HTTP 500"):
        client().request("POST", httpserver.url_for("/upload"), idempotent=False)
    # ...unless the caller can read whether it happened (here: it did not)
    httpserver.clear()
    httpserver.expect_request("/upload").respond_with_handler(answers(
        Response("oops", status=500), Response("ok")))
    http = client()
    response = http.request("POST", httpserver.url_for("/upload"), idempotent=False,
                            happened=lambda: False)
    assert response.text == "ok"


def test_401_names_the_target_and_the_secret_never_its_value(httpserver):
    secrets = SecretsManager({"pypi_token": SecretDecl(env="PYPI_TOKEN")},
                             {"PYPI_TOKEN": "pypi-AgEIcHlwaS5vcmc-very-secret"})
    token = secrets.resolve("${secrets.pypi_token}")
    httpserver.expect_request("/").respond_with_data("bad token " + token, status=401)
    http = client(secret_name="pypi_token", redact=secrets.mask)
    with pytest.raises(ProviderError) as caught:
        http.request("POST", httpserver.url_for("/") + f"?token={token}",
                     auth=("__token__", token))
    text = f"{caught.value.message} {caught.value.hint}"
    assert "the index rejected the credentials (401)" in text and "pypi_token" in text
    assert token not in text


def test_errors_mask_secrets_and_drop_queries(httpserver):
    secrets = SecretsManager({"hook": SecretDecl(env="HOOK")}, {"HOOK": "s3cr3t-path-part"})
    secret_url = httpserver.url_for("/hooks/" + secrets.resolve("${secrets.hook}"))
    httpserver.expect_request("/hooks/s3cr3t-path-part").respond_with_data(
        "echo: s3cr3t-path-part", status=400)
    with pytest.raises(ProviderError) as caught:
        client(redact=secrets.mask).request("POST", secret_url + "?sig=abc")
    assert "s3cr3t-path-part" not in caught.value.message
    assert "[secret]" in caught.value.message and "sig=abc" not in caught.value.message


def test_a_server_that_is_down_is_a_clear_error():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    http = client(attempts=2)
    with pytest.raises(ProviderError, match="cannot connect"):
        http.request("GET", f"http://127.0.0.1:{port}/")
    assert len(http.waits) == 1


def test_masking_does_not_eat_ordinary_words():
    secrets = SecretsManager({"t": SecretDecl(env="T")}, {"T": "doc"})
    secrets.resolve("${secrets.t}")
    assert secrets.mask("documentation, doc and /doc/") == "documentation, [secret] and /[secret]/"


def test_a_truncated_response_is_retried_when_safe():
    """A server that closes the connection half-way through its answer, then recovers."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def serve() -> None:
        for reply in (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\ntrunc",
                      b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"):
            conn, _ = listener.accept()
            conn.recv(65536)
            conn.sendall(reply)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    http = client()
    assert http.request("GET", f"http://127.0.0.1:{port}/").text == "ok"
    thread.join(5)
    listener.close()
