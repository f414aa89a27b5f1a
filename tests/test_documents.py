import pytest

from assistant.catalog import CatalogEntry, CatalogError, load_catalog
from assistant.documents import DocumentError, load_document

from .conftest import UNDECODABLE

TEXT = "Integrationsstrategi för Växjö\n\nNyanlända får stöd på svenska och på arbetsmarknaden."


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1252"])
def test_text_in_common_encodings_is_decoded(tmp_path, encoding):
    path = tmp_path / "doc.txt"
    path.write_bytes(TEXT.encode(encoding))
    document = load_document(path, "doc.txt")
    assert document.text == TEXT
    assert document.title == "Integrationsstrategi för Växjö"


def test_empty_file_is_named(tmp_path):
    path = tmp_path / "tom.txt"
    path.write_bytes(b"  \n")
    with pytest.raises(DocumentError) as err:
        load_document(path, "tom.txt")
    assert err.value.source == "tom.txt" and err.value.reason == "empty file"


def test_binary_file_renamed_txt_is_refused(tmp_path):
    path = tmp_path / "bild.txt"
    path.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(DocumentError) as err:
        load_document(path, "bild.txt")
    assert "binary file" in err.value.reason


def test_undecodable_text_is_refused(tmp_path):
    path = tmp_path / "trasig.txt"
    path.write_bytes(UNDECODABLE)
    with pytest.raises(DocumentError) as err:
        load_document(path, "trasig.txt")
    assert err.value.reason.startswith("undecodable text")


def test_file_over_size_limit(tmp_path):
    path = tmp_path / "stor.txt"
    path.write_text("ord " * 1000, encoding="utf-8")
    with pytest.raises(DocumentError, match="over the limit"):
        load_document(path, "stor.txt", max_bytes=100)


def test_catalog_title_wins_and_file_name_is_the_fallback(tmp_path):
    path = tmp_path / "integrationsplan-ale-2019.txt"
    path.write_text("12345\n\nText om integration i Ale kommun.", encoding="utf-8")
    assert load_document(path, path.name).title == "Integrationsplan ale 2019"
    entry = CatalogEntry(title="Integrationsplan för Ale kommun", organisation="Ale kommun")
    document = load_document(path, path.name, entry)
    assert document.title == "Integrationsplan för Ale kommun"
    assert document.organisation == "Ale kommun"


def test_broken_catalog_names_its_file(tmp_path):
    (tmp_path / "catalog.toml").write_text('["a.txt"]\ntitle = "x"\ncolour = "red"\n')
    with pytest.raises(CatalogError, match="catalog.toml.*colour"):
        load_catalog(tmp_path)
    (tmp_path / "catalog.toml").write_text("not = [valid")
    with pytest.raises(CatalogError, match="not valid TOML"):
        load_catalog(tmp_path)
