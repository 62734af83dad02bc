"""The services' own messages in the pages' catalogue: a Babel extraction method (``babel.cfg``) that takes,
besides the messages the web code marks (``_``, ``N_``), every message a service raises in plain words:
the first argument of a :class:`crms.errors.CrmsError` (``ValidationError("PIN must be 4-8 digits")``)
when it is a string as written, or words after the name of what they are about (``f"{name}: the file is
empty"``), not one built from values otherwise (an f-string, a ``%`` or a ``+``). Those are said in the
page's language (the ``message`` macro of forms.html, the message page); a message built from values stays
the service's English words on the pages, unless its rule has a kind the pages word themselves
(:data:`crms.errors.RULE_KINDS`).

The services know nothing of languages: the catalogue is the web's, and the API answers in English."""

from __future__ import annotations

import ast
import io
from collections.abc import Collection, Iterator, Mapping
from typing import IO, Any

from babel.messages.extract import extract_python

# crms.errors.CrmsError and its subclasses, here and in the areas (a test checks the list is whole).
ERRORS = frozenset(
    {
        "CrmsError",
        "ValidationError",
        "NotFound",
        "Conflict",
        "AuthenticationError",
        "PasswordChangeRequired",
        "PermissionDenied",
        "PayloadTooLarge",
        "DatabaseNotReady",
        "RateLimited",
        "ImageError",
        "TemplateError",
        "GalleryError",
        "AbisError",
        "ImportFileError",
        "ReferenceDataError",
    }
)


def raised_messages(source: str) -> list[tuple[int, str]]:
    """(line, message) of each error constructed with a literal message in ``source``, in line order."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and node.args):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        text = _literal(node.args[0]) if name in ERRORS else None
        if text and text.strip():
            found.append((node.lineno, text))
    return sorted(found)


def _literal(arg: ast.expr) -> str | None:
    """The words of a message as written: a string, or the words after a name in front (``f"{name}: the file
    is empty"``, shown without the name at its field's box, crms.web.app.unprefixed)."""
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and len(arg.values) == 2:
        head, words = arg.values
        if isinstance(head, ast.FormattedValue) and isinstance(words, ast.Constant):
            if isinstance(words.value, str) and words.value.startswith(": "):
                return words.value[2:]
    return None


def extract(
    fileobj: IO[bytes], keywords: Mapping[str, Any], comment_tags: Collection[str], options: Mapping[str, Any]
) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """Babel's Python extraction (the marked messages) and the services' literal messages."""
    source = fileobj.read()
    yield from extract_python(io.BytesIO(source), keywords, comment_tags, options)
    for line, message in raised_messages(source.decode("utf-8")):
        yield line, None, message, ["a service's message"]
