"""Members imported from CSV with their platform ids: all or nothing, problems named by line."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage.identity import ALIAS, identities, member_for
from storage.member_import import ImportProblem, import_members
from storage.models import Member, Team


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "members.csv"
    path.write_text(text, encoding="utf-8-sig")
    return path


def test_new_and_existing_members(demo_copy: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "member,name,role,team,timezone,locale,feishu_open_id,dingtalk_staff_id\n"
                           "host9,Zhang Wei 张伟,host,live-us,America/New_York,zh-CN,ou_9f8e,staff_9\n"
                           "host1,,,,,,ou_real_host1,\n"
                           ",,,,,,,\n")
    with Session(demo_copy) as s:
        result = import_members(s, path, "Asia/Shanghai", "en", "Demo")
        s.commit()
        assert (result.created, result.updated) == (1, 1)
        new = member_for(s, "feishu", "ou_9f8e")
        assert new is not None
        team = s.get(Team, new.team_id)
        assert (new.code, new.name, new.role, new.timezone, new.locale, identities(s, new.id), team.code) == (  # type: ignore[union-attr]
            "host9", "Zhang Wei 张伟", "host", "America/New_York", "zh-CN",
            {"feishu": "ou_9f8e", "dingtalk": "staff_9"}, "live-us")
        host1 = member_for(s, "feishu", "ou_real_host1")
        assert host1 is not None and (host1.code, host1.name, identities(s, host1.id)) == (
            "host1", "Lin Xiaoyu 林小雨", {"feishu": "ou_real_host1", "dingtalk": "host1"})
        assert member_for(s, "feishu", "ou_host1") is None   # the new open_id replaced the old one


def test_a_union_id_column_binds_an_alias_and_an_id_names_one_member(demo_copy: Engine, tmp_path: Path) -> None:
    with Session(demo_copy) as s:
        import_members(s, write(tmp_path, "member,feishu_union_id\nhost2,on_host2\n"), "Asia/Shanghai", "en", "Demo")
        s.commit()
        host2 = member_for(s, "feishu", "on_host2")
        assert host2 is not None and (host2.code, identities(s, host2.id), identities(s, host2.id, ALIAS)) == (
            "host2", {"feishu": "ou_host2", "dingtalk": "host2"}, {"feishu": "on_host2"})
        with pytest.raises(ImportProblem, match=r"^line 2: feishu_open_id on_host2 already belongs to host2$"):
            import_members(s, write(tmp_path, "member,feishu_open_id\nhost3,on_host2\n"), "Asia/Shanghai", "en",
                           "Demo")


def test_a_platform_id_column_binds_any_other_platform(demo_copy: Engine, tmp_path: Path) -> None:
    # PLATFORM_user_id for a platform kpibot has no built-in column for: a new adapter needs nothing in storage/
    with Session(demo_copy) as s:
        import_members(s, write(tmp_path, "member,wecom_user_id,slack_user_id\nhost2,zhang.wei,U024BE7LH\nhost3,,\n"),
                       "Asia/Shanghai", "en", "Demo")
        s.commit()
        host2 = member_for(s, "wecom", "zhang.wei")
        assert host2 is not None and (host2.code, identities(s, host2.id)) == (
            "host2", {"feishu": "ou_host2", "dingtalk": "host2", "wecom": "zhang.wei", "slack": "U024BE7LH"})
        assert member_for(s, "slack", "U024BE7LH") == host2
        with pytest.raises(ImportProblem, match=r"^line 2: wecom_user_id zhang.wei already belongs to host2$"):
            import_members(s, write(tmp_path, "member,wecom_user_id\nhost3,zhang.wei\n"), "Asia/Shanghai", "en", "Demo")


def test_other_feishu_ids_and_unstorable_ids_are_refused(demo_copy: Engine, tmp_path: Path) -> None:
    # feishu_user_id is Feishu's user_id, not the open_id kpibot binds: an unknown column, not a platform "feishu"
    with Session(demo_copy) as s:
        with pytest.raises(ImportProblem, match=r"unknown: feishu_user_id$"):
            import_members(s, write(tmp_path, "member,feishu_user_id\nhost2,u_h2\n"), "Asia/Shanghai", "en", "Demo")
        with pytest.raises(ImportProblem, match=r"^line 2: wecom_user_id: a wecom id has 1 to 64 characters; got 65; "
                                                r"line 3: console_user_id: the console needs no binding: its ids are "
                                                r"member codes$"):
            import_members(s, write(tmp_path, f"member,wecom_user_id,console_user_id\nhost2,{'x' * 65},\nhost3,,c\n"),
                           "Asia/Shanghai", "en", "Demo")
        assert identities(s, s.execute(select(Member.id).where(Member.code == "host2")).scalar_one()) == {
            "feishu": "ou_host2", "dingtalk": "host2"}


def test_a_bad_file_changes_nothing_and_names_each_line(demo_copy: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "member,name,role,team,timezone,feishu_open_id\n"
                           "newbie,New Person,streamer,live-us,Asia/Shanghai,ou_new\n"
                           "other,Other,host,mars,Mars/Base,ou_host2\n"
                           "lonely,,,,,\n")
    with Session(demo_copy) as s:
        before = len(s.execute(select(Member)).all())
        with pytest.raises(ImportProblem) as caught:
            import_members(s, path, "Asia/Shanghai", "en", "Demo")
        s.rollback()
        assert str(caught.value) == (
            "line 2: role 'streamer' is not one of host, ad_buyer, operator, selector, lead, manager, admin; "
            "line 3: no team 'mars' (teams: live-us, shopee-id); line 3: unknown time zone 'Mars/Base'; "
            "line 3: feishu_open_id ou_host2 already belongs to host2; "
            "line 4: new member lonely needs a name and a role")
        assert len(s.execute(select(Member)).all()) == before


def test_a_header_without_member_is_refused(demo_copy: Engine, tmp_path: Path) -> None:
    with Session(demo_copy) as s, pytest.raises(ImportProblem, match=r"\(member is required\); unknown: open_id$"):
        import_members(s, write(tmp_path, "name,open_id\nA,ou_1\n"), "Asia/Shanghai", "en", "Demo")
