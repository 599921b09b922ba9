"""A provider named in a filter by its id, its WedCloud name, its FOCUS ProviderName or its cloud,
on a real state store with two AWS accounts, an Azure sandbox and a Google Cloud account."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from control_plane.services.errors import InvalidRequest
from control_plane.services.provider_filters import focus_name, select_providers
from control_plane.store.models import Provider


@pytest.fixture
def session(sqlite_engine: Engine) -> Iterator[Session]:
    with Session(sqlite_engine) as session:
        session.add_all([
            Provider(kind="aws", name="prod-aws", regions=["eu-west-2"], settings={}),
            Provider(kind="aws", name="dev-aws", regions=["eu-west-2"], settings={}),
            Provider(kind="sandbox", name="sandbox-azure", regions=["uksouth"], settings={"flavour": "azure"}),
            Provider(kind="gcp", name="AWS", regions=["europe-west2"], settings={"project_id": "p"}),  # a poor name
        ])  # fmt: skip
        session.commit()
        yield session


def _key(session: Session, name: str) -> str:
    return next(str(p.id) for p in session.query(Provider) if p.name == name)


def test_a_provider_by_its_id_or_name_is_that_provider_alone(session: Session) -> None:
    prod = _key(session, "prod-aws")
    for value in ("prod-aws", prod, prod.upper()):
        chosen = select_providers(session, [value])
        assert (chosen.keys, chosen.named, chosen.focus_names) == ({prod}, {prod}, frozenset())
        assert chosen.cost_values == (prod,)  # costs: that source's rows only


def test_a_focus_name_or_cloud_is_every_provider_whose_bills_carry_it(session: Session) -> None:
    azure = _key(session, "sandbox-azure")
    for value in ("Microsoft", "microsoft", "azure", "Azure", " AZURE "):
        chosen = select_providers(session, [value])
        assert (chosen.keys, chosen.focus_names, chosen.cost_values) == ({azure}, {"Microsoft"}, ("Microsoft",))
    both = {_key(session, "prod-aws"), _key(session, "dev-aws")}
    assert select_providers(session, ["aws"]).keys == both
    google = select_providers(session, ["gcp"])
    assert google.focus_names == {"Google Cloud"}
    assert google.keys == {_key(session, "AWS")}  # the Google account its owner named "AWS"


def test_a_wedcloud_name_wins_over_the_focus_name_it_equals(session: Session) -> None:
    assert select_providers(session, ["AWS"]).keys == {_key(session, "AWS")}


def test_names_the_data_holds_are_known_too(session: Session) -> None:
    oracle = select_providers(session, ["oracle"], data_names=["Oracle"])
    assert (oracle.keys, oracle.cost_values) == (frozenset(), ("Oracle",))
    legacy = select_providers(session, ["old-aws"], data_keys=["old-aws", _key(session, "dev-aws")])
    assert legacy.keys == {"old-aws"}


def test_an_unknown_value_is_refused_naming_the_field_and_listing_the_known_values(session: Session) -> None:
    with pytest.raises(InvalidRequest) as refused:
        select_providers(session, ["prod-aws", "Amazon"], field="scope.provider", location="body")
    problem = refused.value
    assert problem.extra["errors"] == [
        {"location": "body", "field": "scope.provider", "type": "unknown_provider",
         "message": "unknown provider 'Amazon': name one by id, WedCloud name, FOCUS ProviderName or cloud"},
    ]  # fmt: skip
    known = problem.extra["known"]
    assert known[:4] == ["AWS", "dev-aws", "prod-aws", "sandbox-azure"]
    assert _key(session, "prod-aws") in known
    assert known[-6:] == ["AWS", "Google Cloud", "Microsoft", "aws", "azure", "gcp"]
    assert "'Amazon'" in problem.detail


def test_each_cloud_and_sandbox_flavour_has_its_focus_name(session: Session) -> None:
    names = {p.name: focus_name(p) for p in session.query(Provider)}
    assert names == {"prod-aws": "AWS", "dev-aws": "AWS", "sandbox-azure": "Microsoft", "AWS": "Google Cloud"}
