"""/whoami on a chat platform cards.i18n has no labels for: shown by the name its adapter uses."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session

from cards.render_text import render_text
from storage.identity import bind_identity
from storage.queries import member_by_code
from tests.conftest import dispatcher_for
from tests.test_commands import say


def test_a_member_bound_on_a_platform_without_labels_gets_their_card(demo_copy: Engine) -> None:
    with Session(demo_copy) as s:
        host1 = member_by_code(s, "host1")
        assert host1 is not None
        bind_identity(s, host1, "wecom", "wc-linxy")
        s.commit()
    d = dispatcher_for(demo_copy)
    ids = ("Feishu open_id    ou_host1\n"
           "DingTalk staffId  host1\n"
           "wecom             wc-linxy\n")
    assert render_text(say(d, "wc-linxy", "/whoami", platform="wecom")) == (
        "Who am I\n"
        "========\n"
        "Platform          wecom\n"
        "Your id           wc-linxy\n"
        "Member            Lin Xiaoyu 林小雨 (host1)\n"
        "Role              host\n"
        "Team              直播一组 Live US/UK\n"
        "Time zone         America/Los_Angeles\n"
        "Language          en\n" + ids)
    # the platforms that have labels keep them, and list the new one too
    assert render_text(say(d, "ou_host1", "/whoami", platform="feishu")).endswith(
        "Platform          Feishu\n"
        "Your id           ou_host1\n"
        "Member            Lin Xiaoyu 林小雨 (host1)\n"
        "Role              host\n"
        "Team              直播一组 Live US/UK\n"
        "Time zone         America/Los_Angeles\n"
        "Language          en\n" + ids)
    assert render_text(say(d, "wc-nobody", "/whoami", platform="wecom")) == (
        "You're not linked to kpibot yet\n"
        "===============================\n"
        "Platform  wecom\n"
        "Your id   wc-nobody\n"
        "\n"
        "Your wecom id is wc-nobody. Ask an admin to link it to your member id:\n"
        "\n"
        "kpibot members bind <member-id> --id wecom:wc-nobody\n")
