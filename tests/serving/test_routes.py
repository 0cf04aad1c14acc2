"""Every prediction route answers what the model computes for that input alone (batching changes nothing)."""

import numpy as np
import pytest
import torch

from warmstart.evaluation.evaluate import load_inference_model

TEXTS = [  # different lengths, so a batch needs padding
    "The tea was fresh.",
    "This coffee arrived stale and the package was torn, so I will not buy it again.",
    "Great cookie!",
    "The sauce tastes bitter and the bread was bad, but the price was good for a bag of this size.",
    "Love it.",
    "The dog loves these treats and asks for them every morning and every night.",
]


def _forward(model, encoding):
    ids = torch.tensor([encoding.ids])
    types = torch.tensor([encoding.type_ids])
    with torch.no_grad():
        return model(ids, torch.ones_like(ids), types)


def _softmax(x):
    return torch.softmax(torch.as_tensor(x), -1).numpy()


def test_classify_gives_each_texts_own_probabilities(serve_client, model_dirs):
    client = serve_client("classification")
    reply = client.post("/v1/classify", json={"texts": TEXTS})
    assert reply.status_code == 200, reply.text
    loaded = load_inference_model(model_dirs["classification"])
    for text, result in zip(TEXTS, reply.json()["results"]):
        expected = _softmax(_forward(loaded.model, loaded.tokenizer.tokenizer.encode(text))[0])
        assert list(result["probabilities"]) == ["bad", "good", "meh"]
        np.testing.assert_allclose(list(result["probabilities"].values()), expected, atol=1e-5)
        assert result["label"] == loaded.labels[int(expected.argmax())]
        assert result["score"] == pytest.approx(float(expected.max()), abs=1e-5)
        assert result["truncated"] is False and "value" not in result


def test_long_text_is_truncated_and_says_so(serve_client):
    reply = serve_client("classification").post("/v1/classify", json={"texts": ["tea " * 500]})
    assert reply.status_code == 200 and reply.json()["results"][0]["truncated"] is True


def test_pair_classification_uses_both_texts(serve_client, model_dirs):
    client = serve_client("pair_classification")
    reply = client.post("/v1/classify", json={"texts": TEXTS[:3], "text_pairs": TEXTS[3:]})
    assert reply.status_code == 200, reply.text
    loaded = load_inference_model(model_dirs["pair_classification"])
    for a, b, result in zip(TEXTS[:3], TEXTS[3:], reply.json()["results"]):
        expected = _softmax(_forward(loaded.model, loaded.tokenizer.tokenizer.encode(a, b))[0])
        np.testing.assert_allclose(list(result["probabilities"].values()), expected, atol=1e-5)


def test_regression_and_multilabel(serve_client, model_dirs):
    for kind in ("regression", "multilabel"):
        reply = serve_client(kind).post("/v1/classify", json={"texts": TEXTS[:2]})
        assert reply.status_code == 200, reply.text
        loaded = load_inference_model(model_dirs[kind])
        for text, result in zip(TEXTS, reply.json()["results"]):
            logits = _forward(loaded.model, loaded.tokenizer.tokenizer.encode(text))[0]
            if kind == "regression":
                assert result["value"] == pytest.approx(float(logits[0]), abs=1e-5) and "label" not in result
            else:
                probs = torch.sigmoid(logits).numpy()
                np.testing.assert_allclose(list(result["probabilities"].values()), probs, atol=1e-5)
                assert result["labels"] == [n for n, p in zip(loaded.labels, probs) if p > 0.5]


@pytest.mark.parametrize("kind", ["masked_lm", "classification", "qa"])
def test_embeddings_are_mean_pooled_and_optionally_normalised(serve_client, model_dirs, kind):
    client = serve_client(kind)
    plain = client.post("/v1/embeddings", json={"texts": TEXTS[:3]}).json()
    unit = client.post("/v1/embeddings", json={"texts": TEXTS[:3], "normalize": True}).json()
    assert plain["dimensions"] == 32 and len(plain["embeddings"]) == 3
    loaded = load_inference_model(model_dirs[kind])
    encoder = loaded.model if kind == "masked_lm" else loaded.model.bert
    for text, vector, normalised in zip(TEXTS, plain["embeddings"], unit["embeddings"]):
        expected = _forward(encoder, loaded.tokenizer.tokenizer.encode(text))[0].mean(0).numpy()
        np.testing.assert_allclose(vector, expected, atol=1e-5)
        np.testing.assert_allclose(normalised, expected / np.linalg.norm(expected), atol=1e-5)


def test_fill_mask_top_k_per_mask(serve_client, model_dirs):
    client = serve_client("masked_lm")
    texts = ["the tea was [MASK] and fresh", "[MASK] coffee [MASK]"]
    reply = client.post("/v1/fill-mask", json={"texts": texts, "top_k": 3})
    assert reply.status_code == 200, reply.text
    results = reply.json()["results"]
    assert [len(r) for r in results] == [1, 2] and all(len(c) == 3 for r in results for c in r)
    loaded = load_inference_model(model_dirs["masked_lm"])
    special = set(np.flatnonzero(loaded.tokenizer.special_mask))
    encoding = loaded.tokenizer.tokenizer.encode(texts[0])
    position = encoding.ids.index(loaded.tokenizer.mask_id)
    with torch.no_grad():
        logits = loaded.model.mlm_logits(_forward(loaded.model, encoding)[0, position])
    logits[list(special)] = float("-inf")
    top = torch.softmax(logits, -1).topk(3)
    got = results[0][0]
    assert [c["token_id"] for c in got] == top.indices.tolist()
    np.testing.assert_allclose([c["score"] for c in got], top.values.numpy(), atol=1e-5)
    assert all(c["token"] == loaded.tokenizer.tokenizer.id_to_token(c["token_id"]) for c in got)
    assert not {c["token_id"] for r in results for cands in r for c in cands} & special


