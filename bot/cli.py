"""The `kpibot` command line. Exit codes: 0 success, 1 failure, 2 bad arguments or configuration."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot import cli_shops
from bot.app import build_app, clock_from_env, seed_demo_if_empty
from bot.config import Config, ConfigError, load_config
from bot.dispatch import Dispatcher
from bot.platforms.console import Console
from bot.scheduler import start_scheduler, stop_scheduler
from bot.usage import UsageError
from commands.commission import close_month
from commands.context import App
from commands.scorecards import Inputs, score_member
from scoring.commission import Basis, Plan, PlanKind, Tier
from scoring.fx import MissingRate
from scoring.metrics import Unit
from scoring.money import exponent, from_minor, round_money
from scoring.periods import month_window, parse_month
from scoring.sendtime import parse_hhmm
from scoring.templates import TemplateError
from storage.commission import load_plans, save_plan
from storage.demo import has_demo
from storage.member_import import ImportProblem, import_members
from storage.migrate import upgrade
from storage.models import DigestSubscription, KpiTemplate, Member, Organisation, Team
from storage.queries import active_members, find_member, find_team, load_templates, member_by_code, team_of, teams
from storage.target_import import import_targets

log = logging.getLogger("kpibot")


def _parser() -> argparse.ArgumentParser:
    def options(parser: argparse.ArgumentParser, default: object) -> argparse.ArgumentParser:
        parser.add_argument("--config", metavar="FILE", default=default,
                            help="TOML configuration (default: ./config.toml if present)")
        parser.add_argument("-v", "--verbose", action="store_true", default=default or False,
                            help="log debug details to stderr")
        return parser

    # Accepted before or after the subcommand; the subcommand's copy must not reset what came before it.
    common = options(argparse.ArgumentParser(add_help=False), argparse.SUPPRESS)
    p = options(argparse.ArgumentParser(
        prog="kpibot", description="KPI bot for cross-border e-commerce teams on Feishu and DingTalk."), None)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("demo", parents=[common], help="talk to the bot on the console, demo data seeded if empty")
    chat = sub.add_parser("chat", parents=[common], help="one exchange: print the card, write its chart")
    chat.add_argument("--as", dest="user", required=True, metavar="ID", help="member id, e.g. host1")
    chat.add_argument("text", help='what the user types, e.g. "/mykpi week"')
    kpi = sub.add_parser("kpi", parents=[common], help="a member's metrics, score and grade for a month")
    kpi.add_argument("--member", required=True, metavar="ID")
    kpi.add_argument("--period", metavar="YYYY-MM", help="default: the member's current month")
    kpi.add_argument("--json", action="store_true", help="machine-readable output")
    sub.add_parser("run", parents=[common], help="the long-running bot process")
    sub.add_parser("seed-demo", parents=[common], help="load the demo organisation into the configured store")
    db = sub.add_parser("db", parents=[common], help="database schema")
    db.add_argument("action", choices=["upgrade"])
    members = sub.add_parser("members", parents=[common], help="list members or bind platform ids")
    msub = members.add_subparsers(dest="action", required=True, metavar="ACTION")
    msub.add_parser("list", parents=[common], help="members with their platform ids")
    bind = msub.add_parser("bind", parents=[common], help="link a Feishu open_id or DingTalk staffId")
    bind.add_argument("member", metavar="MEMBER-ID")
    bind.add_argument("--feishu", metavar="OPEN_ID")
    bind.add_argument("--dingtalk", metavar="STAFF_ID")
    imp = msub.add_parser("import", parents=[common], help="create or update members from a CSV file")
    imp.add_argument("file", metavar="FILE.csv")
    trial = msub.add_parser("trial", parents=[common], help="a member's trial: scores shown but not binding")
    trial.add_argument("member", metavar="MEMBER-ID")
    trial_when = trial.add_mutually_exclusive_group(required=True)
    trial_when.add_argument("--until", metavar="YYYY-MM-DD", help="binding again from this day")
    trial_when.add_argument("--off", action="store_true", help="end the trial now")
    finance = msub.add_parser("finance", parents=[common], help="let a member see others' commission")
    finance.add_argument("member", metavar="MEMBER-ID")
    finance.add_argument("allowed", choices=["on", "off"])
    templates = sub.add_parser("templates", parents=[common], help="KPI templates")
    tsub = templates.add_subparsers(dest="action", required=True, metavar="ACTION")
    tsub.add_parser("list", parents=[common], help="templates with their weights")
    ttrial = tsub.add_parser("trial", parents=[common], help="a template's trial: its scores are not binding")
    ttrial.add_argument("name")
    ttrial.add_argument("state", choices=["on", "off"])
    targets = sub.add_parser("targets", parents=[common], help="monthly targets and country baselines")
    gsub = targets.add_subparsers(dest="action", required=True, metavar="ACTION")
    gimp = gsub.add_parser("import", parents=[common], help="set targets from a CSV or XLSX file")
    gimp.add_argument("file", metavar="FILE")
    commission = sub.add_parser("commission", parents=[common], help="commission plans and month closing")
    csub = commission.add_subparsers(dest="action", required=True, metavar="ACTION")
    csub.add_parser("plans", parents=[common], help="the plans")
    cplan = csub.add_parser("plan", parents=[common], help="create or replace a role's plan")
    cplan.add_argument("name")
    cplan.add_argument("--role", required=True, choices=["host", "ad_buyer", "operator", "selector", "lead",
                                                          "manager", "admin"])
    cplan.add_argument("--basis", required=True, choices=["net_gmv", "gross_profit", "new_customers"])
    cplan.add_argument("--kind", required=True, choices=["tiered", "accelerator"])
    cplan.add_argument("--currency", required=True, metavar="ISO")
    cplan.add_argument("--tier", required=True, action="append", metavar="FROM:RATE",
                       help="e.g. --tier 0:0.02 --tier 20000:0.03 (for new customers RATE is money per customer)")
    cplan.add_argument("--cap", metavar="AMOUNT")
    close = csub.add_parser("close", parents=[common], help="record a finished month's payouts")
    close.add_argument("period", metavar="YYYY-MM")
    digest = sub.add_parser("digest", parents=[common], help="daily digest subscriptions of group chats")
    dsub = digest.add_subparsers(dest="action", required=True, metavar="ACTION")
    dsub.add_parser("list", parents=[common], help="the subscriptions")
    subscribe = dsub.add_parser("subscribe", parents=[common], help="send a team's digest to a chat every day")
    subscribe.add_argument("team", metavar="TEAM", help="team code or name")
    subscribe.add_argument("--platform", required=True, choices=["feishu", "dingtalk"])
    subscribe.add_argument("--chat", required=True, metavar="CHAT_ID",
                           help="Feishu chat_id (oc_...) or DingTalk openConversationId (cid...)")
    subscribe.add_argument("--time", required=True, metavar="HH:MM", help="local send time")
    subscribe.add_argument("--tz", metavar="ZONE", help="IANA time zone (default: the team's)")
    subscribe.add_argument("--lang", choices=["en", "zh"], help="default: the team's")
    subscribe.add_argument("--finance", action="store_true", help="show members' money figures in this chat")
    subscribe.add_argument("--no-weekly", action="store_true", help="no weekly report on Mondays")
    unsubscribe = dsub.add_parser("unsubscribe", parents=[common], help="stop a subscription")
    unsubscribe.add_argument("id", type=int, metavar="ID")
    cli_shops.add_parsers(sub, common)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request at INFO: only with -v (URLs are redacted where they carry secrets)
    logging.getLogger("httpx").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        config = load_config(args.config)
        return _run(args, config)
    except (ConfigError, UsageError) as exc:
        print(f"kpibot: {exc}", file=sys.stderr)
        return 2
    except (TemplateError, MissingRate) as exc:
        print(f"kpibot: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"kpibot: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, config: Config) -> int:
    if args.command == "db":
        from storage.engine import make_engine

        before, after = upgrade(make_engine(config.store.url))
        print(f"schema {'created' if before is None else 'upgraded from ' + before} -> {after}"
              if before != after else f"schema is current ({after})")
        return 0
    clock = clock_from_env()
    app = build_app(config)
    if args.command == "seed-demo":
        with Session(app.engine) as session:
            if has_demo(session):
                print("the demo organisation is already in the store")
                return 0
        if not seed_demo_if_empty(app, clock()):
            raise UsageError(f"the store at {config.store.url} already holds an organisation; the demo goes only "
                             "into an empty store")
        print("seeded the demo organisation")
        return 0
    if args.command == "members":
        return _members(app, args, config)
    if args.command == "digest":
        return _digest(app, args)
    if args.command == "kpi":
        return _kpi(app, args, clock)
    if args.command == "templates":
        return _templates(app, args)
    if args.command == "targets":
        return _targets(app, args)
    if args.command == "commission":
        return _commission(app, args, clock)
    if args.command in ("shops", "sync", "import", "attribute", "creators"):
        return cli_shops.run(app, args, config, clock)
    dispatcher = Dispatcher(app, clock)
    console = Console(dispatcher, Path(config.charts.dir), sys.stdout)
    if args.command == "chat":
        seed_demo_if_empty(app, clock())
        _card, paths = console.exchange(args.user, args.text)
        for path in paths.values():
            print(f"chart: {Path(path).resolve()}")
        return 0
    if args.command == "demo":
        if seed_demo_if_empty(app, clock()):
            print("Seeded the demo organisation (members host1, host2, host3, buyer1, operator1, selector1, "
                  "lead1, lead2, manager1, admin1).")
        console.repl("host1")
        return 0
    if args.command == "run":
        return _serve(app, config, console, dispatcher)
    raise UsageError(f"unknown command {args.command}")


def _serve(app: App, config: Config, console: Console, dispatcher: Dispatcher) -> int:
    """The long-running process: every configured chat platform at once until SIGTERM or Ctrl-C; the console
    when none is configured. If any connection ends for good, the process stops and exits non-zero."""
    adapters: list[Any] = []
    if config.feishu is not None:
        from bot.platforms.feishu import FeishuAdapter

        adapters.append(FeishuAdapter(config.feishu, dispatcher, app.engine))
    if config.dingtalk is not None:
        from bot.platforms.dingtalk import DingTalkAdapter

        adapters.append(DingTalkAdapter(config.dingtalk, dispatcher, app.engine))
    if not adapters:
        console.repl("host1")
        return 0
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    started: list[Any] = []
    try:
        for adapter in adapters:
            adapter.start()
            started.append(adapter)
            print(f"kpibot: connected to {_where(adapter.platform, config)}", flush=True)
    except ConnectionError as exc:
        print(f"kpibot: {exc}", file=sys.stderr)
        for adapter in adapters:
            adapter.stop()
        return 1
    scheduler = start_scheduler(app, {a.platform: a for a in started}, dispatcher.clock,
                                refresh_every=timedelta(minutes=config.schedule.refresh_minutes),
                                platforms=config.platforms, cache=dispatcher.cache,
                                score_time=config.schedule.score_time)
    print("kpibot: serving; stop with Ctrl-C or SIGTERM", flush=True)
    code = 0
    while not stop.wait(2):
        dead = [a.platform for a in started if not a.alive()]
        if dead:
            print(f"kpibot: the {', '.join(dead)} connection ended for good (see the log); exiting", file=sys.stderr)
            code = 1
            break
    stop_scheduler(scheduler)   # a digest being sent finishes first; a refresh stops after its page
    for adapter in started:
        adapter.pool.close()   # every platform stops taking events before any of them drains its work
    for adapter in started:
        adapter.stop()
    print("kpibot: stopped", flush=True)
    return code


def _where(platform: str, config: Config) -> str:
    if platform == "feishu" and config.feishu is not None:
        return f"Feishu at {config.feishu.domain} as app {config.feishu.app_id}"
    if platform == "dingtalk" and config.dingtalk is not None:
        return f"DingTalk at {config.dingtalk.endpoint} as app {config.dingtalk.client_id}"
    return platform


def _digest(app: App, args: argparse.Namespace) -> int:
    with Session(app.engine) as session:
        if args.action == "subscribe":
            team = find_team(session, args.team)
            if team is None:
                raise UsageError(f"no team {args.team!r}; teams: {', '.join(x.code for x in teams(session))}")
            try:
                parse_hhmm(args.time)
                ZoneInfo(args.tz or team.timezone)
            except (ValueError, ZoneInfoNotFoundError, OSError) as exc:
                raise UsageError(f"--time must be HH:MM and --tz an IANA zone ({exc})") from None
            sub = DigestSubscription(team_id=team.id or 0, platform=args.platform, chat_id=args.chat,
                                     send_time=args.time, timezone=args.tz or team.timezone,
                                     locale=args.lang or team.locale, finance=args.finance, weekly=not args.no_weekly)
            session.add(sub)
            try:
                session.commit()
            except IntegrityError:
                raise UsageError(f"{args.platform} chat {args.chat} already gets the digest of {team.code}") from None
            print(f"subscription {sub.id}: {team.code} -> {args.platform} {args.chat} at {sub.send_time} "
                  f"{sub.timezone} ({sub.locale}{', finance' if sub.finance else ''}"
                  f"{', weekly on Mondays' if sub.weekly else ''})")
            return 0
        if args.action == "unsubscribe":
            found = session.get(DigestSubscription, args.id)
            if found is None or not found.active:
                raise UsageError(f"no active subscription {args.id}")
            found.active = False
            session.commit()
            print(f"subscription {args.id} stopped")
            return 0
        rows = session.execute(select(DigestSubscription, Team).join(Team)
                               .where(DigestSubscription.active)).all()  # type: ignore[arg-type]
        for sub, team in rows:
            print(f"{sub.id:<4} {team.code:<10} {sub.platform:<9} {sub.chat_id:<24} {sub.send_time} {sub.timezone} "
                  f"{sub.locale}{' finance' if sub.finance else ''}{' weekly' if sub.weekly else ''}")
        if not rows:
            print("no subscriptions")
        return 0


def _members(app: App, args: argparse.Namespace, config: Config) -> int:
    with Session(app.engine) as session:
        if args.action == "import":
            try:
                result = import_members(session, Path(args.file), app.org_timezone, app.org_locale, config.org.name)
            except ImportProblem as exc:
                raise UsageError(f"nothing imported: {exc}") from None
            session.commit()
            print(f"imported {args.file}: {result.created} new, {result.updated} updated")
            return 0
        if args.action == "trial":
            found = _member(session, args.member)
            try:
                found.trial_until = None if args.off else date.fromisoformat(args.until)
            except ValueError:
                raise UsageError(f"--until must be YYYY-MM-DD, got {args.until!r}") from None
            session.add(found)
            session.commit()
            print(f"{found.code}: " + (f"in trial until {found.trial_until}" if found.trial_until else "no trial"))
            return 0
        if args.action == "finance":
            found = _member(session, args.member)
            found.finance = args.allowed == "on"
            session.add(found)
            session.commit()
            print(f"{found.code}: sees " + ("others' commission" if found.finance else "only their own commission"))
            return 0
        if args.action == "list":
            for m in active_members(session):
                print(f"{m.code:<12} {m.role:<9} {m.name:<24} feishu={m.feishu_open_id or '-'} "
                      f"dingtalk={m.dingtalk_staff_id or '-'}")
            return 0
        member = _member(session, args.member)
        if not args.feishu and not args.dingtalk:
            raise UsageError("give --feishu OPEN_ID and/or --dingtalk STAFF_ID")
        for platform, user_id in (("feishu", args.feishu), ("dingtalk", args.dingtalk)):
            holder = find_member(session, platform, user_id) if user_id else None
            if holder is not None and holder.id != member.id:
                raise UsageError(f"{platform} id {user_id} is already bound to {holder.code}")
        if args.feishu:
            member.feishu_open_id = args.feishu
        if args.dingtalk:
            member.dingtalk_staff_id = args.dingtalk
        session.add(member)
        session.commit()
        print(f"bound {member.code}: feishu={member.feishu_open_id or '-'} dingtalk={member.dingtalk_staff_id or '-'}")
    return 0


def _member(session: Session, code: str) -> Member:
    found = member_by_code(session, code)
    if found is None:
        raise UsageError(f"no member {code!r} (see: kpibot members list)")
    return found


def _organisation(session: Session) -> Organisation:
    org = session.execute(select(Organisation).order_by(Organisation.id)).scalars().first()
    if org is None:
        raise UsageError("the store has no organisation yet (import members first)")
    return org


def _templates(app: App, args: argparse.Namespace) -> int:
    with Session(app.engine) as session:
        if args.action == "trial":
            row = session.execute(select(KpiTemplate).where(KpiTemplate.name == args.name)).scalars().first()
            if row is None:
                raise UsageError(f"no template {args.name!r} (see: kpibot templates list)")
            row.trial = args.state == "on"
            session.add(row)
            session.commit()
            print(f"template {row.name}: " + ("in trial, scores not binding" if row.trial else "binding"))
            return 0
        for tpl in load_templates(session):
            weights = ", ".join(f"{m.key} {m.weight}%" for m in tpl.metrics)
            print(f"{tpl.name:<18} {tpl.role:<9} {tpl.stage or 'any stage':<11} {'trial ' if tpl.trial else ''}"
                  f"{weights}")
    return 0


def _targets(app: App, args: argparse.Namespace) -> int:
    with Session(app.engine) as session:
        org = _organisation(session)
        try:
            result = import_targets(session, Path(args.file), org.id or 0, None, app.rules.reporting_currency)
        except ImportProblem as exc:
            raise UsageError(f"nothing imported: {exc}") from None
        session.commit()
    print(f"imported {args.file}: {result.targets} targets, {result.baselines} country baselines")
    return 0


def _commission(app: App, args: argparse.Namespace, clock: Any) -> int:
    with Session(app.engine) as session:
        if args.action == "plan":
            org = _organisation(session)
            try:
                tiers = tuple(Tier(Decimal(a), Decimal(b)) for a, b in (x.split(":", 1) for x in args.tier))
                plan = Plan(args.name, args.role, Basis(args.basis), PlanKind(args.kind), tiers,
                            args.currency.upper(), Decimal(args.cap) if args.cap else None)
                exponent(plan.currency)
            except (ValueError, ArithmeticError) as exc:
                raise UsageError(f"the plan is not valid: {exc}") from None
            save_plan(session, org.id or 0, plan)
            session.commit()
            print(f"plan {plan.name} saved for {plan.role}s")
            return 0
        if args.action == "close":
            year, month = parse_month(args.period)
            closing = close_month(session, Inputs.load(session, app.rules, clock()), year, month)
            session.commit()
            for payout in closing.paid:
                member = session.get(Member, payout.member_id)
                print(f"{member.code if member else payout.member_id:<12} {payout.plan_name:<24} "
                      f"{from_minor(payout.paid_minor, payout.currency)} {payout.currency}"
                      + (f" (after {from_minor(payout.clawback_minor, payout.currency)} taken back)"
                         if payout.clawback_minor else ""))
            for code, why in closing.failed:
                print(f"{code:<12} not closed: {why}", file=sys.stderr)
            print(f"{args.period}: {len(closing.paid)} payouts recorded"
                  + (f", {len(closing.failed)} members not closed (see above); run it again once fixed"
                     if closing.failed else ""))
            return 1 if closing.failed else 0
        plans = load_plans(session)
        for name, plan in plans.by_name.items():
            tiers = ", ".join(f"from {t.threshold}: {t.rate}" for t in plan.tiers)
            print(f"{name:<24} {plan.role:<9} {plan.kind.value:<12} {plan.basis.value:<14} {plan.currency} "
                  f"{'active' if name in plans.active else 'inactive'} [{tiers}]"
                  + (f" cap {plan.cap}" if plan.cap is not None else ""))
    return 0


def _kpi(app: App, args: argparse.Namespace, clock: Any) -> int:
    now = clock()
    with Session(app.engine) as session:
        member = _member(session, args.member)
        if args.period:
            year, month = parse_month(args.period)
        else:
            local = now.astimezone(month_window(now.year, now.month, member.timezone).zone)
            year, month = local.year, local.month
        window = month_window(year, month, member.timezone)
        inputs = Inputs.load(session, app.rules, now)
        score = score_member(session, inputs, member, team_of(session, member), window)
    report = kpi_report(member, score.scorecard, window.label, app.rules.reporting_currency, score.template)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(_kpi_text(report))
    return 0


def _amount(value: Decimal | None, unit: Unit, currency: str) -> Any:
    if value is None:
        return None
    if unit is Unit.MONEY:
        return {"amount": str(round_money(value, currency)), "currency": currency}
    places = {Unit.RATIO: "0.0001", Unit.SECONDS: "0.1", Unit.DAYS: "0.01", Unit.COUNT: "1"}[unit]
    return str(value.quantize(Decimal(places), rounding=ROUND_HALF_UP))


def _ratio(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def kpi_report(member: Member, card: Any, period: str, currency: str, template: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"member": member.code, "name": member.name, "role": member.role, "period": period}
    if card is None:
        return {**base, "template": None, "score": None, "grade": None, "binding": None, "metrics": []}
    return {
        **base, "template": template.name, "score": str(card.score) if card.score is not None else None,
        "grade": card.grade, "binding": card.binding, "reporting_currency": currency,
        "metrics": [{
            "key": r.metric.key, "name": r.metric.names["en"], "unit": str(r.metric.unit),
            "lower_is_better": r.metric.lower_is_better, "weight": str(r.weight),
            "actual": _amount(r.actual, r.metric.unit, currency), "target": _amount(r.target, r.metric.unit, currency),
            "achievement": _ratio(r.achievement), "pace": _ratio(r.pace), "scored": _ratio(r.scored),
        } for r in card.results],
    }


def _kpi_text(report: dict[str, Any]) -> str:
    lines = [f"{report['name']} ({report['member']}, {report['role']}) · {report['period']}"]
    if report["template"] is None:
        return lines[0] + "\nno KPI template for this role"
    lines.append(f"template {report['template']} · score {report['score'] or '—'} · grade {report['grade'] or '—'}"
                 + ("" if report["binding"] else " · trial, not binding"))

    def show(v: Any) -> str:
        return "—" if v is None else (f"{v['amount']} {v['currency']}" if isinstance(v, dict) else v)

    def pct(v: str | None) -> str:
        return "—" if v is None else f"{(Decimal(v) * 100).quantize(Decimal('0.1'))}%"

    lines.append(f"{'metric':<28}{'weight':>7}{'actual':>20}{'target':>20}{'achieved':>10}{'pace':>9}")
    for m in report["metrics"]:
        lines.append(f"{m['name']:<28}{m['weight'] + '%':>7}{show(m['actual']):>20}{show(m['target']):>20}"
                     f"{pct(m['achievement']):>10}{pct(m['pace']):>9}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
