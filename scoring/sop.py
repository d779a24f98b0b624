"""The SOP library: what each role does daily (a short playbook) and the typical values of its metrics by
business stage and, where the market changes them, by region; shipped with kpibot so that a new organisation
starts with something to aim at. A member in trial with no target of their own for a metric is measured
against its typical value (services.scorecards decides when; `typical` here only looks it up).

Where the numbers come from: every value below is a STARTING ASSUMPTION, written down by the kpibot team from
how live-commerce teams commonly describe a healthy month; none is a published industry statistic, and each says
so in `source`. Replace them with your own after the first month of real data. Money figures are left out on
purpose: GMV, CPC and the like depend on the shop's market, category and currency, so the team sets them as
targets (`/target set`).

Regions: a small set with a default. Only ratios whose level differs by market have regional values
(interaction rate, ROI, refund rate); every other metric has one value for all regions. The regional values are
starting assumptions too: the direction is what teams report (EU buyers may withdraw from a distance sale within
14 days under Directive 2011/83/EU, so refunds run higher there; ad auctions cost more in the US and EU, so ROI
runs lower), the numbers are not measured.

Pure data, no I/O: cards/sop_card.py shows it, commands/sop.py answers `/sop [role]`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from scoring.roles import Role
from scoring.templates import Stage

ASSUMPTION = "starting assumption"


class Region(Enum):
    """Where a team sells, as far as typical values go. OTHER is the default: China, the rest of the world, a
    team selling in several regions at once, or one whose countries are not set."""

    US = "us"
    UK_EU = "uk_eu"
    SEA = "sea"
    OTHER = "other"


EU = frozenset({"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
                "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"})
COUNTRY_REGIONS: dict[str, Region] = {
    "US": Region.US, "GB": Region.UK_EU, **dict.fromkeys(EU, Region.UK_EU),
    **dict.fromkeys(("ID", "MY", "TH", "VN", "PH", "SG"), Region.SEA),
}


def region_of(countries: Iterable[str]) -> Region:
    """The one region all `countries` (ISO 3166 alpha-2) are in; OTHER when they span several or are none."""
    regions = {COUNTRY_REGIONS.get(c.upper(), Region.OTHER) for c in countries}
    return regions.pop() if len(regions) == 1 else Region.OTHER


Stages = tuple[tuple[Stage, Decimal], ...]


@dataclass(frozen=True)
class Benchmark:
    """A metric's typical value for a role in each business stage (the metric's own unit: a ratio is 0.05 for
    5 %, days are days, seconds are seconds); `by_region` replaces `by_stage` in the regions it names."""

    metric: str                                  # a key of scoring.metrics.CATALOG
    by_stage: Stages                             # cold start, growth, stable; every region not in by_region
    by_region: tuple[tuple[Region, Stages], ...] = ()
    source: str = ASSUMPTION

    def stages(self, region: Region) -> Stages:
        return dict(self.by_region).get(region, self.by_stage)


@dataclass(frozen=True)
class Typical:
    """A metric's typical value for one role, stage and region, and where it comes from."""

    metric: str
    value: Decimal
    source: str


@dataclass(frozen=True)
class Playbook:
    """A role's day, step by step, in every language cards.i18n speaks."""

    steps: dict[str, tuple[str, ...]]           # language -> steps
    benchmarks: tuple[Benchmark, ...]


def _stages(cold: str, growth: str, stable: str) -> Stages:
    return ((Stage.COLD_START, Decimal(cold)), (Stage.GROWTH, Decimal(growth)), (Stage.STABLE, Decimal(stable)))


# refunds by region, shared by operators and leads: higher where buyers may withdraw (EU, UK) or return freely (US)
_REFUNDS = ((Region.US, _stages("0.10", "0.08", "0.07")), (Region.UK_EU, _stages("0.12", "0.10", "0.08")),
            (Region.SEA, _stages("0.10", "0.08", "0.06")))