def test_token_classification_tags_words_and_groups_entities(serve_client, model_dirs):
    client = serve_client("token_classification")
    text = "Fresh  bread and bitter coffee arrived"
    reply = client.post("/v1/token-classification", json={"texts": [text, ""]})
    assert reply.status_code == 200, reply.text
    first, empty = reply.json()["results"]
    assert empty == {"entities": [], "words": [], "truncated": False}
    words = text.split()
    assert [w["word"] for w in first["words"]] == words
    assert all(text[w["start"]:w["end"]] == w["word"] for w in first["words"])
    loaded = load_inference_model(model_dirs["token_classification"])
    encoding = loaded.tokenizer.tokenizer.encode(words, is_pretokenized=True)
    probs = torch.softmax(_forward(loaded.model, encoding)[0], -1)
    firsts = [encoding.word_ids.index(i) for i in range(len(words))]
    assert [w["tag"] for w in first["words"]] == [loaded.labels[int(probs[p].argmax())] for p in firsts]
    for entity in first["entities"]:
        assert text[entity["start"]:entity["end"]] == entity["text"] and entity["entity"] == "FOOD"


def test_entities_follow_bio_tags():
    from warmstart.serving.predictor import group_entities

    text = "fresh bread and bitter dark coffee"
    spans = [(0, 5), (6, 11), (12, 15), (16, 22), (23, 27), (28, 34)]
    tags = ["B-FOOD", "I-FOOD", "O", "B-TASTE", "I-FOOD", "I-FOOD"]
    tagged = [{"word": text[s:e], "start": s, "end": e, "tag": t, "score": 0.5} for (s, e), t in zip(spans, tags)]
    assert [(e["entity"], e["text"]) for e in group_entities(text, tagged)] == [
        ("FOOD", "fresh bread"), ("TASTE", "bitter"), ("FOOD", "dark coffee")]


def test_question_answering_returns_a_span_of_the_context(serve_client, model_dirs):
    from warmstart.data.encoding import qa_feature, qa_windows
    from warmstart.evaluation.predict import best_span

    client = serve_client("qa")
    long_context = " ".join(TEXTS)  # several windows at max_length 64
    questions, contexts = ["What arrived?", "Who spoke?"], ["The coffee arrived fresh.", long_context]
    reply = client.post("/v1/question-answering", json={"questions": questions, "contexts": contexts})
    assert reply.status_code == 200, reply.text
    loaded = load_inference_model(model_dirs["qa"])
    for question, context, answer in zip(questions, contexts, reply.json()["results"]):
        assert answer["answer"] == context[answer["start"]:answer["end"]] and 0 <= answer["score"] <= 1
        windows, _ = qa_windows(loaded.tokenizer, [question], [context], ["q"], 64, 16)
        features = [qa_feature(w, 0) for w in windows[0]]
        outputs = [tuple(t[0].numpy() for t in _forward(loaded.model, w)) for w in windows[0]]
        start, end, probability = best_span(features, outputs)
        assert (answer["start"], answer["end"]) == (start, end)
        assert answer["score"] == pytest.approx(probability, abs=1e-5)


def test_routes_follow_the_model_kind(serve_client):
    expected = {
        "classification": ["/v1/classify", "/v1/embeddings"],
        "token_classification": ["/v1/embeddings", "/v1/token-classification"],
        "qa": ["/v1/embeddings", "/v1/question-answering"],
        "masked_lm": ["/v1/fill-mask", "/v1/embeddings"],
    }
    for kind, routes in expected.items():
        client = serve_client(kind)
        info = client.get("/v1/model").json()
        assert info["kind"] == kind and info["routes"] == routes
        assert info["limits"]["max_texts_per_request"] == 64
        missing = client.post("/v1/fill-mask" if kind != "masked_lm" else "/v1/classify", json={"texts": ["x"]})
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_health_metrics_and_docs(serve_client):
    client = serve_client("classification")
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    for _ in range(3):
        client.post("/v1/classify", json={"texts": ["good tea"]})
    client.post("/v1/classify", json={"texts": []})
    client.get("/no/such/path")
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'warmstart_requests_total{route="/v1/classify",status="200"} 3.0' in text
    assert 'warmstart_requests_total{route="/v1/classify",status="422"} 1.0' in text
    assert 'warmstart_requests_total{route="other",status="404"} 1.0' in text
    assert 'warmstart_request_duration_seconds_count{route="/v1/classify"} 4.0' in text
    assert 'warmstart_batch_size_count{route="classify"} 3.0' in text
    schema = client.get("/openapi.json").json()
    assert {"/v1/classify", "/v1/embeddings", "/healthz", "/readyz", "/metrics"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 200
