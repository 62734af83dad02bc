"""Refresh the Urdu catalogue of the web pages: extract the messages (pybabel) and merge them into
crms/web/locale/ur/LC_MESSAGES/messages.po, keeping existing translations. New messages come out empty
(fuzzy-free); translate them in the .po. Run: python scripts/web_catalog.py"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "crms/web/locale/ur/LC_MESSAGES/messages.po"


def main() -> None:
    pot = ROOT / "build/web-messages.pot"
    pot.parent.mkdir(exist_ok=True)
    bab = [sys.executable, "-m", "babel.messages.frontend"]
    subprocess.run([*bab, "extract", "-F", "crms/web/babel.cfg", "-k", "_", "-k", "N_", "--no-location",
                    "-o", str(pot), "."], cwd=ROOT, check=True)  # fmt: skip
    if PO.exists():
        subprocess.run([*bab, "update", "-i", str(pot), "-o", str(PO), "-l", "ur", "--no-fuzzy-matching"],
                       cwd=ROOT, check=True)  # fmt: skip
    else:
        subprocess.run([*bab, "init", "-i", str(pot), "-o", str(PO), "-l", "ur"], cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
