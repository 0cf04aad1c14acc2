"""Property-based fuzz of the OpenAPI schema (schemathesis + hypothesis): valid and invalid requests
for every operation, never a 5xx; 2xx answers match the documented response schema.

Bounded: ``EXAMPLES`` cases per operation, generation mode and model kind. (The strategies are
driven with hypothesis directly rather than through schemathesis' pytest plugin, whose lazy
fixture loader does not work with this pytest.)
"""

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402  (schemathesis brings hypothesis)

EXAMPLES = 25


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["classification", "pair_classification", "token_classification", "qa", "masked_lm"])
def test_no_server_errors_for_any_request(model_dirs, kind):
    from warmstart.serving.app import create_app
    from warmstart.serving.limits import ServeSettings
    from warmstart.serving.predictor import load_predictor

    app = create_app(load_predictor(model_dirs[kind]),
                     ServeSettings(max_texts_per_request=8, max_chars_per_text=500, max_body_bytes=20_000))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/healthz", "/readyz", "/metrics", "/v1/model", "/v1/embeddings"}
    seen: dict[int, int] = {}
    for operation in operations:
        modes = [schemathesis.GenerationMode.POSITIVE]
        if operation.method.lower() == "post":  # a GET without parameters has nothing to get wrong
            modes.append(schemathesis.GenerationMode.NEGATIVE)
        for mode in modes:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            def check(case):
                response = case.call()
                seen[response.status_code] = seen.get(response.status_code, 0) + 1
                assert response.status_code < 500, (
                    f"{case.method} {case.path} body={case.body!r} -> {response.status_code} {response.text}")
                if response.status_code < 300:
                    case.validate_response(response, checks=[schemathesis.checks.response_schema_conformance])

            check()
    assert seen.get(200, 0) > 0 and seen.get(422, 0) > 0, seen  # both valid and invalid requests were made
