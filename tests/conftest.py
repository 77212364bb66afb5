import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from stub_server import StubLLMServer  # noqa: E402

CORPORA = Path(os.environ.get("DATAGEN_CORPORA", ROOT.parent / "shared" / "corpora"))


@pytest.fixture
def stub():
    """A running stub OpenAI-compatible server; script it with stub.enqueue / stub.default."""
    with StubLLMServer() as s:
        yield s


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own response cache, and no real key leaks into a test."""
    monkeypatch.setenv("DATAGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.fixture
def corpora() -> Path:
    if not CORPORA.is_dir():
        pytest.skip(f"shared corpora not found at {CORPORA}")
    return CORPORA


@pytest.fixture
def doc_folder(tmp_path, corpora) -> Path:
    """A folder of real documents, one each PDF, DOCX and HTML, and a truncated EPUB."""
    pytest.importorskip("pdfplumber")
    import shutil

    d = tmp_path / "in"
    d.mkdir()
    for name in ("self_instruct_README.pdf", "self_instruct_README.docx", "004_722e8f5d027ef2f0.html"):
        shutil.copy(corpora / "formats" / name, d / name)
    (d / "broken.epub").write_bytes(b"PK\x03\x04 truncated")
    return d


@pytest.fixture(scope="module")
def cluster():
    """A local 2-CPU Ray cluster for one test module, started and stopped here."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
