# The bot, its workers and the CLI in one image: `docker run … newsbot-image run` (or `worker`, `process`, …).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot bot
COPY storage storage
COPY summarizer summarizer
# The CPU build of the pinned torch: PyPI's default wheel for Linux carries CUDA (gigabytes).
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu . \
    && useradd --create-home newsbot && mkdir /data && chown newsbot /data
USER newsbot
ENV DATABASE_PATH=/data/newsbot.sqlite3
VOLUME /data
ENTRYPOINT ["newsbot"]
CMD ["run"]
