"""The `kpibot` argument tree: every command group's options and help in one place, which loads nothing heavy
(the group modules, with the store, scoring and the platforms, are imported only to run a command)."""

from __future__ import annotations

import argparse
from typing import Any

from bot.shop_sources import SHOP_ID_NEEDED, SHOP_PLATFORMS
from bot.shops.files import PRESETS
from scoring.languages import LANGS
from scoring.roles import Role
from storage.ingest.records import HANDLE_PLATFORMS


def build_parser() -> argparse.ArgumentParser:
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
    db.add_argument("action", choices=["upgrade", "rebuild-aggregates"],
                    help="upgrade: create or upgrade the schema; rebuild-aggregates: recompute the order sums scores "
                         "read from the orders (storage.order_sums), in one transaction")
    store = sub.add_parser("store", parents=[common], help="the shop tokens' encryption key (KPIBOT_TOKEN_KEY)")
    store.add_argument("action", choices=["new-key", "rotate-key"],
                       help="new-key: print a new key; rotate-key: encrypt every shop's tokens again with the first "
                            "key of KPIBOT_TOKEN_KEY (all or nothing)")
    backup = sub.add_parser("backup", parents=[common],
                            help="copy the SQLite store to FILE, safely while the bot runs (PostgreSQL: pg_dump -Fc)")
    backup.add_argument("file", metavar="FILE")
    backup.add_argument("--force", action="store_true", help="replace FILE if it exists")
    restore = sub.add_parser("restore", parents=[common],
                             help="replace the SQLite store with the backup FILE; stop the bot first "
                                  "(PostgreSQL: pg_restore --clean)")
    restore.add_argument("file", metavar="FILE")
    restore.add_argument("--force", action="store_true",
                         help="restore although the store looks in use (its -wal file was left by a crash)")
    _setup_parsers(sub, common)
    members = sub.add_parser("members", parents=[common], help="list members or bind platform ids")
    msub = members.add_subparsers(dest="action", required=True, metavar="ACTION")
    msub.add_parser("list", parents=[common], help="members with their platform ids")
    bind = msub.add_parser("bind", parents=[common], help="link a member's id on a chat platform")
    bind.add_argument("member", metavar="MEMBER-ID")
    bind.add_argument("--id", action="append", default=[], metavar="PLATFORM:ID", dest="ids",
                      help="the id on any platform, as its adapter names it: feishu:ou_..., wecom:...")
    bind.add_argument("--feishu", metavar="OPEN_ID", help="the same as --id feishu:OPEN_ID")
    bind.add_argument("--dingtalk", metavar="STAFF_ID", help="the same as --id dingtalk:STAFF_ID")
    imp = msub.add_parser("import", parents=[common], help="create or update members from a CSV file")
    imp.add_argument("file", metavar="FILE.csv")
    add_encoding(imp)
    trial = msub.add_parser("trial", parents=[common], help="a member's trial: scores shown but not binding")
    trial.add_argument("member", metavar="MEMBER-ID")
    trial_when = trial.add_mutually_exclusive_group(required=True)
    trial_when.add_argument("--until", metavar="YYYY-MM-DD", help="binding again from this day")
    trial_when.add_argument("--off", action="store_true", help="end the trial now")
    handle = msub.add_parser("handle", parents=[common], help="a member's account on a shop platform (host crediting)")
    handle.add_argument("member", metavar="MEMBER")
    handle.add_argument("handle", metavar="HANDLE", help="e.g. the TikTok creator username, without @")
    handle.add_argument("--platform", required=True, metavar="P", help=", ".join(HANDLE_PLATFORMS))
    handle.add_argument("--remove", action="store_true", help="take a wrong handle away instead of adding it")
    finance = msub.add_parser("finance", parents=[common], help="let a member see others' commission")
    finance.add_argument("member", metavar="MEMBER-ID")
    finance.add_argument("allowed", choices=["on", "off"])
    templates = sub.add_parser("templates", parents=[common], help="KPI templates")
    tsub = templates.add_subparsers(dest="action", required=True, metavar="ACTION")
    tsub.add_parser("list", parents=[common], help="template versions, the month each takes effect, their weights")
    tinit = tsub.add_parser("init", parents=[common], help="write the shipped templates to a TOML file to edit")
    tinit.add_argument("file", metavar="FILE.toml")
    tinit.add_argument("--force", action="store_true", help="overwrite FILE")
    tapply = tsub.add_parser("apply", parents=[common], help="validate a templates file and store it, versioned")
    tapply.add_argument("file", metavar="FILE.toml")
    tapply.add_argument("--from", dest="effective_from", metavar="YYYY-MM",
                        help="the first month scored with it (default: this month)")
    ttrial = tsub.add_parser("trial", parents=[common], help="a template's trial: its scores are not binding")
    ttrial.add_argument("name")
    ttrial.add_argument("state", choices=["on", "off"])
    targets = sub.add_parser("targets", parents=[common], help="monthly targets and country baselines")
    gsub = targets.add_subparsers(dest="action", required=True, metavar="ACTION")
    gimp = gsub.add_parser("import", parents=[common], help="set targets from a CSV or XLSX file")
    gimp.add_argument("file", metavar="FILE")
    add_encoding(gimp)
    gimp.add_argument("--force", action="store_true",
                      help="also rows of settled months (commission paid, or over): audited as target.force")
    gimp.add_argument("--zero", action="store_true", help="allow values of 0, which take a metric out of the score")
    fx = sub.add_parser("fx", parents=[common], help="exchange rates (the daily ECB job stores them too)")
    xsub = fx.add_subparsers(dest="action", required=True, metavar="ACTION")
    ximp = xsub.add_parser("import", parents=[common], help="store rates from a CSV or XLSX file: day,base,quote,rate")
    ximp.add_argument("file", metavar="FILE")
    add_encoding(ximp)
    xset = xsub.add_parser("set", parents=[common], help="store one rate: on DAY, 1 BASE = RATE QUOTE")
    xset.add_argument("day", metavar="DAY")
    xset.add_argument("base", metavar="BASE")
    xset.add_argument("quote", metavar="QUOTE")
    xset.add_argument("rate", metavar="RATE")
    xsub.add_parser("update", parents=[common],
                    help="fetch the ECB's reference rates now, as the daily job of kpibot run does ([fx])")
    xlist = xsub.add_parser("list", parents=[common],
                            help="the stored rates, newest first, and the day each currency in use converts from")
    xlist.add_argument("--base", metavar="CUR")
    xlist.add_argument("--quote", metavar="CUR")
    xlist.add_argument("--days", type=int, default=14, metavar="N", help="the last N days (default 14)")
    commission = sub.add_parser("commission", parents=[common], help="commission plans and month closing")
    csub = commission.add_subparsers(dest="action", required=True, metavar="ACTION")
    csub.add_parser("plans", parents=[common], help="the plans")
    cplan = csub.add_parser("plan", parents=[common], help="create or replace a role's plan")
    cplan.add_argument("name")
    cplan.add_argument("--role", required=True, choices=[r.value for r in Role])
    cplan.add_argument("--basis", required=True, choices=["net_gmv", "gross_profit", "new_customers"])
    cplan.add_argument("--kind", required=True, choices=["tiered", "accelerator"])
    cplan.add_argument("--currency", required=True, metavar="ISO")
    cplan.add_argument("--tier", required=True, action="append", metavar="FROM:RATE",
                       help="e.g. --tier 0:0.02 --tier 20000:0.03 (for new customers RATE is money per customer)")
    cplan.add_argument("--cap", metavar="AMOUNT")
    cplan.add_argument("--from", dest="effective_from", metavar="YYYY-MM",
                       help="the first month it pays (default: this month in the organisation's zone); earlier "
                            "months keep their plan, a paid month always")
    close = csub.add_parser("close", parents=[common], help="record a finished month's payouts")
    close.add_argument("period", metavar="YYYY-MM")
    month = sub.add_parser("month", parents=[common], help="close a finished month: commission and final scores")
    mosub = month.add_subparsers(dest="action", required=True, metavar="ACTION")
    mclose = mosub.add_parser("close", parents=[common],
                              help="close commission and freeze every member's final score of the month")
    mclose.add_argument("period", metavar="YYYY-MM")
    export = sub.add_parser("export", parents=[common], help="write the last months' scores to an XLSX workbook")
    export.add_argument("--months", type=int, default=12, metavar="N", help="the last N months (default 12)")
    export.add_argument("--out", required=True, metavar="FILE.xlsx")
    export.add_argument("--force", action="store_true", help="overwrite FILE")
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
    subscribe.add_argument("--lang", choices=list(LANGS), help="default: the team's")
    subscribe.add_argument("--finance", action="store_true", help="show members' money figures in this chat")
    subscribe.add_argument("--no-weekly", action="store_true", help="no weekly report on Mondays")
    unsubscribe = dsub.add_parser("unsubscribe", parents=[common], help="stop a subscription")
    unsubscribe.add_argument("id", type=int, metavar="ID")
    audit = sub.add_parser("audit", parents=[common], help="the audit trail: every change to scores or pay, newest "
                           "first (it cannot be changed)")
    audit.add_argument("--since", metavar="YYYY-MM-DD", help="from this day on (the organisation's zone)")
    audit.add_argument("--who", metavar="CODE", help="done by or about this member (or an actor such as cli:ana)")
    audit.add_argument("--what", metavar="WORD", help="an action (target.set), its first word (target) or an entity")
    audit.add_argument("--json", action="store_true", help="one JSON object a line, every field, details whole")
    _shop_parsers(sub, common)
    return p