LIBRARY: dict[Role, Playbook] = {
    Role.HOST: Playbook(
        steps={
            "en": ("Before going live: check the run sheet, stock of the hero products and the live-room set.",
                   "On air: greet newcomers, show each product in hand, repeat the offer every 5 to 10 minutes.",
                   "Ask for follows and questions; answer comments by name.",
                   "After the session: note what sold and what viewers asked, for tomorrow's run sheet."),
            "zh": ("开播前：核对脚本、主推品库存和直播间布景。",
                   "直播中：欢迎新进观众，手持展示每个商品，每 5–10 分钟重复一次福利。",
                   "引导关注和提问，点名回复评论。",
                   "下播后：记录卖得好的商品和观众的问题，用于明天的脚本。"),
            "id": ("Sebelum live: cek rundown, stok produk andalan, dan set ruang live.",
                   "Saat live: sapa penonton baru, tunjukkan setiap produk di tangan, ulangi promo setiap 5–10 menit.",
                   "Ajak penonton follow dan bertanya; balas komentar dengan menyebut nama.",
                   "Setelah live: catat produk yang laku dan pertanyaan penonton untuk rundown besok."),
        },
        benchmarks=(Benchmark("live_sessions", _stages("20", "24", "26")),
                    Benchmark("avg_watch_time", _stages("30", "45", "60")),
                    Benchmark("interaction_rate", _stages("0.03", "0.05", "0.06"),
                              ((Region.US, _stages("0.02", "0.03", "0.04")),
                               (Region.UK_EU, _stages("0.02", "0.03", "0.04")),
                               (Region.SEA, _stages("0.04", "0.06", "0.08")))),
                    Benchmark("new_followers", _stages("300", "1000", "2000"))),
    ),
    Role.AD_BUYER: Playbook(
        steps={
            "en": ("Morning: read yesterday's spend, ROI and cost per visitor by campaign.",
                   "Shift budget to the campaigns above target ROI; pause those below it for two days running.",
                   "Test one new audience or creative a day, with a small fixed budget.",
                   "During lives: watch the room's traffic and raise bids while conversion holds."),
            "zh": ("早上：查看昨日各计划的消耗、ROI 和进房成本。",
                   "把预算移向 ROI 高于目标的计划；连续两天低于目标的暂停。",
                   "每天用固定小预算测试一个新人群或新素材。",
                   "直播时：盯住直播间流量，转化稳定时提高出价。"),
            "id": ("Pagi: baca spend, ROI, dan biaya per pengunjung kemarin per kampanye.",
                   "Pindahkan budget ke kampanye di atas target ROI; hentikan yang di bawahnya dua hari "
                   "berturut-turut.",
                   "Uji satu audiens atau materi iklan baru setiap hari dengan budget kecil yang tetap.",
                   "Saat live: pantau trafik ruang live dan naikkan bid selama konversi stabil."),
        },
        benchmarks=(Benchmark("roi", _stages("1.5", "2.5", "3.0"),
                              ((Region.US, _stages("1.2", "2.0", "2.5")),
                               (Region.UK_EU, _stages("1.2", "2.0", "2.5")))),),
    ),
    Role.OPERATOR: Playbook(
        steps={
            "en": ("Check yesterday's orders, refunds and their reasons; answer open tickets first.",
                   "Keep product pages, prices and promotions in line with the week's plan.",
                   "Watch stock of the fast movers and reorder before it runs out.",
                   "Review new products' sell-through weekly and clear what does not move."),
            "zh": ("查看昨日订单、退款及原因；优先处理未完结的工单。",
                   "按本周计划维护商品页、价格和活动。",
                   "关注畅销品库存，断货前补货。",
                   "每周复盘新品动销率，清理滞销品。"),
            "id": ("Cek pesanan, refund, dan alasannya kemarin; jawab tiket yang masih terbuka lebih dulu.",
                   "Jaga halaman produk, harga, dan promo sesuai rencana minggu ini.",
                   "Pantau stok produk terlaris dan pesan ulang sebelum habis.",
                   "Tinjau sell-through produk baru setiap minggu dan habiskan yang tidak bergerak."),
        },
        benchmarks=(Benchmark("refund_rate", _stages("0.08", "0.06", "0.05"), _REFUNDS),
                    Benchmark("new_product_sell_through", _stages("0.30", "0.40", "0.50")),
                    Benchmark("inventory_turnover_days", _stages("60", "45", "30"))),
    ),
    Role.SELECTOR: Playbook(
        steps={
            "en": ("Scan the platform's trending lists and competitors' lives for rising products.",
                   "Shortlist samples with a clear price gap and margin; ask suppliers for lead times.",
                   "Test new SKUs in one live or video before ordering stock.",
                   "Each week, keep the hits and drop what did not sell."),
            "zh": ("浏览平台热榜和竞品直播间，寻找上升中的商品。",
                   "筛选有价格优势和利润空间的样品，向供应商确认交期。",
                   "先在一场直播或一条视频里测款，再备货。",
                   "每周保留爆款，淘汰没卖动的。"),
            "id": ("Pantau daftar tren platform dan live kompetitor untuk produk yang sedang naik.",
                   "Pilih sampel dengan selisih harga dan margin yang jelas; tanyakan lead time ke pemasok.",
                   "Uji SKU baru di satu live atau video sebelum menyetok.",
                   "Setiap minggu, pertahankan yang laris dan buang yang tidak terjual."),
        },
        benchmarks=(Benchmark("new_sku_hit_rate", _stages("0.10", "0.15", "0.20")),),
    ),
    Role.LEAD: Playbook(
        steps={
            "en": ("Read the daily digest: who is behind pace, and why.",
                   "Talk to each lagging member the same day; agree one change for the next session.",
                   "Keep the shift roster and the week's live plan up to date.",
                   "Weekly: review targets against pace and share them out again if needed."),
            "zh": ("阅读每日日报：谁进度落后，原因是什么。",
                   "当天与每位落后的成员沟通，约定下一场要改进的一件事。",
                   "及时更新排班表和本周直播计划。",
                   "每周：对照进度复盘目标，必要时重新分解。"),
            "id": ("Baca ringkasan harian: siapa yang tertinggal dari laju, dan mengapa.",
                   "Bicara dengan setiap anggota yang tertinggal di hari yang sama; sepakati satu perubahan untuk "
                   "sesi berikutnya.",
                   "Perbarui jadwal shift dan rencana live minggu ini.",
                   "Mingguan: tinjau target terhadap laju dan bagi ulang bila perlu."),
        },
        benchmarks=(Benchmark("refund_rate", _stages("0.08", "0.06", "0.05"), _REFUNDS),
                    Benchmark("new_followers", _stages("1000", "3000", "6000"))),
    ),
}


def typical(role: Role, stage: Stage, region: Region, metric: str) -> Typical | None:
    """The typical value of `metric` for `role` in `stage` and `region`; None when the library has none."""
    book = LIBRARY.get(role)
    bench = next((b for b in book.benchmarks if b.metric == metric), None) if book else None
    if bench is None:
        return None
    return Typical(metric, dict(bench.stages(region))[stage], bench.source)
