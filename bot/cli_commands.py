"""What the `kpibot` commands do (the shop commands: bot.cli_shops, imported for them only). bot.cli reads the
arguments and the configuration, then imports this module and calls `run`."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.app import build_services, clock_from_env, seed_demo_if_empty
from bot.config import Config
from bot.dispatch import Dispatcher
from bot.platforms.console import Console
from bot.usage import UsageError
from cards.kpi_report import kpi_report, kpi_text
from scoring.commission import Basis, Plan, PlanKind, Tier
from scoring.money import exponent, from_minor
from scoring.periods import month_window, parse_month
from scoring.sendtime import parse_hhmm
from services.commission import close_month
from services.container import Services
from services.scorecards import Inputs, score_member
from storage.commission import load_plans, save_plan
from storage.demo import has_demo
from storage.identity import IdentityTaken, bind_identity, identities
from storage.member_import import ImportProblem, import_members
from storage.migrate import upgrade
from storage.models import DigestSubscription, KpiTemplate, Member, Organisation, Team
from storage.queries import active_members, find_team, load_templates, member_by_code, team_of, teams
from storage.target_import import import_targets


def run(args: argparse.Namespace, config: Config) -> int:
    """Do what the command line asks; the exit code."""
    if args.command == "db":
        from storage.engine import make_engine

        engine = make_engine(config.store.url.get_secret_value())
        try:
            before, after = upgrade(engine)
        finally:
            engine.dispose()
        print(f"schema {'created' if before is None else 'upgraded from ' + before} -> {after}"
              if before != after else f"schema is current ({after})")
        return 0
    clock = clock_from_env()
    services = build_services(config)
    try:
        return _command(services, args, config, clock)
    finally:
        services.engine.dispose()   # connections closed now, not whenever the engine is collected (main may run again)


def _command(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    if args.command == "seed-demo":
        with Session(services.engine) as session:
            if has_demo(session):
                print("the demo organisation is already in the store")
                return 0
        if not seed_demo_if_empty(services, clock()):
            raise UsageError(f"the store at {services.engine.url} already holds an organisation; the demo goes only "
                             "into an empty store")
        print("seeded the demo organisation")
        return 0
    if args.command == "members":
        return _members(services, args, config)
    if args.command == "digest":
        return _digest(services, args)
    if args.command == "kpi":
        return _kpi(services, args, clock)
    if args.command == "templates":
        return _templates(services, args)
    if args.command == "targets":
        return _targets(services, args)
    if args.command == "commission":
        return _commission(services, args, clock)
    if args.command in ("shops", "sync", "import", "attribute", "creators"):
        from bot import cli_shops

        return cli_shops.run(services, args, config, clock)
    dispatcher = Dispatcher(services, clock)
    console = Console(dispatcher, Path(config.charts.dir), sys.stdout)
    if args.command == "chat":
        seed_demo_if_empty(services, clock())
        _card, paths = console.exchange(args.user, args.text)
        for path in paths.values():
            print(f"chart: {Path(path).resolve()}")
        return 0
    if args.command == "demo":
        if seed_demo_if_empty(services, clock()):
            print("Seeded the demo organisation (members host1, host2, host3, buyer1, operator1, selector1, "
                  "lead1, lead2, manager1, admin1).")
        console.repl("host1")
        return 0
    if args.command == "run":
        return _serve(services, config, console, dispatcher)
    raise UsageError(f"unknown command {args.command}")


def _serve(services: Services, config: Config, console: Console, dispatcher: Dispatcher) -> int:
    """The long-running process: every configured chat platform at once until SIGTERM or Ctrl-C; the console
    when none is configured. If any connection ends for good, the process stops and exits non-zero."""
    from bot.scheduler import start_scheduler, stop_scheduler  # APScheduler: for this process only

    adapters: list[Any] = []
    if config.feishu is not None:
        from bot.platforms.feishu import FeishuAdapter

        adapters.append(FeishuAdapter(config.feishu, dispatcher, services.engine))
    if config.dingtalk is not None:
        from bot.platforms.dingtalk import DingTalkAdapter

        adapters.append(DingTalkAdapter(config.dingtalk, dispatcher, services.engine))
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
    scheduler = start_scheduler(services, {a.platform: a for a in started}, dispatcher.clock,
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


def _digest(services: Services, args: argparse.Namespace) -> int:
    with Session(services.engine) as session:
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


def _members(services: Services, args: argparse.Namespace, config: Config) -> int:
    with Session(services.engine) as session:
        if args.action == "import":
            try:
                result = import_members(session, Path(args.file), services.org_timezone, services.org_locale,
                                        config.org.name)
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
                print(f"{m.code:<12} {m.role:<9} {m.name:<24} {_bindings(session, m)}")
            return 0
        member = _member(session, args.member)
        if not args.feishu and not args.dingtalk:
            raise UsageError("give --feishu OPEN_ID and/or --dingtalk STAFF_ID")
        for platform, user_id in (("feishu", args.feishu), ("dingtalk", args.dingtalk)):
            if user_id:
                try:
                    bind_identity(session, member, platform, user_id)
                except IdentityTaken as exc:
                    raise UsageError(str(exc)) from None
        session.commit()
        print(f"bound {member.code}: {_bindings(session, member)}")
    return 0


def _bindings(session: Session, member: Member) -> str:
    ids = identities(session, member.id)
    return f"feishu={ids.get('feishu') or '-'} dingtalk={ids.get('dingtalk') or '-'}"


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


def _templates(services: Services, args: argparse.Namespace) -> int:
    with Session(services.engine) as session:
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


def _targets(services: Services, args: argparse.Namespace) -> int:
    with Session(services.engine) as session:
        org = _organisation(session)
        try:
            result = import_targets(session, Path(args.file), org.id or 0, None, services.rules.reporting_currency)
        except ImportProblem as exc:
            raise UsageError(f"nothing imported: {exc}") from None
        session.commit()
    print(f"imported {args.file}: {result.targets} targets, {result.baselines} country baselines")
    return 0


def _commission(services: Services, args: argparse.Namespace, clock: Any) -> int:
    with Session(services.engine) as session:
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
            closing = close_month(session, Inputs.load(session, services.rules, clock()), year, month)
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


def _kpi(services: Services, args: argparse.Namespace, clock: Any) -> int:
    now = clock()
    with Session(services.engine) as session:
        member = _member(session, args.member)
        if args.period:
            year, month = parse_month(args.period)
        else:
            local = now.astimezone(month_window(now.year, now.month, member.timezone).zone)
            year, month = local.year, local.month
        window = month_window(year, month, member.timezone)
        inputs = Inputs.load(session, services.rules, now)
        score = score_member(session, inputs, member, team_of(session, member), window)
    report = kpi_report(member, score.scorecard, window.label, services.rules.reporting_currency, score.template)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(kpi_text(report))
    return 0