def _setup_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Set-up without SQL: the organisation and its teams (bot.cli.org, bot.cli.teams)."""
    org = sub.add_parser("org", parents=[common], help="the organisation: name, reporting currency, time zone, locale")
    osub = org.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, what in (("init", "make the organisation of an empty store (default: the config's [org] values)"),
                         ("set", "change the organisation's settings")):
        o = osub.add_parser(action, parents=[common], help=what)
        o.add_argument("--name")
        o.add_argument("--currency", metavar="CUR", help="reporting currency (ISO 4217)")
        o.add_argument("--timezone", metavar="TZ", help="home IANA time zone")
        o.add_argument("--locale", metavar="L",
                       help="default language of people the bot does not know: en, zh-CN, id-ID")
        o.add_argument("--count-orders-at", choices=("paid", "shipped"),
                       help="an order counts on the day it is paid or the day it ships (every view, every month)")
        o.add_argument("--net-refunds", choices=("yes", "no"),
                       help="take refunds off GMV (yes: real fulfilled GMV; no: platform GMV)")
    osub.add_parser("show", parents=[common], help="the settings every kpibot process uses")
    teams = sub.add_parser("teams", parents=[common], help="teams: add, list, set zone, stage, leads, countries")
    tsub = teams.add_subparsers(dest="action", required=True, metavar="ACTION")
    tsub.add_parser("list", parents=[common], help="code, name, zone, stage, leads, countries")
    for action, what in (("add", "add a team"), ("set", "change a team (--country and --lead replace the lists)")):
        t = tsub.add_parser(action, parents=[common], help=what)
        t.add_argument("code", metavar="CODE", help="the team's short id, e.g. live-us")
        t.add_argument("--name", help="display name" + (" (default: the code)" if action == "add" else ""))
        t.add_argument("--timezone", metavar="TZ", help="IANA time zone" + (" (default: the organisation's)"
                                                                             if action == "add" else ""))
        t.add_argument("--stage", default="growth" if action == "add" else None, metavar="STAGE",
                       help="business stage: cold_start, growth, stable" + (" (default: growth)"
                                                                             if action == "add" else ""))
        t.add_argument("--locale", metavar="L", help="the team's language, e.g. en, zh-CN, id-ID")
        t.add_argument("--country", action="append", default=[], metavar="CC",
                       help="a country it sells in (ISO 3166 alpha-2, e.g. US); repeat or comma-separate")
        if action == "set":
            t.add_argument("--lead", action="append", default=[], metavar="MEMBER",
                           help="a member of the team who leads it; repeat for several")


def _shop_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """The shop commands' arguments; what they do is in bot.cli.shops, sync, imports and creators."""
    shops = sub.add_parser("shops", parents=[common], help="shops: add, store their API tokens, list with health")
    ssub = shops.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = ssub.add_parser("add", parents=[common], help="add a shop")
    add.add_argument("code", metavar="CODE", help="the shop's short id, e.g. tts-us")
    add.add_argument("--platform", required=True, metavar="P", help=", ".join(SHOP_PLATFORMS))
    add.add_argument("--name", help="display name (default: the code)")
    add.add_argument("--region", required=True, metavar="CC", help="country the shop sells in (ISO 3166, e.g. US)")
    add.add_argument("--currency", required=True, metavar="CUR", help="the shop's currency (ISO 4217)")
    add.add_argument("--timezone", required=True, metavar="TZ", help="the shop's IANA time zone")
    add.add_argument("--team", metavar="T", help="team code or name")
    add.add_argument("--platform-shop-id", metavar="ID",
                     help="; ".join(f"{p}: {what}" for p, what in SHOP_ID_NEEDED.items()))
    _token_options(add, required=False)
    token = ssub.add_parser("token", parents=[common], help="store a shop's API tokens (from stdin or the environment)")
    token.add_argument("code", metavar="CODE")
    _token_options(token, required=True)
    ssub.add_parser("list", parents=[common], help="shops with their sync health")

    sync = sub.add_parser("sync", parents=[common], help="fetch shop data from the platforms' APIs now")
    sync.add_argument("--shop", metavar="S", help="one shop (default: every shop with an API)")
    sync.add_argument("--since", metavar="YYYY-MM-DD", help="fetch again from this day (the shop's local day)")
    sync.add_argument("--resource", metavar="R", help="one resource, e.g. orders")
    bar = sync.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="show a progress bar (default: for backfills, on a terminal)")
    bar.add_argument("--no-progress", dest="progress", action="store_false")

    imp = sub.add_parser("import", parents=[common], help="import a seller-center export (CSV or XLSX) into a shop")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--preset", required=True, metavar="P", help=", ".join(PRESETS))
    imp.add_argument("--shop", required=True, metavar="S")
    imp.add_argument("--mapping", metavar="FILE", help="column mapping (TOML); required by temu_orders, shein_orders")
    imp.add_argument("--skip-bad-rows", action="store_true",
                     help="import the good rows and list the bad ones (default: nothing unless every row is good)")
    imp.add_argument("--date-order", type=str.lower, choices=("dmy", "mdy"),
                     help="how to read dd/dd/yyyy dates when the file's own dates do not settle it")
    add_encoding(imp)

    att = sub.add_parser("attribute", parents=[common],
                         help="credit orders to creators (affiliate data, promo codes, tracked links)")
    att.add_argument("--shop", metavar="S")
    att.add_argument("--all", action="store_true", help="every order again, not only those changed since")

    credit = sub.add_parser("credit", parents=[common], help="credit orders to hosts (own-account affiliate "
                            "orders, then live sessions)")
    credit.add_argument("--shop", metavar="S")
    credit_what = credit.add_mutually_exclusive_group()   # one question at a time: neither is silently ignored
    credit_what.add_argument("--explain", metavar="ORDER",
                             help="why this order (platform order id) is credited as it is")
    credit_what.add_argument("--unmatched", action="store_true", help="session and video handles matching no member")
    lives = sub.add_parser("lives", parents=[common], help="live sessions: the shift roster")
    lsub = lives.add_subparsers(dest="action", required=True, metavar="ACTION")
    roster = lsub.add_parser("roster", parents=[common], help="the team's shift roster")
    rsub = roster.add_subparsers(dest="roster_action", required=True, metavar="ACTION")
    rimp = rsub.add_parser("import", parents=[common], help="who was on air: a CSV/XLSX of shop, member, start, end")
    rimp.add_argument("file", metavar="FILE")
    add_encoding(rimp)
    products = sub.add_parser("products", parents=[common], help="the catalogue: cost, launch date, selector, stock")
    psub = products.add_subparsers(dest="action", required=True, metavar="ACTION")
    pimp = psub.add_parser("import", parents=[common], help="a CSV/XLSX of shop, product, sku, name, unit_cost, "
                           "currency, launch_date, selector, stock, units_received")
    pimp.add_argument("file", metavar="FILE")
    add_encoding(pimp)
    plist = psub.add_parser("list", parents=[common], help="the products as stored: SKUs, cost, launch date, "
                            "selector, latest stock and whether an import or a sync stored it")
    plist.add_argument("--shop", metavar="CODE")
    creators = sub.add_parser("creators", parents=[common], help="creators (affiliates)")
    csub = creators.add_subparsers(dest="action", required=True, metavar="ACTION")
    own = csub.add_parser("own-buyer", parents=[common],
                          help="a creator's own buyer id: their purchases through their code or link are flagged")
    own.add_argument("creator", metavar="CREATOR", help="handle (without @) or name")
    own.add_argument("buyer_id", metavar="BUYER_ID", help="the platform's buyer id of the creator's own account")
    own.add_argument("--platform", metavar="P", help="the buyer id's platform (default: the creator's)")


def add_encoding(parser: argparse.ArgumentParser) -> None:
    """`--encoding ENC` of every file import (the one reader, storage.tabular, takes it): for a CSV that is neither
    UTF-8, UTF-16 (by its BOM) nor GB18030, e.g. cp1252 from Excel on a Western Windows."""
    parser.add_argument("--encoding", metavar="ENC",
                        help="the CSV's encoding, e.g. gb18030 or cp1252 (default: by its BOM, else UTF-8, "
                             "else GB18030)")


def _token_options(parser: argparse.ArgumentParser, required: bool) -> None:
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--tokens-stdin", action="store_true",
                       help="read the tokens from stdin: JSON, key=value lines, or the one token alone")
    group.add_argument("--tokens-env", metavar="VAR", help="read the tokens from this environment variable")
