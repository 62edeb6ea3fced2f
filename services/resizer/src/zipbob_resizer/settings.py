"""Resizer configuration: the platform base plus imaging, S3 and result delivery."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from zipbob_platform.event_auth import EventAuthSettings
from zipbob_platform.sections import RabbitSettings, S3Settings, Section
from zipbob_platform.settings import ServiceSettings, load_settings

__all__ = [
    "ImagingSettings",
    "RabbitSettings",
    "ResizerSettings",
    "ResultSettings",
    "S3Settings",
    "VariantSettings",
    "load_resizer_settings",
]


class VariantSettings(Section):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    max_width: int = Field(ge=1, le=10_000)
    max_height: int = Field(ge=1, le=10_000)


class ImagingSettings(Section):
    variants: list[VariantSettings] = Field(
        default_factory=lambda: [
            VariantSettings(name="thumbnail", max_width=200, max_height=200),
            VariantSettings(name="medium", max_width=800, max_height=800),
            VariantSettings(name="large", max_width=1600, max_height=1600),
        ],
        min_length=1,
    )
    quality: int = Field(85, ge=1, le=100)
    max_pixels: int = Field(120_000_000, ge=1)
    max_bytes: int = Field(50 * 1024 * 1024, ge=1)


class ResultSettings(Section):
    # reply: the result event is the HTTP reply (Knative sends it to the Broker);
    # rabbitmq: published to the exchange with publisher confirms; http: POSTed to http_sink.
    delivery: Literal["reply", "rabbitmq", "http"] = "rabbitmq"
    http_sink: str = "http://127.0.0.1:8081/internal/events"
    http_timeout_seconds: float = Field(10.0, gt=0)


class ResizerSettings(ServiceSettings):
    imaging: ImagingSettings = ImagingSettings()
    s3: S3Settings = S3Settings()
    results: ResultSettings = ResultSettings()
    rabbitmq: RabbitSettings = RabbitSettings()
    event_auth: EventAuthSettings = EventAuthSettings()  # who may POST / (and what we send)

    def unused_sections(self) -> dict[str, str]:
        if self.results.delivery == "rabbitmq":
            return {}
        return {"rabbitmq": f"results.delivery is {self.results.delivery}"}


def load_resizer_settings(
    profile: str | None = None, *, require: Sequence[str] = ()
) -> ResizerSettings:
    return load_settings("resizer", ResizerSettings, profile=profile, require=require)
