"""Message catalog: every user-facing sentence in English and Simplified Chinese."""

from __future__ import annotations

from typing import Any

LANGS = ("en", "zh")

MESSAGES: dict[str, dict[str, str]] = {
    # generic
    "error.internal": {
        "en": "Sorry, something went wrong on our side. It has been logged (ref {ref}); please try again later.",
        "zh": "抱歉，系统出了点问题，已记录（编号 {ref}），请稍后再试。",
    },
    "error.unknown_command": {
        "en": "I don't know {command}.{suggestion} Type /help to see what I can do.",
        "zh": "我不认识 {command}。{suggestion}发送 /help 查看可用命令。",
    },
    "error.did_you_mean": {"en": " Did you mean {command}?", "zh": "你是不是想用 {command}？"},
    "error.not_a_command": {
        "en": "Commands start with /, for example /mykpi. Type /help for the list.",
        "zh": "命令以 / 开头，例如 /mykpi。发送 /help 查看全部命令。",
    },
    "error.bad_args": {"en": "I couldn't read that: {problem}. Try: {usage}", "zh": "无法识别：{problem}。试试：{usage}"},
    "error.forbidden": {
        "en": "{command} is for {role} and above; you are {your_role}.",
        "zh": "{command} 仅限{role}及以上使用，你的角色是{your_role}。",
    },
    "error.template": {
        "en": "The KPI setup has a problem an admin must fix: {problem}",
        "zh": "KPI 考核配置有误，请管理员修正：{problem}",
    },
    "error.other_team": {"en": "You can only see your own team.", "zh": "你只能查看自己的团队。"},
    "error.no_team": {"en": "No team called {name}. Teams: {teams}.", "zh": "没有名为 {name} 的团队。现有团队：{teams}。"},
    "error.not_in_team": {
        "en": "You are not in a team yet, and your KPIs are your team's numbers. Ask an admin to add you to one.",
        "zh": "你还没有加入团队，而你的 KPI 按团队数据计算。请管理员把你加入团队。",
    },
    "error.which_team": {"en": "Which team? Try /team <team>. Teams: {teams}.", "zh": "查看哪个团队？试试 /team <团队>。现有团队：{teams}。"},
    "error.fx": {
        "en": "An exchange rate is missing, so amounts cannot be converted: {problem}. Ask an admin to add it.",
        "zh": "缺少汇率，无法换算金额：{problem}。请管理员补充汇率。",
    },
    "unbound.title": {"en": "You're not linked to kpibot yet", "zh": "你的账号还未绑定 kpibot"},
    "unbound.body": {
        "en": "Your {platform} id is {user_id}. Ask an admin to link it to your member id:",
        "zh": "你的{platform}账号 ID 是 {user_id}。请管理员将它绑定到你的成员 ID：",
    },
    "unbound.how": {
        "en": "kpibot members bind <member-id> --{platform} {user_id}",
        "zh": "kpibot members bind <成员ID> --{platform} {user_id}",
    },
    "unbound.how_console": {
        "en": "On the console your id is your member id: kpibot chat --as <member-id> (list them: kpibot members list)",
        "zh": "控制台里你的 ID 就是成员 ID：kpibot chat --as <成员ID>（查看全部：kpibot members list）",
    },
    # roles
    "role.host": {"en": "host", "zh": "主播"},
    "role.ad_buyer": {"en": "ad buyer", "zh": "投手"},
    "role.operator": {"en": "operator", "zh": "运营"},
    "role.selector": {"en": "selector", "zh": "选品"},
    "role.lead": {"en": "team lead", "zh": "组长"},
    "role.manager": {"en": "manager", "zh": "经理"},
    "role.admin": {"en": "admin", "zh": "管理员"},
    # periods
    "period.day": {"en": "Today", "zh": "今日"},
    "period.week": {"en": "This week", "zh": "本周"},
    "period.month": {"en": "This month", "zh": "本月"},
    # /help
    "help.title": {"en": "kpibot commands", "zh": "kpibot 命令"},
    "help.command": {"en": "Command", "zh": "命令"},
    "help.alias": {"en": "Also", "zh": "中文"},
    "help.what": {"en": "What it does", "zh": "说明"},
    "help.mykpi": {"en": "your numbers, score and rank", "zh": "我的业绩、得分和排名"},
    "help.digest": {"en": "today's team digest, as the daily card shows it (leads)", "zh": "团队今日日报（组长及以上）"},
    "help.team": {"en": "your team's members and who is behind", "zh": "团队成员达成情况与落后预警"},
    "help.rank": {"en": "the ranking in your team", "zh": "团队排名"},
    "help.whoami": {"en": "your account and binding", "zh": "我的账号与绑定"},
    "help.help": {"en": "this list", "zh": "命令列表"},
    "help.footer": {
        "en": "Add day, week or month: /mykpi week. Chinese works too: /我的KPI 本周",
        "zh": "可加 日/周/月：/我的KPI 本周；英文命令同样可用：/mykpi week",
    },
    # /mykpi
    "mykpi.title": {"en": "{name} · {period} KPI", "zh": "{name} · {period}KPI"},
    "mykpi.today": {"en": "Today", "zh": "今日"},
    "mykpi.period_total": {"en": "{period} so far", "zh": "{period}累计"},
    "mykpi.target": {"en": "Target", "zh": "目标"},
    "mykpi.achievement": {"en": "Achievement", "zh": "达成率"},
    "mykpi.pace": {"en": "Pace", "zh": "进度"},
    "mykpi.score": {"en": "Score", "zh": "得分"},
    "mykpi.grade": {"en": "Grade", "zh": "等级"},
    "mykpi.rank": {"en": "Rank in team", "zh": "团队排名"},
    "mykpi.rank_value": {"en": "{pos} of {total}", "zh": "第 {pos} / {total} 名"},
    "mykpi.ahead": {"en": "ahead", "zh": "超前"},
    "mykpi.behind": {"en": "behind", "zh": "落后"},
    "mykpi.on_track": {"en": "on track", "zh": "正常"},
    "mykpi.no_target": {"en": "no target", "zh": "未设目标"},
    "mykpi.no_value": {"en": "n/a", "zh": "暂无"},
    "mykpi.expected": {"en": "expected by now {value}", "zh": "应达 {value}"},
    "mykpi.not_scored": {"en": "Not scored (no target or no data): {metrics}", "zh": "未计分（无目标或无数据）：{metrics}"},
    "mykpi.trial": {
        "en": "Trial period until {day}: this score is shown for calibration and is not binding.",
        "zh": "试用期至 {day}：本得分仅用于校准，不作为考核依据。",
    },
    "mykpi.template_trial": {
        "en": "Template {name} is in trial: scores are not binding.",
        "zh": "考核模板 {name} 试运行中：得分不作为考核依据。",
    },
    "mykpi.no_template": {
        "en": "Your role ({role}) has no personal KPI template. Try /team or /rank.",
        "zh": "你的角色（{role}）没有个人 KPI 模板。可以试试 /team 或 /rank。",
    },
    "mykpi.as_of": {"en": "As of {time} ({tz}) · template {template}", "zh": "数据截至 {time}（{tz}）· 模板 {template}"},
    "mykpi.chart_title": {"en": "{name} · {period} {metric}", "zh": "{name} · {period} {metric}累计"},
    "mykpi.chart_target": {"en": "Target", "zh": "目标"},
    "mykpi.chart_actual": {"en": "Actual", "zh": "实际"},
    "button.day": {"en": "Today", "zh": "今日"},
    "button.week": {"en": "Week", "zh": "本周"},
    "button.month": {"en": "Month", "zh": "本月"},
    "button.refresh": {"en": "Refresh", "zh": "刷新"},
    # /team and /rank
    "digest.title": {"en": "{team} · daily digest {day}", "zh": "{team} · 日报 {day}"},
    "digest.weekly_title": {"en": "{team} · weekly report {period}", "zh": "{team} · 周报 {period}"},
    "digest.yesterday": {"en": "Yesterday", "zh": "昨日"},
    "digest.vs_day_before": {"en": "vs the day before", "zh": "较前一日"},
    "digest.top_products": {"en": "Top products", "zh": "热销商品"},
    "digest.top_creators": {"en": "Top creators", "zh": "达人贡献"},
    "digest.orders": {"en": "Orders", "zh": "订单"},
    "digest.units": {"en": "Units", "zh": "件数"},
    "digest.achievement": {"en": "Achievement", "zh": "达成率"},
    "digest.as_of": {"en": "As of {time} ({tz})", "zh": "数据截至 {time}（{tz}）"},
    "alert.title": {"en": "{name}, you are behind pace on {metric}", "zh": "{name}，你的{metric}进度落后了"},
    "alert.so_far": {"en": "This month so far", "zh": "本月累计"},
    "alert.per_day": {"en": "Needed per day ({days} days left)", "zh": "剩余 {days} 天，每天需完成"},
    "alert.why": {"en": "Sent at most once a day while you are behind pace.", "zh": "进度落后时每天最多提醒一次。"},
    "alert.open": {"en": "My KPI", "zh": "我的KPI"},
    "alert.summary_title": {"en": "{team}: {n} behind pace today", "zh": "{team}：今日 {n} 人进度落后"},
    "alert.summary_why": {"en": "Each of them got a private reminder.", "zh": "已分别私信提醒。"},
    "team.title": {"en": "{team} · {period}", "zh": "{team} · {period}"},
    "team.member": {"en": "Member", "zh": "成员"},
    "team.role": {"en": "Role", "zh": "角色"},
    "team.score": {"en": "Score", "zh": "得分"},
    "team.grade": {"en": "Grade", "zh": "等级"},
    "team.key_metric": {"en": "Key metric", "zh": "核心指标"},
    "team.status": {"en": "Status", "zh": "状态"},
    "team.lagging": {"en": "behind", "zh": "落后"},
    "team.ok": {"en": "ok", "zh": "正常"},
    "team.lagging_summary": {"en": "Behind pace: {names}", "zh": "进度落后：{names}"},
    "team.nobody_lagging": {"en": "Nobody is behind pace.", "zh": "暂无成员进度落后。"},
    "team.total": {"en": "Team {metric}", "zh": "团队{metric}"},
    "rank.title": {"en": "Ranking · {scope} · {period}", "zh": "排名 · {scope} · {period}"},
    "rank.position": {"en": "#", "zh": "名次"},
    "rank.all": {"en": "All teams", "zh": "全部团队"},
    "rank.empty": {"en": "No scores yet.", "zh": "暂无得分。"},
    # /whoami
    "whoami.title": {"en": "Who am I", "zh": "我是谁"},
    "whoami.platform": {"en": "Platform", "zh": "平台"},
    "whoami.user_id": {"en": "Your id", "zh": "你的 ID"},
    "whoami.member": {"en": "Member", "zh": "成员"},
    "whoami.role": {"en": "Role", "zh": "角色"},
    "whoami.team": {"en": "Team", "zh": "团队"},
    "whoami.timezone": {"en": "Time zone", "zh": "时区"},
    "whoami.language": {"en": "Language", "zh": "语言"},
    "whoami.feishu": {"en": "Feishu open_id", "zh": "飞书 open_id"},
    "whoami.dingtalk": {"en": "DingTalk staffId", "zh": "钉钉 staffId"},
    "whoami.none": {"en": "not linked", "zh": "未绑定"},
    "card.rows_hidden": {"en": "{n} more rows are not shown (message size limit).", "zh": "另有 {n} 行未显示（消息长度限制）。"},
    "card.shortened": {"en": "This card was shortened to fit the message size limit.", "zh": "为符合消息长度限制，此卡片已缩短。"},
    "click.stale": {"en": "This button is no longer valid. Send the command again.", "zh": "此按钮已失效，请重新发送命令。"},
    "click.not_yours": {"en": "This card belongs to someone else. Send /mykpi to get your own.", "zh": "这是别人的卡片。发送 /mykpi 获取你自己的。"},
    "click.updating": {"en": "Updating…", "zh": "正在更新…"},
    "click.failed": {"en": "Sorry, that did not work. Please try again.", "zh": "抱歉，操作失败，请重试。"},
    "platform.console": {"en": "console", "zh": "控制台"},
    "platform.feishu": {"en": "Feishu", "zh": "飞书"},
    "platform.dingtalk": {"en": "DingTalk", "zh": "钉钉"},
}


def lang_of(locale: str | None) -> str:
    """'zh-CN' -> 'zh'; anything unknown -> 'en'."""
    base = (locale or "en").split("-")[0].split("_")[0].lower()
    return base if base in LANGS else "en"


def t(lang: str, key: str, **values: Any) -> str:
    entry = MESSAGES[key]
    return entry.get(lang, entry["en"]).format(**values)
