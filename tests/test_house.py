"""The one-way house: the package's import graph follows the dependency direction of
`flowvq_jax/__init__.py` (core -> world -> data -> models -> checkpoints / stages -> train |
inference | eval -> apps / bench), has no cycles, and configs import no training code.

Imports are read from the source (every `import`, function-local ones included), so a forbidden
dependency fails here before it can fail at run time. The negative cases feed the checker graphs
with one forbidden edge each: it must name it.
"""

from __future__ import annotations

import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "flowvq_jax"

# Room (the first package below flowvq_jax, or a top-level module) -> the rooms it may import.
BASE = {"core"}
ALLOWED = {
  "core": BASE,
  "world": BASE,
  "data": BASE | {"world"},
  "models": BASE | {"data"},
  "checkpoints": BASE | {"data"},
  "stages": BASE | {"data", "models", "checkpoints"},
  "train": BASE | {"world", "data", "models", "checkpoints", "stages"},
  "inference": BASE | {"data", "models", "checkpoints", "stages"},
  "eval": BASE | {"world", "data", "models", "checkpoints", "stages", "train", "inference"},
  "apps": BASE | {"world", "data", "models", "checkpoints", "stages", "train", "inference", "eval"},
  "bench": BASE
  | {"world", "data", "models", "checkpoints", "stages", "train", "inference", "eval", "apps"},
}


def module_name(path: str) -> str:
  rel = os.path.relpath(path, REPO)[: -len(".py")].replace(os.sep, ".")
  return rel[: -len(".__init__")] if rel.endswith(".__init__") else rel


def package_modules() -> dict[str, str]:
  out = {}
  for d, _, files in os.walk(os.path.join(REPO, PACKAGE)):
    for f in files:
      if f.endswith(".py"):
        path = os.path.join(d, f)
        out[module_name(path)] = path
  return out


def imported_modules(source: str, name: str, is_package: bool, known: set[str]) -> set[str]:
  """The package modules a source imports (`from A import b` counts `A.b` when it is a module)."""
  pkg = name if is_package else name.rsplit(".", 1)[0]
  out = set()
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        parts = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
        base = ".".join(parts + ([node.module] if node.module else []))
      names = [base] + [f"{base}.{a.name}" for a in node.names]
    else:
      continue
    for n in names:
      while n and n not in known:
        n = n.rsplit(".", 1)[0] if "." in n else ""
      if n and n != name:
        out.add(n)
  return out


def room(module: str) -> str:
  parts = module.split(".")
  return parts[1] if len(parts) > 1 else ""


def import_graph() -> dict[str, set[str]]:
  mods = package_modules()
  graph = {}
  for name, path in mods.items():
    with open(path) as f:
      graph[name] = imported_modules(f.read(), name, path.endswith("__init__.py"), set(mods))
  return graph


def violations(graph: dict[str, set[str]]) -> list[str]:
  """Every edge against `ALLOWED` and every import cycle (a package importing its own children
  for re-export is no cycle)."""
  bad = []
  for mod, targets in sorted(graph.items()):
    src = room(mod)
    for t in sorted(targets):
      dst = room(t)
      if src and dst and dst != src and dst not in ALLOWED.get(src, set()):
        bad.append(f"{mod} imports {t} ({src} may not import {dst})")
  edges = {
    m: {t for t in ts if not (t != m and m.startswith(t + ".") and t in graph)}
    for m, ts in graph.items()
  }
  state: dict[str, int] = {}

  def visit(m: str, stack: list[str]):
    state[m] = 1
    stack.append(m)
    for t in sorted(edges.get(m, ())):
      if state.get(t) == 1:
        bad.append("cycle: " + " -> ".join(stack[stack.index(t) :] + [t]))
      elif t in edges and not state.get(t):
        visit(t, stack)
    stack.pop()
    state[m] = 2

  for m in sorted(edges):
    if not state.get(m):
      visit(m, [])
  return bad


def test_every_room_is_known():
  rooms = {room(m) for m in package_modules()} - {""}
  assert rooms == set(ALLOWED), rooms ^ set(ALLOWED)


def test_the_package_imports_follow_the_one_way_house():
  assert violations(import_graph()) == []


def test_inference_stands_on_stages_not_on_the_trainer_or_the_world():
  graph = import_graph()
  for mod, targets in graph.items():
    if room(mod) == "inference":
      assert not {room(t) for t in targets} & {"train", "world", "eval", "apps"}, mod


@pytest.mark.parametrize(
  "module, target, what",
  [
    ("flowvq_jax.models.vq.renderer", "flowvq_jax.bench.util", "models may not import bench"),
    ("flowvq_jax.inference.talker", "flowvq_jax.train.optim", "inference may not import train"),
    ("flowvq_jax.models.flow.model", "flowvq_jax.world.tables", "models may not import world"),
    ("flowvq_jax.data.audio", "flowvq_jax.stages.flow", "data may not import stages"),
    ("flowvq_jax.core.config", "flowvq_jax.data.coeffs", "core may not import data"),
  ],
)
def test_a_forbidden_import_is_named(module, target, what):
  graph = import_graph()
  graph[module] = graph[module] | {target}
  assert [v for v in violations(graph) if v.startswith(f"{module} imports {target}")] == [
    f"{module} imports {target} ({what})"
  ]


def test_a_cycle_is_named():
  graph = import_graph()
  a, b = "flowvq_jax.train.optim", "flowvq_jax.train.mesh"
  graph[a], graph[b] = graph[a] | {b}, graph[b] | {a}
  cycles = [v for v in violations(graph) if v.startswith("cycle:")]
  assert len(cycles) == 1 and a in cycles[0] and b in cycles[0], cycles


def test_relative_and_from_imports_resolve_to_modules():
  known = {"flowvq_jax.data", "flowvq_jax.data.audio", "flowvq_jax.train.trainer"}
  src = "from flowvq_jax.data import audio\nfrom . import trainer\nimport numpy\n"
  assert imported_modules(src, "flowvq_jax.train.export", False, known | {"flowvq_jax.train"}) == {
    "flowvq_jax.data", "flowvq_jax.data.audio", "flowvq_jax.train", "flowvq_jax.train.trainer"
  }  # fmt: skip


def test_configs_import_no_training_code():
  configs = os.path.join(REPO, "configs")
  for f in sorted(os.listdir(configs)):
    if f.endswith(".py"):
      with open(os.path.join(configs, f)) as fh:
        found = imported_modules(fh.read(), f"configs.{f[:-3]}", False, set(package_modules()))
      assert not {t for t in found if room(t) in ("train", "eval", "inference", "apps")}, f
