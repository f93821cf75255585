# One image for every service; the command picks the service.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
# Runtime packages only, every one pinned with its hashes (requirements.lock, `make lock`).
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY services ./services
RUN pip install --no-cache-dir --no-deps --no-build-isolation .
USER nobody
CMD ["python", "-m", "services.gateway"]
