# The bot, its workers and the CLI in one image: `docker run … newsdigest run` (or `worker`, `process`, …).
# tests/test_image.py installs the package as this file does and runs it, since no Docker engine runs in CI.

FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /venv
# The dependencies first, in a layer of their own: an edit of the code does not install them again.
COPY pyproject.toml ./
RUN /venv/bin/python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && /venv/bin/pip install --no-cache-dir -r requirements.txt
COPY README.md LICENSE ./
COPY bot bot
COPY sources sources
COPY storage storage
COPY summarizer summarizer
COPY search search
COPY digest digest
COPY meaning meaning
RUN /venv/bin/pip install --no-cache-dir --no-deps .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 newsbot && mkdir /data && chown newsbot /data
COPY --from=build /venv /venv
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DATABASE_PATH=/data/newsbot.sqlite3 \
    METRICS_LISTEN=0.0.0.0:9108
USER newsbot
WORKDIR /data
VOLUME /data
EXPOSE 9108
# /healthz answers 200 while the database does (bot/metrics_server.py).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=4)"]
ENTRYPOINT ["newsbot"]
CMD ["run"]
