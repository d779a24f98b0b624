"""/whoami on a chat platform cards.i18n has no labels for: shown by the name its adapter uses."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.dispatch import Dispatcher
from cards.render_text import render_text
from storage.identity import bind_identity
from storage.queries import member_by_code
from tests.conftest import dispatcher_for
from tests.test_commands import fields, say


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
        "Days counted in   America/Los_Angeles\n"
        "Language          en\n" + ids)
    # the platforms that have labels keep them, and list the new one too
    assert render_text(say(d, "ou_host1", "/whoami", platform="feishu")).endswith(
        "Platform          Feishu\n"
        "Your id           ou_host1\n"
        "Member            Lin Xiaoyu 林小雨 (host1)\n"
        "Role              host\n"
        "Team              直播一组 Live US/UK\n"
        "Time zone         America/Los_Angeles\n"
        "Days counted in   America/Los_Angeles\n"
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


def test_whoami_says_a_member_in_another_zone_than_their_team_counts_days_on_the_teams(dispatcher: Dispatcher) -> None:
    # host3 lives in London; her team live-us is in Los Angeles: her day, week and month are the team's
    shown = fields(say(dispatcher, "host3", "/whoami"))
    assert (shown["Time zone"], shown["Days counted in"]) == ("Europe/London", "America/Los_Angeles")
    assert fields(say(dispatcher, "manager1", "/whoami"))["按此时区计日"] == "Asia/Shanghai"   # no team: own zone
