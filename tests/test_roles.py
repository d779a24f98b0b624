"""The one vocabulary of roles (scoring.roles): each role's facts, parsing, and that no other module lists roles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cards.i18n import t
from scoring.roles import Role, Scope, UnknownRole, at_least, level
from tests.conftest import ROOT

ROLE_NAMES = frozenset(r.value for r in Role)
PERMISSION_CHECKS = frozenset({"at_least", "level"})


def test_the_roles_in_order() -> None:
    assert [r.value for r in Role] == ["host", "ad_buyer", "operator", "selector", "lead", "manager", "admin"]


def test_each_roles_facts() -> None:
    assert {r: (r.level, r.scope, r.has_kpis) for r in Role} == {
        Role.HOST: (1, Scope.OWN, True),
        Role.AD_BUYER: (1, Scope.TEAM, True),
        Role.OPERATOR: (1, Scope.TEAM, True),
        Role.SELECTOR: (1, Scope.TEAM, True),
        Role.LEAD: (2, Scope.TEAM, True),
        Role.MANAGER: (3, Scope.COMPANY, False),
        Role.ADMIN: (4, Scope.COMPANY, False),
    }


@pytest.mark.parametrize("role", list(Role))
def test_parse_every_role(role: Role) -> None:
    assert Role.parse(role.value) is role


@pytest.mark.parametrize("text", ["boss", "Host", " lead", "ad buyer", "finance", ""])
def test_parse_refuses_what_names_no_role(text: str) -> None:
    with pytest.raises(UnknownRole) as caught:
        Role.parse(text)
    assert str(caught.value) == f"unknown role {text!r}; the roles are host, ad_buyer, operator, selector, lead, " \
                                "manager, admin"


def test_permissions_follow_the_levels() -> None:
    assert [level(r.value) for r in Role] == [1, 1, 1, 1, 2, 3, 4]
    assert level("boss") == 0   # a stored value naming no role reaches nothing gated
    assert [r.value for r in Role if at_least(r.value, Role.LEAD)] == ["lead", "manager", "admin"]
    assert [r.value for r in Role if at_least(r.value, Role.MANAGER)] == ["manager", "admin"]
    assert at_least("boss", Role.HOST) is False


def test_every_role_has_a_label() -> None:
    assert {r.value: (t("en", f"role.{r}"), t("zh", f"role.{r}")) for r in Role} == {
        "host": ("host", "主播"), "ad_buyer": ("ad buyer", "投手"), "operator": ("operator", "运营"),
        "selector": ("selector", "选品"), "lead": ("team lead", "组长"), "manager": ("manager", "经理"),
        "admin": ("admin", "管理员"),
    }


# --- no module but scoring/roles.py lists roles -------------------------------------------------------------------

def _role_constant(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in ROLE_NAMES:
        return node.value
    return None


def _names_role(node: ast.AST) -> bool:
    """`role`, `member.role`, `min_role`, `Member.role`: an expression that holds a role."""
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return name == "role" or name.endswith("_role")


def _spells_roles(node: ast.AST) -> bool:
    if isinstance(node, ast.Set | ast.Tuple | ast.List | ast.Dict):
        items = node.keys if isinstance(node, ast.Dict) else node.elts
        return len({_role_constant(i) for i in items} - {None}) >= 2
    if isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        return any(_role_constant(o) for o in operands) and any(_names_role(o) for o in operands)
    if isinstance(node, ast.keyword):
        return node.arg is not None and (node.arg == "role" or node.arg.endswith("_role")) \
            and _role_constant(node.value) is not None
    if isinstance(node, ast.Call):
        return isinstance(node.func, ast.Name) and node.func.id in PERMISSION_CHECKS \
            and any(_role_constant(a) for a in node.args)
    return False


def role_literals(source: str) -> list[int]:
    """Lines of `source` that spell roles out: a set, tuple, list or dict (keys) with two or more role names, a
    comparison of a role-holding expression with a role name, `role=`/`min_role=` given a role name, or a
    permission check (scoring.roles.at_least) given a role name. Single role names elsewhere (a demo member's
    role, a message's text) are data, not a vocabulary."""
    return sorted({node.lineno for node in ast.walk(ast.parse(source))
                   if _spells_roles(node) and hasattr(node, "lineno")})


def test_the_check_sees_role_literals() -> None:
    # guards the guard: each line spelled the roles out before scoring.roles
    source = "\n".join([
        'KPI = frozenset({"host", "ad_buyer", "operator", "selector", "lead"})',
        'SCORED = ("host", "ad_buyer", "operator", "selector")',
        'LEVEL = {"host": 1, "ad_buyer": 1, "lead": 2}',
        'p.add_argument("--role", choices=["host", "ad_buyer", "manager"])',
        'ok = member.role == "lead"',
        'by_member = role != "host"',
        'S = Command("digest", (), "help", "", h, min_role="lead")',
        'm = Member(code="x", role="lead")',
        'if at_least(who.role, "manager"): pass',
    ])
    assert role_literals(source) == [1, 2, 3, 4, 5, 6, 7, 8, 9]


def test_the_check_leaves_data_and_texts_alone() -> None:
    source = "\n".join([
        'M = (_MemberSpec("host1", "Lin", "host", "live-us"), _MemberSpec("lead1", "Sun", "lead", None))',
        'MESSAGES = {"role.host": {"en": "host", "zh": "主播"}, "role.lead": {"en": "team lead", "zh": "组长"}}',
        'P = (_plan("host-gmv", "host", 1), _plan("lead-gmv", "lead", 2))',
        'handle = v.get("host") == "lead"',
        'ok = member.role == Role.LEAD',
    ])
    assert role_literals(source) == []


def _modules() -> list[Path]:
    roots = ("bot", "commands", "services", "storage", "cards", "scoring")
    return [p for root in roots for p in sorted((ROOT / root).rglob("*.py")) if p != ROOT / "scoring" / "roles.py"]


def test_no_module_spells_roles_out() -> None:
    offenders = {str(p.relative_to(ROOT)): lines for p in _modules()
                 if (lines := role_literals(p.read_text(encoding="utf-8")))}
    assert offenders == {}


def test_the_scan_reads_the_layers() -> None:
    names = {str(p.relative_to(ROOT)) for p in _modules()}
    assert {"commands/help.py", "storage/demo.py", "storage/activity.py", "cards/i18n.py"} <= names
    assert "scoring/roles.py" not in names
