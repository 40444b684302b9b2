"""Writes a Python package of generated modules: gen.py DIR MODULES.

Every module holds pure functions over integers; the package's selftest() imports them all and
checks a sum, so the byte-compiled tree is exercised where it is installed.
"""
import pathlib
import sys

root = pathlib.Path(sys.argv[1])
modules = int(sys.argv[2])
root.mkdir(parents=True, exist_ok=True)
expected = 0
for m in range(modules):
    lines = [f'"""Generated module {m}."""', ""]
    for f in range(40):
        a, b = (m * 31 + f * 7) % 97 + 1, (m * 17 + f * 13) % 89 + 1
        lines += [
            f"def f{f}(x):",
            f"    total = 0",
            f"    for i in range(x % {a} + 3):",
            f"        total += (i * {a}) ^ (x + {b})",
            f"    return total % 1000003",
            "",
        ]
        x = m * 40 + f
        total = sum((i * a) ^ (x + b) for i in range(x % a + 3)) % 1000003
        expected = (expected + total) % 1000003
    (root / f"mod{m:03}.py").write_text("\n".join(lines) + "\n")
init = [
    '"""Generated package: selftest() checks every module."""',
    "import importlib",
    "",
    "",
    "def selftest():",
    "    total = 0",
    f"    for m in range({modules}):",
    '        mod = importlib.import_module(f"{__name__}.mod{m:03}")',
    "        for f in range(40):",
    '            total = (total + getattr(mod, f"f{f}")(m * 40 + f)) % 1000003',
    f"    assert total == {expected}, total",
    "    return total",
]
(root / "__init__.py").write_text("\n".join(init) + "\n")
