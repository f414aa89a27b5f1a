"""PDF, DOCX and HTML made by the tests themselves, and the bad files municipalities send."""

import io

import docx
import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from assistant.documents import DocumentError, load_document
from assistant.render import where


def make_pdf(pages: list[str]) -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def test_two_page_pdf_is_cited_with_page_2(small_assistant, small_corpus):
    pages = ["Integrationsplan för Borås stad 2024. Planen beskriver mottagandet av nyanlända.",
             "Borås stad erbjuder språkcafé för nyanlända varje tisdag i stadsbiblioteket."]
    (small_corpus / "boras-plan.pdf").write_bytes(make_pdf(pages))
    report = small_assistant.index()
    assert "boras-plan.pdf" in report.added
    answer = small_assistant.ask("När har Borås språkcafé för nyanlända?")
    cited = [c for c in answer.citations if c.passage.source == "boras-plan.pdf"]
    assert cited and "språkcafé" in cited[0].quote and cited[0].passage.page == 2
    assert where(cited[0].passage, "sv") == "boras-plan.pdf, sida 2"
    # every quote of the PDF is cited with the page it stands on
    assert all(c.quote in pages[c.passage.page - 1] for c in cited), [
        (c.passage.page, c.quote) for c in cited]


def test_docx_paragraphs_and_headings(tmp_path):
    document = docx.Document()
    document.add_heading("Integrationsprogram för Ale", level=1)
    document.add_paragraph("Inledning om kommunens arbete.")
    document.add_heading("Arbetsmarknad", level=2)
    document.add_paragraph("Ale kommun erbjuder yrkessvenska tillsammans med praktik.")
    path = tmp_path / "ale.docx"
    document.save(path)
    loaded = load_document(path, "ale.docx")
    assert loaded.title == "Integrationsprogram för Ale"
    assert "yrkessvenska tillsammans med praktik" in loaded.text
    sections = {s.section for s in loaded.segments}
    assert "Arbetsmarknad" in sections


def test_html_main_text_without_menus_and_scripts(tmp_path):
    html = """<html><head><title>SFI i Lund</title><script>var tracking = 'SPÅRNING';</script></head>
    <body><nav><ul><li>Startsida</li><li>Kontakta oss</li><li>Menyval</li></ul></nav>
    <article><h1>SFI i Lund</h1>
    <p>Svenska för invandrare i Lund ges på dagtid och kvällstid i Kunskapshuset vid Stortorget.</p>
    <p>Den som är folkbokförd i Lund och saknar grundläggande kunskaper i svenska kan söka.</p>
    <p>Ansökan görs hos vuxenutbildningens vägledare som också hjälper till med studieplanen.</p>
    </article><footer>Cookies och integritet</footer></body></html>"""
    path = tmp_path / "sfi-lund.html"
    path.write_text(html, encoding="utf-8")
    loaded = load_document(path, "sfi-lund.html")
    assert "Kunskapshuset vid Stortorget" in loaded.text
    assert "SPÅRNING" not in loaded.text and "tracking" not in loaded.text
    assert "Menyval" not in loaded.text
    assert loaded.title == "SFI i Lund"


def _encrypted_pdf() -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["Hemlig plan."]))))
    writer.encrypt("hemligt")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_encrypted_pdf(tmp_path):
    path = tmp_path / "hemlig.pdf"
    path.write_bytes(_encrypted_pdf())
    with pytest.raises(DocumentError, match="encrypted PDF"):
        load_document(path, "hemlig.pdf")


def test_corrupt_pdf(tmp_path):
    path = tmp_path / "trasig.pdf"
    path.write_bytes(make_pdf(["Text som försvinner."])[:200])
    with pytest.raises(DocumentError) as err:
        load_document(path, "trasig.pdf")
    assert err.value.reason.startswith(("corrupt PDF", "scanned PDF"))
    path.write_bytes(b"%PDF-1.4\n this is not a pdf at all \x00\x01")
    with pytest.raises(DocumentError, match="corrupt PDF"):
        load_document(path, "trasig.pdf")


def test_pdf_without_text_layer(tmp_path):
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60, style="F")  # what a scan looks like to a text extractor
    path = tmp_path / "skannad.pdf"
    path.write_bytes(bytes(pdf.output()))
    with pytest.raises(DocumentError, match="scanned PDF, no text layer"):
        load_document(path, "skannad.pdf")


def test_bad_files_leave_earlier_answers_unchanged(small_assistant, small_corpus):
    small_assistant.index()
    before = small_assistant.ask("Vad gjorde Gladsaxe med jobbpakker?")
    (small_corpus / "trasig.pdf").write_bytes(b"%PDF-1.4\n garbage")
    (small_corpus / "skannad.pdf").write_bytes(_scanned_pdf())
    (small_corpus / "stor.txt").write_text("ord " * 400_000, encoding="utf-8")
    (small_corpus / "hemlig.pdf").write_bytes(_encrypted_pdf())
    (small_corpus / "tom.txt").write_bytes(b"")
    (small_corpus / "bild.txt").write_bytes(bytes(range(256)) * 40)
    settings = small_assistant.settings.model_copy(update={"max_file_mb": 1.0})
    from assistant.pipeline import Assistant

    report = Assistant(settings, embedder=small_assistant.embedder).index()
    reasons = {s["path"]: s["reason"] for s in report.skipped}
    assert reasons["trasig.pdf"].startswith("corrupt PDF")
    assert reasons["skannad.pdf"] == "scanned PDF, no text layer"
    assert "over the limit of 1.0 MB" in reasons["stor.txt"]
    assert reasons["hemlig.pdf"] == "encrypted PDF (password protected)"
    assert reasons["tom.txt"] == "empty file"
    assert reasons["bild.txt"].startswith("binary file")
    assert report.embedded_chunks == 0
    after = small_assistant.ask("Vad gjorde Gladsaxe med jobbpakker?")
    assert after.text == before.text
    assert [p.chunk_id for p in after.passages] == [p.chunk_id for p in before.passages]


def _scanned_pdf() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(10, 10, 50, 50, style="F")
    return bytes(pdf.output())
