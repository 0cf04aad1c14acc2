"""The image route: PNG/JPEG uploads (multipart or base64 JSON) get the classifier's probabilities; non-images,
over-size images and wrong channel counts get a 4xx that says what is wrong."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from image_models import LABELS, image_classifier_checkpoint

SIZE = 16


@pytest.fixture(scope="module")
def image_model(tmp_path_factory):
    return image_classifier_checkpoint(tmp_path_factory.mktemp("image-model") / "best", "resnet", channels=1, size=SIZE)


@pytest.fixture()
def client(image_model):
    from fastapi.testclient import TestClient

    from warmstart.serving.app import create_app
    from warmstart.serving.limits import ServeSettings
    from warmstart.serving.predictor import load_predictor

    def make(**settings):
        c = TestClient(create_app(load_predictor(image_model), ServeSettings(**settings)))
        c.__enter__()
        made.append(c)
        return c

    made = []
    yield make
    for c in made:
        c.__exit__(None, None, None)


def _gray(seed: int, size: int = SIZE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 60, (size, size))
    k = int(rng.integers(0, size // 2))
    x[k : k + size // 3, :] += 190
    return np.clip(x, 0, 255).astype(np.uint8)


def _encode(array: np.ndarray, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format=fmt)
    return out.getvalue()


def _expected(image_model, arrays) -> np.ndarray:
    from warmstart.evaluation.image_predict import classify, load_classifier

    return classify(load_classifier(image_model), np.stack([a[None] for a in arrays]))


def test_multipart_and_base64_json_give_the_models_probabilities(client, image_model):
    c = client()
    arrays = [_gray(i) for i in range(3)]
    files = [("file", (f"{i}.png", _encode(a), "image/png")) for i, a in enumerate(arrays)]
    reply = c.post("/v1/classify-image", files=files)
    assert reply.status_code == 200, reply.text
    expected = _expected(image_model, arrays)
    for result, p in zip(reply.json()["results"], expected):
        assert list(result["probabilities"]) == LABELS
        np.testing.assert_allclose(list(result["probabilities"].values()), p, atol=1e-5)
        assert result["label"] == LABELS[int(p.argmax())] and result["score"] == pytest.approx(float(p.max()), abs=1e-5)
    as_json = c.post("/v1/classify-image", json={"images": [base64.b64encode(_encode(a)).decode() for a in arrays]})
    assert as_json.status_code == 200, as_json.text
    assert as_json.json() == reply.json()
    info = c.get("/v1/model").json()
    assert info["kind"] == "image_classification" and info["routes"] == ["/v1/classify-image"]
    assert info["image"] == {"channels": 1, "size": SIZE}
    assert c.post("/v1/classify", json={"texts": ["a"]}).status_code == 404  # no text routes for an image model


def test_jpeg_and_other_sizes_are_resized_as_in_training(client, image_model):
    c = client()
    big = _gray(7, size=40)
    reply = c.post("/v1/classify-image", files={"file": ("big.jpg", _encode(big, "JPEG"), "image/jpeg")})
    assert reply.status_code == 200, reply.text
    decoded = np.asarray(Image.open(io.BytesIO(_encode(big, "JPEG"))).convert("L").resize((SIZE, SIZE), Image.Resampling.BILINEAR))
    np.testing.assert_allclose(list(reply.json()["results"][0]["probabilities"].values()),
                               _expected(image_model, [decoded])[0], atol=1e-5)


def _error(reply, status: int, code: str, *words: str) -> dict:
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["code"] == code, error
    for word in words:
        assert word in error["message"], error["message"]
    return error


def test_bad_uploads_get_a_clear_4xx(client):
    c = client(max_image_bytes=20_000, max_image_pixels=64 * 64, max_images_per_request=2)
    png = _encode(_gray(0))
    _error(c.post("/v1/classify-image", files={"file": ("notes.txt", b"hello, not an image", "text/plain")}),
           415, "unsupported_media_type", "notes.txt", "not a PNG or JPEG")
    _error(c.post("/v1/classify-image", json={"images": [base64.b64encode(b"GIF89a....").decode()]}),
           415, "unsupported_media_type", "images[0]")
    _error(c.post("/v1/classify-image", json={"images": ["***not base64***"]}), 422, "invalid_input", "base64")
    rgb = np.stack([_gray(1)] * 3, axis=-1)
    _error(c.post("/v1/classify-image", files={"file": ("rgb.png", _encode(rgb), "image/png")}),
           422, "invalid_input", "3 channels", "1 channel")
    error = _error(c.post("/v1/classify-image", files={"file": ("huge.png", _encode(_gray(2, size=100)), "image/png")}),
                   413, "limit_exceeded", "max_image_pixels", "100x100")
    assert error["maximum"] == 64 * 64 and error["got"] == 100 * 100
    noise = np.random.default_rng(0).integers(0, 256, (60, 60)).astype(np.uint8)  # ~3.6 kB of incompressible pixels
    c2 = client(max_image_bytes=1_000)
    _error(c2.post("/v1/classify-image", files={"file": ("noise.png", _encode(noise), "image/png")}),
           413, "limit_exceeded", "max_image_bytes")
    _error(c.post("/v1/classify-image", files=[("file", (f"{i}.png", png, "image/png")) for i in range(3)]),
           413, "limit_exceeded", "max_images_per_request")
    _error(c.post("/v1/classify-image", files={"file": ("cut.png", png[: len(png) // 2], "image/png")}),
           422, "invalid_input", "truncated or corrupt")
    _error(c.post("/v1/classify-image", json={"pictures": []}), 422, "invalid_request")
    _error(c.post("/v1/classify-image", content=b"raw", headers={"content-type": "text/plain"}),
           415, "unsupported_media_type", "multipart/form-data")
    # the server still answers good requests afterwards
    assert c.post("/v1/classify-image", files={"file": ("ok.png", png, "image/png")}).status_code == 200
