import pytest

from assistant.uploads import UploadError, discard, safe_name, save_uploads


@pytest.mark.parametrize("name, expected", [
    ("../../evil.txt", "evil.txt"),
    ("/etc/cron.d/job.txt", "job.txt"),
    ("..\\..\\windows\\evil.md", "evil.md"),
    ("Plan för Ale 2019.PDF", "Plan-för-Ale-2019.pdf"),
    ("....txt", "document.txt"),
])
def test_safe_names_stay_in_the_folder(name, expected):
    assert safe_name(name) == expected


def test_uploads_land_in_the_corpus_folder_only(tmp_path):
    corpus = tmp_path / "corpus"
    saved = save_uploads(corpus, [("../../evil.txt", b"ond"), ("sub/dir/plan.txt", b"plan")])
    assert [s.stored for s in saved] == ["evil.txt", "plan.txt"]
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["evil.txt", "plan.txt"]
    assert all(p.parent == corpus for p in tmp_path.rglob("*.txt"))


def test_existing_files_are_never_overwritten(tmp_path):
    first = save_uploads(tmp_path, [("a.txt", b"one")])[0]
    same = save_uploads(tmp_path, [("a.txt", b"one")])[0]
    other = save_uploads(tmp_path, [("a.txt", b"two")])[0]
    assert (first.stored, first.created) == ("a.txt", True)
    assert (same.stored, same.created) == ("a.txt", False)
    assert (other.stored, other.created) == ("a-2.txt", True)
    discard(tmp_path, same)  # an upload that only matched an existing file removes nothing
    assert (tmp_path / "a.txt").read_bytes() == b"one"
    discard(tmp_path, other)
    assert not (tmp_path / "a-2.txt").exists()


def test_unsupported_upload_is_refused():
    with pytest.raises(UploadError, match="unsupported file type"):
        safe_name("script.sh")
