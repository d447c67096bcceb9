"""The configuration reference (docs/reference/configuration.md) is generated from the
typed model: it covers every field, and it is never out of date."""

from __future__ import annotations

import pytest

from settings import reference


def test_the_committed_reference_is_what_the_model_generates() -> None:
    assert reference.PAGE.read_text() == reference.render(), "run `make docs` and commit the page"


def test_a_changed_description_makes_the_committed_page_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: change one field's description, as an edit of the model
    would, and the committed page no longer matches."""
    from settings.service.kinds.jobs import BatchJobSpec

    field = BatchJobSpec.model_fields["schedule"]
    monkeypatch.setattr(field, "description", "A description nobody regenerated the page for.")
    page = reference.render()
    assert "A description nobody regenerated the page for." in page
    assert page != reference.PAGE.read_text()
    monkeypatch.setattr(reference, "render", lambda: page)
    assert reference.main(["--check"]) == 1


def test_every_field_of_every_model_has_a_described_row() -> None:
    page = reference.render()
    for key, model in reference.all_models().items():
        title = f"{key}:<key>" if key == "platform" else key
        section = page.split(f"### `{title}`\n", 1)[1].split("\n### ", 1)[0]
        for name, field in model.model_fields.items():
            assert field.description, f"{key}.{name} has no description"
            assert f"| `{field.alias or name}` |" in section, f"{key}.{name} is missing from its section"


def test_every_rule_and_secret_key_is_listed() -> None:
    from settings.loader import SECRET_KEYS
    from settings.platform import ENVIRONMENT_RULES

    page = reference.render()
    for key in SECRET_KEYS:
        assert f"`platform:{key}`" in page
    for rules in ENVIRONMENT_RULES.values():
        for rule in rules:
            # The page prints each docstring on one line (reference._cell).
            assert rule.__doc__ and " ".join(rule.__doc__.split()) in page
    assert "Job names are unique within the service." in page


def test_a_rule_without_a_docstring_stops_the_generator() -> None:
    def undocumented() -> None:
        pass

    with pytest.raises(ValueError, match="has no docstring"):
        reference.inspect_doc(undocumented)


def test_the_committed_bootstrap_reference_is_what_its_model_generates() -> None:
    assert reference.BOOTSTRAP_PAGE.read_text() == reference.render_bootstrap(), "run `make docs` and commit the page"


def test_every_bootstrap_field_is_described_and_every_rule_and_secret_listed() -> None:
    from settings.bootstrap.config import SECRET_KEYS, BootstrapSettings

    page = reference.render_bootstrap()
    for key, model in reference.all_models(BootstrapSettings, "bootstrap").items():
        title = f"{key}:<key>" if key == "bootstrap" else key
        section = page.split(f"### `{title}`\n", 1)[1].split("\n### ", 1)[0]
        for name, field in model.model_fields.items():
            assert field.description, f"{key}.{name} has no description"
            assert f"| `{field.alias or name}` |" in section, f"{key}.{name} is missing from its section"
    for key in SECRET_KEYS:
        assert f"`bootstrap:{key}`" in page


def test_a_stale_bootstrap_page_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reference, "render_bootstrap", lambda: "# a page nobody regenerated\n")
    assert reference.main(["--check"]) == 1
