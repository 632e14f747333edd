"""User-style credentials, to be type-checked (mypy --strict): what an app on a secured
cluster writes, and what it reads back."""

from __future__ import annotations

import ssl

from rxstreams import App, Credentials, SASLCredentials, Settings, SSLCredentials

context = ssl.create_default_context()
sasl = SASLCredentials(
    username="api-key", password="api-secret", mechanism="SCRAM-SHA-512", ssl_context=context
)
tls_from_files = SSLCredentials(cafile="ca.pem", certfile="client.pem", keyfile="client.key")
mutual = SASLCredentials(username="u", password="p", ssl_context=tls_from_files)

app = App("typing-credentials", broker="kafka://broker:9092", broker_credentials=sasl)
settings = Settings(id="typing-settings", broker_credentials=context)

protocol: str = sasl.protocol
verified: ssl.SSLContext | None = sasl.ssl_context
given: Credentials | ssl.SSLContext | None = app.conf.broker_credentials
always: ssl.SSLContext = tls_from_files.ssl_context
