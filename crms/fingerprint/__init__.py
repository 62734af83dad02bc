"""crms.fingerprint: the fingerprint engine. Images in, templates and scores out.

The engine imports nothing from storage, access, records or the adapters (tests/fingerprint/
test_boundaries.py reads the imports), and everything outside it uses the engine through this module
only. Its nouns follow SourceAFIS's (image, template, extraction, matching, compatibility):

    from crms import fingerprint as fp

    image = fp.load_image(path_or_bytes, dpi=None)     # FingerImage: 8-bit grey, normalised to 500 ppi
    found = fp.extract_template(image)                  # Extraction: .template, .quality, .ms
    blob = fp.dumps(found.template)                     # CRMS template bytes (fp.loads reads them back)
    s = fp.score(found.template, other)                 # 1:1 score, about 10*log10(1/FMR)
    gallery = fp.pack([fp.prepare(t) for t in templates])
    scores = fp.score_many(fp.prepare(probe), gallery)  # one probe against many
    fp.iso_dumps(found.template)                        # ISO/IEC 19794-2:2005 record

1:N search runs over a ``Gallery`` (flat arrays, two-stage search). Batch extraction runs in worker
processes (``ExtractorPool``, ``extract_one``); ``evaluate_folder`` runs the FVC protocol; the
synthetic-fingerprint generator is re-exported from :mod:`.synthesis`.

Names are loaded on first use, so importing this module costs nothing: NumPy, OpenCV, numba, ONNX
Runtime and pyfing are imported only by the functions that need them.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> (module under crms.fingerprint, attribute)
_EXPORTS: dict[str, tuple[str, str]] = {
    # images
    "FingerImage": ("images", "FingerImage"),
    "ImageError": ("images", "ImageError"),
    "MAX_IMAGE_BYTES": ("images", "MAX_BYTES"),
    "IMAGE_SUFFIXES": ("images", "IMAGE_SUFFIXES"),
    "load_image": ("images", "load_image"),
    "decode_image": ("images", "decode"),
    "resample": ("images", "resample"),
    "DecoderStopped": (
        "sandbox",
        "SandboxStopped",
    ),  # a decode stopped from outside (SIGTERM), no fault of the file
    "list_images": ("images", "list_images"),
    "parse_dpi": ("images", "parse_dpi"),
    "MIN_DPI": ("images", "MIN_DPI"),
    "MAX_DPI": ("images", "MAX_DPI"),
    "choose_dpi": ("images", "choose_dpi"),
    "estimate_dpi": ("images", "estimate_dpi"),
    # quality
    "DEFAULT_ENROL_THRESHOLD": ("quality", "DEFAULT_ENROL_THRESHOLD"),
    "assess_quality": ("quality", "assess"),  # the web's quality check at capture time
    "check_enrolment": ("quality", "check_enrolment"),
    "enrolment_problems": ("quality", "enrolment_problems"),
    "enrolment_reason": ("quality", "enrolment_reason"),
    # templates and their formats
    "Template": ("template", "Template"),
    "TemplateError": ("serialise", "TemplateError"),
    "TEMPLATE_VERSION": ("serialise", "VERSION"),
    "TEMPLATE_MAGIC": ("serialise", "MAGIC"),
    "ISO_MAGIC": ("serialise", "ISO_MAGIC"),
    "dumps": ("serialise", "dumps"),
    "loads": ("serialise", "loads"),
    "save_template": ("serialise", "save_template"),
    "load_template": ("serialise", "load_template"),
    "is_template_file": ("serialise", "is_template_file"),
    "iso_dumps": ("serialise", "iso_dumps"),
    "iso_loads": ("serialise", "iso_loads"),
    # extraction
    "Extraction": ("extract", "Extraction"),
    "EXTRACTOR_CONFIG": ("extract", "DEFAULT_CONFIG"),
    "extract_template": ("extract", "extract"),
    "set_threads": ("extract", "set_threads"),
    "warm_extractor": ("extract", "warm"),
    "TraceFolder": ("extract", "TraceFolder"),
    "ExtractorPool": ("workers", "ExtractorPool"),
    "ExtractResult": ("workers", "ExtractResult"),
    "extract_one": ("workers", "extract_one"),
    "extract_many": ("workers", "extract_many"),
    # matching
    "PreparedTemplate": ("matcher", "PreparedTemplate"),
    "PackedGallery": ("matcher", "PackedGallery"),
    "prepare": ("matcher", "prepare"),
    "score": ("matcher", "score"),
    "score_many": ("matcher", "score_many"),
    "pack": ("matcher", "pack"),
    "explain": ("matcher", "explain"),
    "MatcherParams": ("params", "MatcherParams"),
    "warm_matcher": ("warmup", "warm_matcher"),
    "warm_matcher_via_child": ("warmup", "warm_matcher_via_child"),
    # 1:N identification
    "Gallery": ("gallery", "Gallery"),
    "GalleryError": ("gallery", "GalleryError"),
    "ProbeFinger": ("gallery", "ProbeFinger"),
    "check_position": ("gallery", "check_position"),
    "MIN_MINUTIAE": ("gallery", "MIN_MINUTIAE"),  # fewer and a finger cannot be searched (nor enrolled)
    "Candidate": ("gallery", "Candidate"),
    "SearchResult": ("gallery", "SearchResult"),
    "threshold_for_fpir": ("gallery", "threshold_for_fpir"),
    "decision_threshold": ("gallery", "decision_threshold"),
    "ImpostorProfile": ("impostors", "ImpostorProfile"),
    "impostor_profile_of": ("impostors", "profile_of"),
    "IMPOSTOR_PAIRS": ("impostors", "PAIRS"),  # pairs a gallery scores to measure its impostors
    "write_atomically": ("gallery", "write_atomically"),
    "ShardedGallery": ("shards", "ShardedGallery"),
    "gallery_from_environment": ("shards", "from_environment"),
    "MatcherPort": ("abis", "MatcherPort"),
    "BuiltinABIS": ("abis", "BuiltinABIS"),
    "run_identify_bench": ("identify_bench", "run"),
    # evaluation (FVC protocol)
    "Metrics": ("evaluation", "Metrics"),
    "compute_metrics": ("evaluation", "compute_metrics"),
    "evaluate_folder": ("evaluation", "evaluate_folder"),
    # synthesis
    "Master": ("synthesis", "Master"),
    "CLASSES": ("synthesis", "CLASSES"),
    "generate_master": ("synthesis", "generate_master"),
    "render_impression": ("synthesis", "render_impression"),
    "render_latent": ("synthesis", "render_latent"),
    "png_bytes": ("synthesis", "png_bytes"),
    "write_png": ("synthesis", "write_png"),
    "fvc_name": ("synthesis", "fvc_name"),
}

__all__ = sorted([*_EXPORTS, "engine_missing", "extractor_version", "synthesis"])

# What the extraction needs beyond the core install (the 'fingerprint' extra); module name -> package.
ENGINE_MODULES = {"pyfing": "pyfing", "h5py": "h5py", "onnx": "onnx", "onnxruntime": "onnxruntime"}


def engine_missing() -> str | None:
    """None when the extraction's libraries (the 'fingerprint' extra) are installed, else what is missing."""
    import importlib.util

    for mod, package in ENGINE_MODULES.items():
        if importlib.util.find_spec(mod) is None:
            return f"{package} is not installed (pip install -e '.[fingerprint]')"
    return None


def extractor_version() -> str:
    """What made a template: the extractor configuration and the template format version."""
    from crms.fingerprint.extract import DEFAULT_CONFIG
    from crms.fingerprint.serialise import VERSION

    return f"crms-{DEFAULT_CONFIG}/crmt{VERSION}"


def __getattr__(name: str) -> Any:
    if name == "synthesis":
        return importlib.import_module("crms.fingerprint.synthesis")
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'crms.fingerprint' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"crms.fingerprint.{module}"), attr)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
