"""The API fixture of tests/control_api (a temporary home, one key per role), for the tests here
that drive deployments through the API."""

from tests.control_api.conftest import api as api  # a fixture: pytest finds it by its name
