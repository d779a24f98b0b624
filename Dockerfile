# kpibot: the KPI chat bot, as an image. `docker build -t kpibot .`, then `docker compose up` (compose.yaml) or
# `docker run --rm -it kpibot demo`. The process runs as the unprivileged user kpibot in /var/lib/kpibot, where a
# SQLite store and the console's chart PNGs go when no PostgreSQL URL is given (KPIBOT_STORE_URL).

# --- build: one wheel of kpibot and wheels of every dependency, so the runtime image has no compiler or cache ---
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot bot
COPY commands commands
COPY services services
COPY cards cards
COPY scoring scoring
COPY storage storage
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# --- runtime ---------------------------------------------------------------------------------------------------
FROM python:3.11-slim
# Chart font: the Chinese glyphs come from Noto Sans CJK SC inside the mplfonts wheel (a dependency, see
# cards/charts.py _font_path), so no system font package is needed. matplotlib wants a writable cache directory.
# KPIBOT_OPS_PORT: the [ops] port that serves /healthz, /readyz and /metrics (the HEALTHCHECK asks it on
# 127.0.0.1, which answers whether [ops] host is 127.0.0.1 or 0.0.0.0; compose's kpibot.toml sets 0.0.0.0 so that a
# Prometheus container can reach /metrics).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    KPIBOT_OPS_PORT=9464
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/kpibot --create-home \
        --shell /usr/sbin/nologin kpibot \
    && chmod 0700 /var/lib/kpibot
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels kpibot && rm -rf /wheels
USER kpibot
WORKDIR /var/lib/kpibot
VOLUME ["/var/lib/kpibot"]
EXPOSE 9464
# alive = /healthz answers 200 (only `kpibot run` serves it; `demo` and one-off commands need no health check)
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ['KPIBOT_OPS_PORT'], timeout=4)" || exit 1
# SIGTERM drains the answers in flight within 25 s: give `docker stop` 30 (compose.yaml stop_grace_period)
STOPSIGNAL SIGTERM
ENTRYPOINT ["kpibot"]
CMD ["run"]
