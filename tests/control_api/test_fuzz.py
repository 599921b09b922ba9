"""Schemathesis over every operation of the API (in process, on a world like the demo's):
examples, fuzzing and the stateful phase, every check, seeded and short. The long run is
``benchmarks/fuzz.py``."""

from __future__ import annotations

import pytest

from tests.control_api.fuzzing import Totals, build_world, run

# What the API must never do, whatever it is sent: answer 500, answer something its document
# does not describe (a status, a content type, a body, a header), or misstate Allow on a 405.
MUST_NOT_FAIL = (
    "content_type_conformance",
    "response_schema_conformance",
    "status_code_conformance",
    "response_headers_conformance",
    "allow_header_conformance",
)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Totals:
    settings, key = build_world(tmp_path_factory.mktemp("fuzz") / "home")
    return run(settings, key, max_examples=2, phases=("examples", "fuzzing", "stateful"))


@pytest.mark.slow
def test_fuzzing_reaches_every_operation_and_no_request_answers_500(fuzzed: Totals) -> None:
    assert not fuzzed.errors, fuzzed.errors
    assert len(fuzzed.operations) >= 35, sorted(fuzzed.operations)
    assert fuzzed.server_errors.get(500, 0) == 0, (fuzzed.summary(), fuzzed.examples.get("not_a_server_error"))


@pytest.mark.slow
@pytest.mark.parametrize("check", MUST_NOT_FAIL)
def test_fuzzing_finds_every_answer_as_the_openapi_document_says(fuzzed: Totals, check: str) -> None:
    assert fuzzed.failures[check] == 0, (fuzzed.summary(), fuzzed.examples.get(check))
