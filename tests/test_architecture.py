"""The layers, checked from the source: imports point down, never into the CLI, no cycles.

Every import counts, also those inside functions (lazy imports are still dependencies)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "datagen"

# a module may import its own layer or lower ones
LAYERS = {
    "datagen": 0, "datagen.records": 0, "datagen.errors": 0, "datagen.registry": 0, "datagen.text": 0, "datagen.prompts": 0,
    "datagen.config": 0, "datagen.extras": 0, "datagen.secrets": 0,
    "datagen.io": 1, "datagen.llm": 1,
    "datagen.filters": 2, "datagen.store": 2,
    "datagen.generators": 3, "datagen.export": 3, "datagen.hub": 3, "datagen.train": 3, "datagen.report": 3, "datagen.eval": 3,
    "datagen.quality": 3, "datagen.prefs": 3,
    "datagen.run": 4,
    "datagen.cli": 5, "datagen.studio": 5,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PKG.rglob("*.py")}


def imports_of(name: str, source: str, is_package: bool, known: set[str]) -> set[str]:
    """The datagen modules that module `name` (with this source) imports."""
    pkg = name if is_package else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "datagen")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == "datagen":
                target = node.module
            else:
                continue
            subs = {f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known}
            out.update(subs or {target})
            if subs and len(subs) < len(node.names):
                out.add(target)
    return {m for m in out if m != name}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(name, path.read_text(encoding="utf-8"), path.name == "__init__.py", set(mods))
            for name, path in mods.items()}


def layer(name: str) -> int:
    while name not in LAYERS:
        name = name.rpartition(".")[0]
    return LAYERS[name]


def test_every_package_has_a_layer():
    for name in modules():
        assert layer(name) is not None


def test_nothing_below_the_cli_imports_the_cli():
    bad = [(m, t) for m, ts in graph().items() for t in ts
           if t.startswith("datagen.cli") and not m.startswith("datagen.cli")]
    assert bad == []


def test_imports_point_down():
    bad = [f"{m} -> {t}" for m, ts in graph().items() for t in ts if layer(t) > layer(m)]
    assert bad == []


def test_no_import_cycles():
    g = graph()
    # a package's __init__ re-exporting its own modules is not a cycle of layers
    def edges(m):
        return {t for t in g.get(m, ()) if not (m.startswith(t + ".") and t in g)}

    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(m, stack):
        state[m] = 1
        for t in edges(m):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t in g and not state.get(t):
                visit(t, stack + [t])
        state[m] = 2

    for m in sorted(g):
        if not state.get(m):
            visit(m, [m])
    assert cycles == []


def test_the_walker_sees_planted_faults():
    """The checks above can fail: relative, lazy and CLI imports are all seen."""
    known = {"datagen.cli", "datagen.x.a", "datagen.x.b"}
    a = imports_of("datagen.x.a", "from datagen.cli import main\nfrom . import b\n", False, known)
    b = imports_of("datagen.x.b", "def f():\n    from .a import x\n", False, known)
    assert a == {"datagen.cli", "datagen.x.b"} and b == {"datagen.x.a"}


# -- capabilities are declared, never probed ------------------------------------------------
# a client says what it can do with attributes on llm.base.ChatClient, a filter has every
# hook of filters.base.Filter: callers read them, and never branch on a backend's name
CLIENT_OR_FILTER = re.compile(r"client|filter|chain|gate|scorer|usage|\bf\b")
MEMBERS = {"backend", "model", "usage", "ledger", "choose", "choose_many", "complete_many", "tokenizer",
           "option_scores", "add", "add_many", "check_many", "prepare", "prefetch", "warm_up", "describe",
           "deferred", "stateful", "last_detail", "last_details"}


def probes(source: str) -> list[str]:
    """hasattr(x, ...) and getattr(x, name, default) on a client or a filter (named so, or
    asked for one of their members)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        if node.func.id == "hasattr" or (node.func.id == "getattr" and len(node.args) == 3):
            target, member = node.args[0], node.args[1]
            named = isinstance(member, ast.Constant) and (member.value in MEMBERS or
                                                          str(member.value).startswith(("supports_", "can_")))
            if named or CLIENT_OR_FILTER.search(ast.unparse(target)):
                out.append(f"{node.lineno}: {ast.unparse(node)}")
    return out


def backend_branches(source: str) -> list[str]:
    """Comparisons with a backend's name (`client.backend == "local"`, `cfg.backend in (...)`)."""
    def is_backend(n):
        return (isinstance(n, ast.Attribute) and n.attr == "backend") or (isinstance(n, ast.Name) and n.id == "backend")

    return [f"{node.lineno}: {ast.unparse(node)}" for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Compare) and any(is_backend(n) for n in [node.left, *node.comparators])]


def test_capabilities_are_declared_not_probed():
    bad = {name: found for name, path in modules().items() if (found := probes(path.read_text(encoding="utf-8")))}
    assert bad == {}


def test_no_branch_on_a_backend_name_outside_llm():
    bad = {name: found for name, path in modules().items()
           if not name.startswith("datagen.llm") and (found := backend_branches(path.read_text(encoding="utf-8")))}
    assert bad == {}


def test_the_probe_checks_see_planted_faults():
    assert probes("if hasattr(client, 'complete_many'):\n    pass\n")
    assert probes("many = getattr(c, 'choose_many', None)\n")
    assert probes("d = getattr(f, 'last_detail', None) or {}\n")
    assert not probes("name = getattr(mod, attr)\nx = getattr(tok, 'chat_template', None)\n")
    assert backend_branches("x = 1 if client.backend != 'openai' else 2\n")
    assert backend_branches("if backend in ('local', 'x'):\n    pass\n")
    assert not backend_branches("c = make(backend='local')\nif settings.executor == 'local':\n    pass\n")


def language_sets(source: str) -> list[str]:
    """Literal ("en", "zh") / ("auto", "en", "zh") collections: the languages spelled out."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and node.elts \
                and all(isinstance(e, ast.Constant) for e in node.elts) \
                and {e.value for e in node.elts} in ({"en", "zh"}, {"auto", "en", "zh"}):
            out.append(f"{node.lineno}: {ast.unparse(node)}")
    return out


def test_the_languages_are_declared_once():
    """datagen.text.LANGS (and LANG_CHOICES) is the one list of languages."""
    bad = {name: found for name, path in modules().items()
           if name != "datagen.text" and (found := language_sets(path.read_text(encoding="utf-8")))}
    assert bad == {}
    assert language_sets('x = lang in ("en", "zh")\n') and not language_sets('x = ("en", "de")\n')
