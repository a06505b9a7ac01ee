"""The test tools leave the host alone: Debian packages are unpacked into .tools/, never
installed (no postinst, no system user, no service enabled at boot)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_install_script_unpacks_debian_packages_and_never_installs_them() -> None:
    script = (ROOT / "scripts" / "install_ops_tools.sh").read_text(encoding="utf-8")
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"apt(-get)?\s+(-\S+\s+)*install\b", code)
    assert not re.search(r"\bdpkg\s+(-\S+\s+)*(-i|--install)\b", code)
    assert "apt-get download" in code and "dpkg-deb -x" in code


def test_make_test_puts_the_local_tools_first_on_path() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(r"\ntest: tools[^\n]*\n(.*?)(\n\n|\Z)", makefile, re.S)
    assert match is not None, "no `test: tools ...` target in the Makefile"
    recipe = match.group(1)
    assert 'PATH="$(CURDIR)/.tools/usr/bin:$$PATH"' in recipe
    assert "/.tools/" in (ROOT / ".gitignore").read_text(encoding="utf-8")
