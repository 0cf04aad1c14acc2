"""Limits, bad input and the API key: every refusal is a JSON error with a 4xx that says why."""

import json

import pytest

from warmstart.cli import main


def _error(reply, status):
    assert reply.status_code == status, reply.text
    return reply.json()["error"]


def test_too_many_texts_and_too_long_texts_name_their_limit(serve_client):
    client = serve_client("classification", max_texts_per_request=3, max_chars_per_text=50)
    error = _error(client.post("/v1/classify", json={"texts": ["tea"] * 4}), 413)
    assert error == {"code": "limit_exceeded", "limit": "max_texts_per_request", "maximum": 3, "got": 4,
                     "message": "texts: 4 is over max_texts_per_request=3"}
    error = _error(client.post("/v1/embeddings", json={"texts": ["tea", "x" * 51]}), 413)
    assert error["limit"] == "max_chars_per_text" and error["got"] == 51 and "texts[1]" in error["message"]
    assert client.post("/v1/classify", json={"texts": ["x" * 50] * 3}).status_code == 200


def test_body_size_limit_declared_and_streamed(serve_client):
    client = serve_client("classification", max_body_bytes=200)
    big = json.dumps({"texts": ["tea " * 60]})
    error = _error(client.post("/v1/classify", content=big, headers={"content-type": "application/json"}), 413)
    assert error["limit"] == "max_body_bytes" and error["maximum"] == 200

    def chunks():  # no content-length: the limit must count the bytes as they arrive
        for _ in range(10):
            yield b'{"texts": ["' + b"t" * 40 + b'"]}'

    error = _error(client.post("/v1/classify", content=chunks(), headers={"content-type": "application/json"}), 413)
    assert error["limit"] == "max_body_bytes"
    assert client.post("/v1/classify", json={"texts": ["tea"]}).status_code == 200


@pytest.mark.parametrize("body, field", [
    ({"texts": "one text"}, "texts"),
    ({"texts": [1, 2]}, "texts.0"),
    ({"texts": []}, "texts"),
    ({"texts": ["a"], "normalize": "yes"}, "normalize"),
    ({"texts": ["a"], "colour": "blue"}, "colour"),
    ({}, "texts"),
    ([], "body"),
    (None, "body"),
])
def test_wrong_types_are_422_naming_the_field(serve_client, body, field):
    client = serve_client("classification")
    error = _error(client.post("/v1/embeddings", json=body), 422)
    assert error["code"] == "invalid_request" and field in error["message"]


def test_malformed_json_and_odd_text(serve_client):
    client = serve_client("classification")
    error = _error(client.post("/v1/classify", content=b'{"texts": ["unclosed', headers={"content-type": "application/json"}), 422)
    assert error["code"] == "malformed_json"
    error = _error(client.post("/v1/classify", content=b'{"texts": ["\\ud800"]}', headers={"content-type": "application/json"}), 422)
    assert error["code"] == "invalid_input" and "texts[0]" in error["message"]
    reply = client.post("/v1/classify", content=b"\xff\xfe", headers={"content-type": "application/json"})
    assert reply.status_code == 422
    ok = client.post("/v1/classify", json={"texts": ["", " ", "\x00", "é" * 100, "😀 tea"]})
    assert ok.status_code == 200 and len(ok.json()["results"]) == 5


def test_inputs_the_model_cannot_take_are_422(serve_client):
    masked = serve_client("masked_lm", max_top_k=10)
    error = _error(masked.post("/v1/fill-mask", json={"texts": ["[MASK] tea", "no mask here"]}), 422)
    assert error["code"] == "invalid_input" and "texts[1]" in error["message"] and "[MASK]" in error["message"]
    error = _error(masked.post("/v1/fill-mask", json={"texts": ["[MASK]"], "top_k": 11}), 422)
    assert error["limit"] == "max_top_k"
    assert _error(masked.post("/v1/fill-mask", json={"texts": ["[MASK]"], "top_k": 0}), 422)["code"] == "invalid_request"

    pairs = serve_client("pair_classification")
    assert "text_pairs" in _error(pairs.post("/v1/classify", json={"texts": ["a"]}), 422)["message"]
    assert "one pair per text" in _error(pairs.post("/v1/classify", json={"texts": ["a"], "text_pairs": ["b", "c"]}), 422)["message"]
    single = serve_client("classification")
    assert "leave out text_pairs" in _error(single.post("/v1/classify", json={"texts": ["a"], "text_pairs": ["b"]}), 422)["message"]

    qa = serve_client("qa")
    error = _error(qa.post("/v1/question-answering", json={"questions": ["a", "b"], "contexts": ["c"]}), 422)
    assert "one context per question" in error["message"]
    long_question = " ".join(["tea"] * 80)  # leaves no room for the context at max_length 64
    error = _error(qa.post("/v1/question-answering", json={"questions": ["fine?", long_question],
                                                          "contexts": ["tea " * 40, "tea " * 40]}), 422)
    assert "questions[1]" in error["message"] and "max_length" in error["message"]


def test_api_key_guards_every_prediction_route(serve_client):
    key = "s3cret-key-for-tests"
    client = serve_client("masked_lm", api_key=key)
    for method, path, body in (("post", "/v1/embeddings", {"texts": ["tea"]}),
                               ("post", "/v1/fill-mask", {"texts": ["[MASK]"]}),
                               ("get", "/v1/model", None)):
        send = getattr(client, method)
        kwargs = {"json": body} if body is not None else {}
        assert _error(send(path, **kwargs), 401)["code"] == "unauthorized"
        assert send(path, headers={"X-API-Key": "wrong-key-123"}, **kwargs).status_code == 401
        assert send(path, headers={"X-API-Key": key}, **kwargs).status_code == 200
    # no key beats a bad body: a stranger learns nothing about the schema
    assert client.post("/v1/embeddings", content=b"{").status_code == 401
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert client.get(path).status_code == 200
    schema = client.get("/openapi.json").json()
    assert "X-API-Key" in json.dumps(schema["components"]["securitySchemes"])


def test_bad_serve_settings_exit_2_before_loading(model_dirs, capsys, tmp_path):
    assert main(["serve", str(model_dirs["classification"]), "--max-batch-size", "0"]) == 2
    assert "max_batch_size" in capsys.readouterr().err
    assert main(["serve", str(model_dirs["classification"]), "--api-key", "short"]) == 2
    assert "api_key" in capsys.readouterr().err
    assert main(["serve", str(tmp_path / "missing"), "--port", "0"]) == 2
    assert "no meta.json" in capsys.readouterr().err
